package bpf

import (
	"errors"
	"strings"
	"testing"

	"github.com/gopacket/gopacket/layers"
)

// udp53 is an Ethernet/IPv4/UDP packet to port 53, 60 bytes.
var udp53 = []byte{
	0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0x08, 0x00, // ethernet
	0x45, 0, 0, 46, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, // ipv4, udp
	0x30, 0x39, 0, 53, 0, 26, 0, 0, // udp 12345 -> 53
	1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18,
}

func TestCompileAndMatch(t *testing.T) {
	if !CompilerAvailable {
		t.Skip("built without libpcap")
	}
	cases := []struct {
		expr    string
		snaplen int
		want    int
	}{
		{"udp port 53", 0, len(udp53)},
		{"udp port 53", 40, 40},
		{"tcp", 0, 0},
		{"", 20, 20},
		{"  ", 0, len(udp53)},
	}
	for _, c := range cases {
		p, err := Compile(c.expr, layers.LinkTypeEthernet, c.snaplen)
		if err != nil {
			t.Fatalf("%q: %v", c.expr, err)
		}
		n, err := p.Match(udp53)
		if err != nil {
			t.Fatal(err)
		}
		if min(n, len(udp53)) != c.want {
			t.Errorf("%q snaplen %d: keeps %d, want %d", c.expr, c.snaplen, n, c.want)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	_, err := Compile("tcp prt 80", layers.LinkTypeEthernet, 0)
	if CompilerAvailable {
		if !errors.Is(err, ErrSyntax) || !strings.Contains(err.Error(), "syntax error") ||
			!strings.Contains(err.Error(), "tcp prt 80") {
			t.Errorf("bad expression: %v", err)
		}
	} else if !errors.Is(err, ErrNoCompiler) {
		t.Errorf("without libpcap: %v", err)
	}
	if n, _ := RejectAll().Match(udp53); n != 0 {
		t.Errorf("RejectAll keeps %d", n)
	}
	if n, _ := KeepAll(0).Match(udp53); n != MaxSnapLen {
		t.Errorf("KeepAll(0) keeps %d", n)
	}
}
