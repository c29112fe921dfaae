package capture

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

func TestFileName(t *testing.T) {
	ts := time.Date(2024, 3, 9, 7, 5, 3, 999, time.FixedZone("X", 3600))
	cases := []struct {
		seq  int
		want string
	}{
		{0, "trace_lab1_2024-03-09_06_05_03.pcap"},
		{2, "trace_lab1_2024-03-09_06_05_03_2.pcap"},
	}
	for _, c := range cases {
		if got := FileName("lab1", ts, c.seq); got != c.want {
			t.Errorf("FileName(seq %d) = %q, want %q", c.seq, got, c.want)
		}
	}
}

func TestValidate(t *testing.T) {
	good := Tap{ID: "lab1", NIC: "eth1", Interval: time.Minute}
	cases := []struct {
		name string
		edit func(*Tap)
		want string // "" means valid
	}{
		{"ok", func(*Tap) {}, ""},
		{"empty id", func(t *Tap) { t.ID = "" }, `id "" is empty`},
		{"slash", func(t *Tap) { t.ID = "a/b" }, `id "a/b" contains a slash`},
		{"dotdot", func(t *Tap) { t.ID = "a..b" }, `contains ".."`},
		{"reserved", func(t *Tap) { t.ID = "nics" }, "reserved"},
		{"control", func(t *Tap) { t.ID = "a\nb" }, "control character"},
		{"no nic", func(t *Tap) { t.NIC = "" }, "nic is missing"},
		{"zero interval", func(t *Tap) { t.Interval = 0 }, "interval 0s must be more than 0"},
		{"negative interval", func(t *Tap) { t.Interval = -time.Second }, "interval -1s"},
		{"iters", func(t *Tap) { t.Iters = -1 }, "iters -1"},
		{"snaplen", func(t *Tap) { t.SnapLen = 1 << 20 }, "snaplen 1048576"},
		{"max bytes", func(t *Tap) { t.MaxFileBytes = 10 }, "max file bytes 10"},
		{"ring default", func(t *Tap) { t.RingMB = 0 }, ""},
		{"ring smallest", func(t *Tap) { t.RingMB = MinRingMB }, ""},
		{"ring too small", func(t *Tap) { t.RingMB = 1 }, "ring 1 MiB"},
		{"ring too big", func(t *Tap) { t.RingMB = 4096 }, "ring 4096 MiB"},
	}
	for _, c := range cases {
		tap := good
		c.edit(&tap)
		err := tap.Validate()
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want) || !errors.Is(err, ErrBadTap)):
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
}

// buildPacket serializes layers into an Ethernet frame.
func buildPacket(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	for _, l := range ls {
		if n, ok := l.(interface {
			SetNetworkLayerForChecksum(gopacket.NetworkLayer) error
		}); ok {
			for _, o := range ls {
				if nl, ok := o.(gopacket.NetworkLayer); ok {
					n.SetNetworkLayerForChecksum(nl)
				}
			}
		}
	}
	if err := gopacket.SerializeLayers(buf, opts, ls...); err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

func TestHeaderLen(t *testing.T) {
	eth4 := &layers.Ethernet{SrcMAC: make([]byte, 6), DstMAC: make([]byte, 6), EthernetType: layers.EthernetTypeIPv4}
	eth6 := &layers.Ethernet{SrcMAC: make([]byte, 6), DstMAC: make([]byte, 6), EthernetType: layers.EthernetTypeIPv6}
	ip4 := func(p layers.IPProtocol) *layers.IPv4 {
		return &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: p, SrcIP: []byte{10, 0, 0, 1}, DstIP: []byte{10, 0, 0, 2}}
	}
	ip6 := &layers.IPv6{Version: 6, NextHeader: layers.IPProtocolTCP, HopLimit: 64,
		SrcIP: make([]byte, 16), DstIP: make([]byte, 16)}
	tcpOpts := &layers.TCP{SrcPort: 1, DstPort: 2, DataOffset: 8, Window: 1,
		Options: []layers.TCPOption{{OptionType: layers.TCPOptionKindNop}, {OptionType: layers.TCPOptionKindNop},
			{OptionType: layers.TCPOptionKindTimestamps, OptionLength: 10, OptionData: make([]byte, 8)}}}
	payload := gopacket.Payload(strings.Repeat("p", 100))
	vlan := &layers.Dot1Q{VLANIdentifier: 7, Type: layers.EthernetTypeIPv4}
	ethVLAN := &layers.Ethernet{SrcMAC: make([]byte, 6), DstMAC: make([]byte, 6), EthernetType: layers.EthernetTypeDot1Q}
	arp := &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6,
		ProtAddressSize: 4, Operation: 1, SourceHwAddress: make([]byte, 6), SourceProtAddress: make([]byte, 4),
		DstHwAddress: make([]byte, 6), DstProtAddress: make([]byte, 4)}

	cases := []struct {
		name string
		data []byte
		want int
	}{
		{"udp4", buildPacket(t, eth4, ip4(layers.IPProtocolUDP), &layers.UDP{SrcPort: 1, DstPort: 2}, payload), 42},
		{"tcp4 options", buildPacket(t, eth4, ip4(layers.IPProtocolTCP), tcpOpts, payload), 14 + 20 + 32},
		{"tcp6", buildPacket(t, eth6, ip6, tcpOpts, payload), 14 + 40 + 32},
		{"vlan udp", buildPacket(t, ethVLAN, vlan, ip4(layers.IPProtocolUDP), &layers.UDP{}, payload), 46},
		{"icmp kept", buildPacket(t, eth4, ip4(layers.IPProtocolICMPv4),
			&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0)}, payload), 14 + 20 + 8 + 100},
		{"arp kept (padded to 60)", buildPacket(t, eth4, arp), 60},
		{"cut short", buildPacket(t, eth4, ip4(layers.IPProtocolTCP), tcpOpts)[:40], 40},
		{"empty", nil, 0},
	}
	for _, c := range cases {
		if got := headerLen(layers.LinkTypeEthernet, c.data); got != c.want {
			t.Errorf("%s: headerLen = %d, want %d (len %d)", c.name, got, c.want, len(c.data))
		}
	}
	raw := buildPacket(t, ip4(layers.IPProtocolUDP), &layers.UDP{}, payload)
	if got := headerLen(layers.LinkTypeRaw, raw); got != 28 {
		t.Errorf("raw IP udp: %d, want 28", got)
	}
}

