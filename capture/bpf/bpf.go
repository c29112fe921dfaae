// Package bpf turns tcpdump filter expressions into classic BPF programs
// and runs those programs on packets held in memory.
//
// Compiling an expression needs libpcap, reached through cgo
// (github.com/gopacket/gopacket/pcap, linked with -lpcap). A binary built
// with CGO_ENABLED=0, or with the build tag "nopcap", has no compiler:
// Compile then refuses every non-empty expression with ErrNoCompiler, and
// only the empty expression (keep everything) works. Running a compiled
// program is pure Go (golang.org/x/net/bpf), as is attaching it to a
// socket, which the capture package does.
package bpf

import (
	"errors"
	"fmt"
	"strings"

	"github.com/gopacket/gopacket/layers"
	xbpf "golang.org/x/net/bpf"
)

// MaxSnapLen is the largest snap length a program may return; it is
// libpcap's own maximum.
const MaxSnapLen = 262144

var (
	// ErrNoCompiler means the binary was built without libpcap, so filter
	// expressions cannot be compiled.
	ErrNoCompiler = errors.New("filter expressions need the libpcap filter compiler, " +
		"which this ventapp binary was built without (CGO_ENABLED=0 or tag nopcap)")

	// ErrSyntax wraps libpcap's message for an expression it refused.
	ErrSyntax = errors.New("bad filter expression")

	// ErrProgram means a compiled program cannot be run in memory (it uses
	// an instruction the pure-Go machine does not implement).
	ErrProgram = errors.New("filter program not runnable")
)

// Program is one compiled filter: the raw instructions that the kernel
// accepts through SO_ATTACH_FILTER, and a machine that runs them in memory.
type Program struct {
	// Expr is the expression the program was compiled from ("" keeps all).
	Expr string
	// Raw is the program in the kernel's sock_filter layout.
	Raw []xbpf.RawInstruction

	vm *xbpf.VM
}

// Compile compiles expr for packets of the given link type, cut to snaplen
// bytes (0 or more than MaxSnapLen means MaxSnapLen). Surrounding blanks are
// ignored; an empty expression gives a program that keeps every packet. An
// expression libpcap refuses gives an error wrapping ErrSyntax with
// libpcap's message.
func Compile(expr string, link layers.LinkType, snaplen int) (*Program, error) {
	expr = strings.TrimSpace(expr)
	if snaplen <= 0 || snaplen > MaxSnapLen {
		snaplen = MaxSnapLen
	}
	if expr == "" {
		return KeepAll(snaplen), nil
	}

	raw, err := compile(expr, link, snaplen)
	if err != nil {
		return nil, err
	}
	return newProgram(expr, raw)
}

// KeepAll returns a program that keeps every packet, cut to snaplen bytes.
func KeepAll(snaplen int) *Program {
	if snaplen <= 0 || snaplen > MaxSnapLen {
		snaplen = MaxSnapLen
	}
	p, _ := newProgram("", []xbpf.RawInstruction{{Op: 0x06, K: uint32(snaplen)}}) // ret #snaplen
	return p
}

// RejectAll returns a program that keeps nothing. The capture attaches it
// while it empties a new socket, before the real filter goes on.
func RejectAll() *Program {
	p, _ := newProgram("reject all", []xbpf.RawInstruction{{Op: 0x06, K: 0}}) // ret #0
	return p
}

func newProgram(expr string, raw []xbpf.RawInstruction) (*Program, error) {
	p := &Program{Expr: expr, Raw: raw}
	insts, ok := xbpf.Disassemble(raw)
	if !ok {
		return p, nil
	}
	vm, err := xbpf.NewVM(insts)
	if err != nil {
		return p, nil
	}
	p.vm = vm
	return p, nil
}

// Runnable reports whether Match can run the program in memory.
func (p *Program) Runnable() bool { return p.vm != nil }

// Match runs the program on one packet, starting at its link-layer header,
// and returns how many leading bytes to keep: 0 means the filter refuses
// the packet. A program the pure-Go machine cannot run gives ErrProgram.
func (p *Program) Match(data []byte) (int, error) {
	if p.vm == nil {
		return 0, fmt.Errorf("%w: %q uses an instruction that only the kernel implements", ErrProgram, p.Expr)
	}
	n, err := p.vm.Run(data)
	if err != nil {
		return 0, fmt.Errorf("filter %q: %w", p.Expr, err)
	}
	return n, nil
}
