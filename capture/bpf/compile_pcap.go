//go:build cgo && !nopcap

package bpf

import (
	"fmt"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcap"
	xbpf "golang.org/x/net/bpf"
)

// CompilerAvailable reports whether this binary can compile filter
// expressions (it was built with cgo and links libpcap).
const CompilerAvailable = true

// CompilerVersion names the libpcap the binary links, or says there is none.
func CompilerVersion() string { return pcap.Version() }

func compile(expr string, link layers.LinkType, snaplen int) ([]xbpf.RawInstruction, error) {
	insts, err := pcap.CompileBPFFilter(link, snaplen, expr)
	if err != nil {
		return nil, fmt.Errorf("%w %q: %v", ErrSyntax, expr, err)
	}
	raw := make([]xbpf.RawInstruction, len(insts))
	for i, in := range insts {
		raw[i] = xbpf.RawInstruction{Op: in.Code, Jt: in.Jt, Jf: in.Jf, K: in.K}
	}
	return raw, nil
}
