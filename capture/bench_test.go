package capture

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
)

// BenchmarkRotatorWrite measures the write path of a tap (pcap records
// through the buffered writer to a staged file) without the NIC.
func BenchmarkRotatorWrite(b *testing.B) {
	dir := b.TempDir()
	r := &rotator{id: "bench", stagingDir: filepath.Join(dir, "s"), dropDir: filepath.Join(dir, "d"),
		link: layers.LinkTypeEthernet, snaplen: 65535}
	data := make([]byte, 600)
	start := time.Now()
	ci := captureInfo(start, len(data), len(data))
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for range b.N {
		if _, err := r.write(start, ci, data); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := r.finish(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkHeaderLen measures payload stripping's header walk.
func BenchmarkHeaderLen(b *testing.B) {
	pkt := buildPacket(b, &layers.Ethernet{SrcMAC: make([]byte, 6), DstMAC: make([]byte, 6),
		EthernetType: layers.EthernetTypeIPv4},
		&layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolTCP,
			SrcIP: []byte{1, 1, 1, 1}, DstIP: []byte{2, 2, 2, 2}},
		&layers.TCP{SrcPort: 1, DstPort: 2, DataOffset: 5})
	for range b.N {
		if headerLen(layers.LinkTypeEthernet, pkt) != 54 {
			b.Fatal("wrong length")
		}
	}
}

// BenchmarkLiveUDP sends b.N UDP datagrams over the veth pair into a
// running tap and reports how many the files kept.
func BenchmarkLiveUDP(b *testing.B) {
	p := newVethPair(b)
	m, _ := testManager(b, p.capPath())
	if _, err := m.Create(Tap{ID: "bench", NIC: p.capIf, Interval: time.Hour, Filter: "udp"}, true); err != nil {
		b.Fatal(err)
	}
	time.Sleep(400 * time.Millisecond)
	b.ResetTimer()
	p.sendUDP(b, 6000, b.N, 200)
	b.StopTimer()
	st, err := m.Stop("bench")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(st.Stats.Packets)/float64(b.N)*100, "%kept")
	b.ReportMetric(float64(st.Stats.KernelDrops), "kdrops")
}