func FuzzHeaderLen(f *testing.F) {
	f.Add(uint8(1), []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0x45, 0, 0, 0})
	f.Add(uint8(101), []byte{0x60, 0, 0, 0, 0, 0, 44, 64})
	f.Fuzz(func(t *testing.T, link uint8, data []byte) {
		for _, lt := range []layers.LinkType{layers.LinkType(link), layers.LinkTypeEthernet, layers.LinkTypeRaw,
			layers.LinkTypeLinuxSLL, layers.LinkTypeLinuxSLL2, layers.LinkTypeNull} {
			if n := headerLen(lt, data); n < 0 || n > len(data) {
				t.Fatalf("headerLen(%d) = %d for %d bytes", lt, n, len(data))
			}
		}
	})
}

// TestRotatorSizeAndNames writes through the rotator directly: size
// rotation within one second gives distinct names, and files land whole.
func TestRotatorSizeAndNames(t *testing.T) {
	dir := t.TempDir()
	r := &rotator{id: "sz", stagingDir: filepath.Join(dir, "stage"), dropDir: filepath.Join(dir, "files"),
		link: layers.LinkTypeEthernet, snaplen: 65535, maxBytes: 2048}
	start := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	data := make([]byte, 500)
	var got []delivered
	for i := range 10 {
		d, err := r.write(start, captureInfo(start.Add(time.Duration(i)*time.Millisecond), 500, 500), data)
		if err != nil {
			t.Fatal(err)
		}
		if d != nil {
			got = append(got, *d)
		}
	}
	d, err := r.finish()
	if err != nil || d == nil {
		t.Fatalf("finish: %v %v", d, err)
	}
	got = append(got, *d)
	if len(got) != 4 {
		t.Fatalf("%d files, want 4 (3 packets of 516 bytes fit in 2048)", len(got))
	}
	names := map[string]bool{}
	total := 0
	for _, d := range got {
		names[filepath.Base(d.path)] = true
		pk, _ := readPcap(t, d.path)
		total += len(pk)
		if fi, _ := os.Stat(d.path); fi.Size() > 2048 || fi.Size() != d.size {
			t.Errorf("%s: size %d (reported %d)", d.path, fi.Size(), d.size)
		}
	}
	for _, want := range []string{"trace_sz_2025-01-02_03_04_05.pcap", "trace_sz_2025-01-02_03_04_05_1.pcap",
		"trace_sz_2025-01-02_03_04_05_2.pcap", "trace_sz_2025-01-02_03_04_05_3.pcap"} {
		if !names[want] {
			t.Errorf("missing %s in %v", want, names)
		}
	}
	if total != 10 {
		t.Errorf("%d packets in files, want 10", total)
	}
	if left, _ := os.ReadDir(r.stagingDir); len(left) != 0 {
		t.Errorf("staging keeps %d files", len(left))
	}
}

// TestRotatorCrossDevice stages on /dev/shm (tmpfs) and delivers to a
// folder on another file system: the file is copied in under its name.
func TestRotatorCrossDevice(t *testing.T) {
	stage, err := os.MkdirTemp("/dev/shm", "ventcap-")
	if err != nil {
		t.Skip("no /dev/shm")
	}
	t.Cleanup(func() { os.RemoveAll(stage) })
	drop := t.TempDir()
	var a, b = statDev(stage), statDev(drop)
	if a == b {
		t.Skip("/dev/shm and the temp dir share a file system")
	}
	r := &rotator{id: "x", stagingDir: stage, dropDir: drop, link: layers.LinkTypeEthernet, snaplen: 100}
	start := time.Now()
	if _, err := r.write(start, captureInfo(start, 60, 60), make([]byte, 60)); err != nil {
		t.Fatal(err)
	}
	d, err := r.finish()
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(d.path) != drop || filepath.Base(d.path) != FileName("x", start, 0) {
		t.Errorf("delivered to %s", d.path)
	}
	if pk, _ := readPcap(t, d.path); len(pk) != 1 {
		t.Errorf("%d packets", len(pk))
	}
	if left, _ := os.ReadDir(stage); len(left) != 0 {
		t.Errorf("staging keeps %d files", len(left))
	}
}
