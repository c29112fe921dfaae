//go:build !cgo || nopcap

package bpf

import (
	"fmt"

	"github.com/gopacket/gopacket/layers"
	xbpf "golang.org/x/net/bpf"
)

// CompilerAvailable reports whether this binary can compile filter
// expressions (it was built with cgo and links libpcap).
const CompilerAvailable = false

// CompilerVersion names the libpcap the binary links, or says there is none.
func CompilerVersion() string { return "none (built without cgo)" }

func compile(expr string, _ layers.LinkType, _ int) ([]xbpf.RawInstruction, error) {
	return nil, fmt.Errorf("filter %q: %w", expr, ErrNoCompiler)
}
