package capture

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// TestFilterFileSharedCaptures runs the offline filter over the shared
// real captures: with no filter every packet is kept; with a filter only
// matching ones; with stripping no TCP or UDP payload is left.
func TestFilterFileSharedCaptures(t *testing.T) {
	if _, err := os.Stat(pcapsDir); err != nil {
		t.Skipf("shared captures not found at %s", pcapsDir)
	}
	out := t.TempDir()
	cases := []struct {
		file, filter string
		strip        bool
		check        func(t *testing.T, st Stats, pkts []pkt, link layers.LinkType)
	}{
		{"http-get.pcap", "", false, func(t *testing.T, st Stats, pkts []pkt, _ layers.LinkType) {
			if st.Read == 0 || st.Packets != st.Read {
				t.Errorf("no filter kept %d of %d", st.Packets, st.Read)
			}
		}},
		{"dns-udp.pcap", "udp port 53", false, func(t *testing.T, st Stats, pkts []pkt, link layers.LinkType) {
			if ports := udpPortsAny(link, pkts); st.Packets == 0 || ports["53"] != len(pkts) {
				t.Errorf("udp port 53 kept %d: %v", st.Packets, ports)
			}
		}},
		{"dns-udp.pcap", "tcp", false, func(t *testing.T, st Stats, pkts []pkt, _ layers.LinkType) {
			if st.Packets != 0 || len(pkts) != 0 {
				t.Errorf("tcp on a UDP capture kept %d", st.Packets)
			}
		}},
		{"http-bro-org.pcap", "tcp port 80", true, checkStripped},
		{"ipv6-tcp-smtp.pcap", "", true, checkStripped},
		{"http-vlan0.pcap", "", true, checkStripped},
		{"sll2-icmp.pcap", "icmp", false, func(t *testing.T, st Stats, pkts []pkt, link layers.LinkType) {
			if link != layers.LinkTypeLinuxSLL2 || st.Packets == 0 {
				t.Errorf("sll2: link %s, kept %d of %d", link, st.Packets, st.Read)
			}
		}},
		{"pcapng-tls-dsb.pcapng", "tcp", true, checkStripped},
		{"empty.pcap", "", false, func(t *testing.T, st Stats, pkts []pkt, _ layers.LinkType) {
			if st.Read != 0 || len(pkts) != 0 {
				t.Errorf("empty: %+v", st)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.file+"/"+c.filter, func(t *testing.T) {
			dst := filepath.Join(out, strings.ReplaceAll(c.file+c.filter, " ", "_")+".pcap")
			st, err := FilterFile(filepath.Join(pcapsDir, c.file), dst, c.filter, c.strip)
			if err != nil {
				t.Fatal(err)
			}
			pkts, link := readPcap(t, dst)
			if uint64(len(pkts)) != st.Packets {
				t.Errorf("file holds %d packets, stats say %d", len(pkts), st.Packets)
			}
			c.check(t, st, pkts, link)
		})
	}

	if _, err := FilterFile(filepath.Join(pcapsDir, "dns-udp.pcap"), filepath.Join(out, "x.pcap"), "udp prt 5", false); err == nil ||
		!strings.Contains(err.Error(), "syntax error") {
		t.Errorf("bad filter: %v", err)
	}
	if _, err := FilterFile(filepath.Join(pcapsDir, "SOURCES.md"), filepath.Join(out, "y.pcap"), "", false); err == nil {
		t.Error("a text file was accepted as a capture")
	}
	if _, err := FilterFile(filepath.Join(pcapsDir, "nope.pcap"), filepath.Join(out, "z.pcap"), "", false); err == nil {
		t.Error("a missing file was accepted")
	}
}

func checkStripped(t *testing.T, st Stats, pkts []pkt, link layers.LinkType) {
	t.Helper()
	if st.Packets == 0 {
		t.Fatalf("kept nothing of %d", st.Read)
	}
	for i, p := range pkts {
		g := gopacket.NewPacket(p.data, link, gopacket.Default)
		if tl := g.TransportLayer(); tl != nil && len(tl.LayerPayload()) != 0 {
			if _, frag := g.Layer(layers.LayerTypeIPv4).(*layers.IPv4); frag && tl.LayerType() != layers.LayerTypeTCP &&
				tl.LayerType() != layers.LayerTypeUDP {
				continue
			}
			t.Fatalf("packet %d keeps %d payload bytes after stripping", i, len(tl.LayerPayload()))
		}
		if p.ci.Length < p.ci.CaptureLength {
			t.Fatalf("packet %d: wire length %d below caplen %d", i, p.ci.Length, p.ci.CaptureLength)
		}
	}
	if st.Stripped == 0 {
		t.Errorf("nothing stripped")
	}
}

// udpPortsAny counts packets by UDP source-or-destination port 53.
func udpPortsAny(link layers.LinkType, pkts []pkt) map[string]int {
	out := map[string]int{}
	for _, p := range pkts {
		g := gopacket.NewPacket(p.data, link, gopacket.Default)
		if u, ok := g.Layer(layers.LayerTypeUDP).(*layers.UDP); ok && (u.SrcPort == 53 || u.DstPort == 53) {
			out["53"]++
			continue
		}
		out["other"]++
	}
	return out
}
