package capture

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/ventapp/ventapp/capture/bpf"
)

// ErrInput means FilterFile's input is not a capture it can read.
var ErrInput = errors.New("not a readable pcap or pcapng capture")

// packetReader is what pcapgo's two readers share.
type packetReader interface {
	ReadPacketData() ([]byte, gopacket.CaptureInfo, error)
}

// FilterFile reads the pcap or pcapng capture in, keeps the packets that
// filter matches (all of them for ""), strips their TCP and UDP payloads
// when strip is set, and writes them to out as a pcap file (microsecond
// timestamps, the input's link type). out is written under a temporary
// name beside it and renamed when complete; it must not be in. A pcapng
// input whose interfaces mix link types is refused, as one pcap file
// holds one link type.
func FilterFile(in, out string, filter string, strip bool) (Stats, error) {
	var st Stats
	if sameFile(in, out) {
		return st, fmt.Errorf("filtering %s: output %s is the input", in, out)
	}
	f, err := os.Open(in)
	if err != nil {
		return st, fmt.Errorf("filtering %s: %w", in, err)
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 1<<20)

	r, link, snap, err := openCapture(br, in)
	if err != nil {
		return st, err
	}
	prog, err := bpf.Compile(filter, link, 0)
	if err != nil {
		return st, err
	}
	if filter != "" && !prog.Runnable() {
		return st, fmt.Errorf("filter %q: %w", filter, bpf.ErrProgram)
	}

	tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".*.part")
	if err != nil {
		return st, fmt.Errorf("filtering %s: %w", in, err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	bw := bufio.NewWriterSize(tmp, 1<<20)
	w := pcapgo.NewWriter(bw)
	if err := w.WriteFileHeader(snap, link); err != nil {
		return st, fmt.Errorf("writing %s: %w", out, err)
	}

	if err := filterPackets(r, w, prog, link, strip, &st, in); err != nil {
		return st, err
	}
	if err := bw.Flush(); err != nil {
		return st, fmt.Errorf("writing %s: %w", out, err)
	}
	if err := tmp.Close(); err != nil {
		return st, fmt.Errorf("writing %s: %w", out, err)
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return st, fmt.Errorf("writing %s: %w", out, err)
	}
	st.Files, st.LastFile = 1, out
	return st, nil
}

// openCapture detects pcap or pcapng by the magic number.
func openCapture(br *bufio.Reader, name string) (packetReader, layers.LinkType, uint32, error) {
	magic, err := br.Peek(4)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("%w: %s: %v", ErrInput, name, err)
	}
	if bytes.Equal(magic, []byte{0x0a, 0x0d, 0x0d, 0x0a}) {
		ng, err := pcapgo.NewNgReader(br, pcapgo.DefaultNgReaderOptions)
		if err != nil {
			return nil, 0, 0, fmt.Errorf("%w: %s: %v", ErrInput, name, err)
		}
		for i := range ng.NInterfaces() {
			ifc, err := ng.Interface(i)
			if err == nil && ifc.LinkType != ng.LinkType() {
				return nil, 0, 0, fmt.Errorf("%w: %s: interfaces mix link types %s and %s",
					ErrInput, name, ng.LinkType(), ifc.LinkType)
			}
		}
		return &ngChecked{ng: ng, name: name}, ng.LinkType(), bpf.MaxSnapLen, nil
	}
	pr, err := pcapgo.NewReader(br)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("%w: %s: %v", ErrInput, name, err)
	}
	snap := pr.Snaplen()
	if snap == 0 || snap > bpf.MaxSnapLen {
		snap = bpf.MaxSnapLen
	}
	return pr, pr.LinkType(), snap, nil
}

// ngChecked refuses packets from a pcapng interface declared after the
// first packets with another link type.
type ngChecked struct {
	ng   *pcapgo.NgReader
	name string
}

func (c *ngChecked) ReadPacketData() ([]byte, gopacket.CaptureInfo, error) {
	data, ci, err := c.ng.ReadPacketData()
	if err != nil {
		return data, ci, err
	}
	if ifc, ierr := c.ng.Interface(ci.InterfaceIndex); ierr == nil && ifc.LinkType != c.ng.LinkType() {
		return nil, ci, fmt.Errorf("%w: %s: interface %d has link type %s, not %s",
			ErrInput, c.name, ci.InterfaceIndex, ifc.LinkType, c.ng.LinkType())
	}
	return data, ci, nil
}

func filterPackets(r packetReader, w *pcapgo.Writer, prog *bpf.Program, link layers.LinkType,
	strip bool, st *Stats, name string) error {
	for {
		data, ci, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("%w: %s: truncated after %d packets", ErrInput, name, st.Read)
		}
		if err != nil {
			return fmt.Errorf("reading %s after %d packets: %w", name, st.Read, err)
		}
		st.Read++

		keep := len(data)
		if prog.Runnable() {
			if keep, err = prog.Match(data); err != nil {
				return fmt.Errorf("%s packet %d: %w", name, st.Read, err)
			}
		}
		if keep == 0 {
			continue
		}
		data = data[:min(keep, len(data))]
		if strip {
			if n := headerLen(link, data); n < len(data) {
				data = data[:n]
				st.Stripped++
			}
		}
		if err := w.WritePacket(captureInfo(ci.Timestamp, len(data), ci.Length), data); err != nil {
			return fmt.Errorf("writing packet %d: %w", st.Read, err)
		}
		st.Packets++
		st.Bytes += uint64(len(data))
	}
}

// sameFile reports whether a and b name the same existing file.
func sameFile(a, b string) bool {
	fa, err := os.Stat(a)
	if err != nil {
		return false
	}
	fb, err := os.Stat(b)
	return err == nil && os.SameFile(fa, fb)
}
