package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// Errors that classify why a file could not be read as a capture.
var (
	// ErrNotCapture means the file starts with neither a pcap nor a pcapng magic number.
	ErrNotCapture = errors.New("not a pcap or pcapng file")

	// ErrUnsupported means the file is a capture in a version this program does not read.
	ErrUnsupported = errors.New("unsupported capture format")

	// ErrCorrupt means the capture structure (a header or a record) is damaged.
	ErrCorrupt = errors.New("corrupt capture")
)

// fileError is a problem with the capture file. Its message is the bare
// problem (the command prefixes the file name); errors.Is matches its kind.
type fileError struct {
	kind error
	msg  string
}

func (e *fileError) Error() string { return e.msg }

func (e *fileError) Unwrap() error { return e.kind }

// fileErr builds a fileError of the given kind.
func fileErr(kind error, format string, args ...any) error {
	return &fileError{kind: kind, msg: fmt.Sprintf(format, args...)}
}

// Capture magic numbers as they appear in the first four bytes, read little-endian.
const (
	magicPcapMicro   = 0xa1b2c3d4
	magicPcapNano    = 0xa1b23c4d
	magicPcapMicroBE = 0xd4c3b2a1
	magicPcapNanoBE  = 0x4d3cb2a1
	magicPcapng      = 0x0a0d0d0a
)

const (
	pcapHeaderLen = 24

	// maxRecordLen caps the captured length a pcap record may claim, whatever
	// snap length its file header declares. pcapgo allows max(snaplen, 256 KiB)
	// and reads longer records in steps, so this only bounds absurd headers.
	maxRecordLen = 16 << 20
)

// packetSource yields the packets of an open capture.
type packetSource interface {
	// next returns the next packet and the link type to decode it with. The
	// data is only valid until the following call. It returns io.EOF at the
	// clean end of the file.
	next() ([]byte, gopacket.CaptureInfo, layers.LinkType, error)

	// linkTypes lists the link types the file declares (file header or
	// interface blocks), in the order they were found.
	linkTypes() []layers.LinkType

	// interfaces is the number of capture interfaces the file declares.
	interfaces() int
}

// capture is an opened capture file: its format facts and its packets.
type capture struct {
	format      string // "pcap" or "pcapng"
	version     string // file format version, "2.4" or "1.0"
	resolution  string // timestamp resolution of a pcap file, "us" or "ns"; empty for pcapng
	compression string // "gzip" when the file was gzip-compressed
	src         packetSource
}

// openCapture detects the format of r from its magic number and reads the
// file header. Errors wrap ErrNotCapture, ErrUnsupported or ErrCorrupt.
func openCapture(r io.Reader) (*capture, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	c := &capture{}

	magic, err := peekMagic(br)
	if err != nil {
		return nil, err
	}

	if magic&0xffff == 0x8b1f {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fileErr(ErrCorrupt, "gzip header: %v", err)
		}
		br = bufio.NewReaderSize(zr, 64<<10)
		c.compression = "gzip"

		if magic, err = peekMagic(br); err != nil {
			return nil, err
		}
	}

	switch magic {
	case magicPcapMicro, magicPcapNano, magicPcapMicroBE, magicPcapNanoBE:
		return c, c.openPcap(br, magic)
	case magicPcapng:
		return c, c.openPcapng(br)
	}
	return nil, fileErr(ErrNotCapture, "not a pcap or pcapng file (magic 0x%08x)", magic)
}

// peekMagic returns the first four bytes of br, read little-endian, without consuming them.
func peekMagic(br *bufio.Reader) (uint32, error) {
	b, err := br.Peek(4)
	if len(b) == 0 && (err == io.EOF || err == nil) {
		return 0, fileErr(ErrNotCapture, "the file is empty")
	}
	if len(b) < 4 {
		if err == io.EOF {
			return 0, fileErr(ErrNotCapture, "only %d bytes, too short for a capture header", len(b))
		}
		return 0, fmt.Errorf("read magic number: %w", err)
	}
	return binary.LittleEndian.Uint32(b), nil
}

// openPcap checks the classic pcap file header itself (to name the problem
// plainly) and then hands the stream to pcapgo.
func (c *capture) openPcap(br *bufio.Reader, magic uint32) error {
	hdr, err := br.Peek(pcapHeaderLen)
	if len(hdr) < pcapHeaderLen {
		if err == nil || err == io.EOF {
			return fileErr(ErrCorrupt, "pcap file header truncated: %d of %d bytes", len(hdr), pcapHeaderLen)
		}
		return fmt.Errorf("read pcap file header: %w", err)
	}

	var order binary.ByteOrder = binary.LittleEndian
	if magic == magicPcapMicroBE || magic == magicPcapNanoBE {
		order = binary.BigEndian
	}
	major, minor := order.Uint16(hdr[4:6]), order.Uint16(hdr[6:8])
	if major != 2 || minor > 4 {
		return fileErr(ErrUnsupported, "unsupported pcap version %d.%d", major, minor)
	}

	c.format = "pcap"
	c.version = fmt.Sprintf("%d.%d", major, minor)
	c.resolution = "us"
	if magic == magicPcapNano || magic == magicPcapNanoBE {
		c.resolution = "ns"
	}

	// pcapgo reads only version 2.4. Versions 2.0 to 2.3 have the same
	// header and record layout (libpcap reads them too), so a copy of the
	// header that says 2.4 is put in front of the rest of the stream.
	var in io.Reader = br
	if minor != 4 {
		patched := make([]byte, pcapHeaderLen)
		copy(patched, hdr)
		order.PutUint16(patched[6:8], 4)
		if _, err := br.Discard(pcapHeaderLen); err != nil {
			return fmt.Errorf("read pcap file header: %w", err)
		}
		in = io.MultiReader(bytes.NewReader(patched), br)
	}

	pr, err := pcapgo.NewReader(in)
	if err != nil {
		return fileErr(ErrCorrupt, "pcap file header: %v", err)
	}
	if pr.Snaplen() > maxRecordLen {
		pr.SetSnaplen(maxRecordLen)
	}

	c.src = &pcapSource{r: pr}
	return nil
}

// openPcapng reads the first section header block through pcapgo.
func (c *capture) openPcapng(br *bufio.Reader) error {
	if err := checkSectionHeader(br); err != nil {
		return err
	}

	opts := pcapgo.NgReaderOptions{WantMixedLinkType: true}
	nr, err := pcapgo.NewNgReader(br, opts)
	if err != nil {
		return fileErr(ErrCorrupt, "pcapng section header: %v", describeReadErr(err))
	}

	c.format = "pcapng"
	c.version = "1.0"
	c.src = &pcapngSource{r: nr}
	return nil
}

// checkSectionHeader checks the framing of the first Section Header Block
// (total length, trailer, options) before pcapgo reads it. pcapgo does not
// compare a block's trailer with its header, and an option that runs past
// its block would otherwise surface as a bare "unexpected EOF".
func checkSectionHeader(br *bufio.Reader) error {
	b, _ := br.Peek(12)
	if len(b) < 12 {
		return fileErr(ErrCorrupt, "pcapng section header block truncated: %d of 12 bytes", len(b))
	}

	var order binary.ByteOrder
	switch {
	case binary.LittleEndian.Uint32(b[8:12]) == 0x1a2b3c4d:
		order = binary.LittleEndian
	case binary.BigEndian.Uint32(b[8:12]) == 0x1a2b3c4d:
		order = binary.BigEndian
	default:
		return fileErr(ErrCorrupt, "pcapng section header block: bad byte-order magic 0x%x", b[8:12])
	}

	total := int(order.Uint32(b[4:8]))
	if total < 28 || total%4 != 0 {
		return fileErr(ErrCorrupt, "pcapng section header block: bad total length %d", total)
	}
	if total > br.Size() {
		return nil // too big to look at in the buffer; pcapgo reads it in steps
	}
	b, _ = br.Peek(total)
	if len(b) < total {
		return fileErr(ErrCorrupt, "pcapng section header block: file ends inside the block (%d of %d bytes)",
			len(b), total)
	}
	if trailer := int(order.Uint32(b[total-4:])); trailer != total {
		return fileErr(ErrCorrupt,
			"pcapng section header block: total length %d in the header but %d in the trailer",
			total, trailer)
	}

	// Options run from after the section length to the trailer.
	for off, n := 24, 1; off < total-4; n++ {
		if off+4 > total-4 {
			return fileErr(ErrCorrupt, "pcapng section header block: option %d header runs past the block", n)
		}
		code, length := order.Uint16(b[off:]), int(order.Uint16(b[off+2:]))
		if code == 0 {
			break
		}
		off += 4 + (length+3)&^3
		if off > total-4 {
			return fileErr(ErrCorrupt,
				"pcapng section header block: option %d (code %d, length %d) runs past the block",
				n, code, length)
		}
	}
	return nil
}

// describeReadErr turns the bare io errors pcapgo passes through into words.
func describeReadErr(err error) error {
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return errors.New("file ends in the middle of a block")
	case errors.Is(err, pcapgo.ErrNgVersionMismatch):
		return errors.New("unsupported pcapng section version")
	}
	return err
}

// pcapSource reads the records of a classic pcap file.
type pcapSource struct {
	r       *pcapgo.Reader
	records int
}

func (s *pcapSource) next() ([]byte, gopacket.CaptureInfo, layers.LinkType, error) {
	data, ci, err := s.r.ZeroCopyReadPacketData()
	s.records++

	switch {
	case err == io.EOF && ci.CaptureLength == 0 && ci.Timestamp.IsZero():
		// No byte of a new record header: the clean end of the file.
		return nil, ci, 0, io.EOF
	case err == io.EOF, errors.Is(err, io.ErrUnexpectedEOF):
		return nil, ci, 0, fileErr(ErrCorrupt, "record %d: file ends in the middle of the record", s.records)
	case err != nil:
		return nil, ci, 0, fileErr(ErrCorrupt, "record %d: %v", s.records, err)
	}
	return data, ci, s.r.LinkType(), nil
}

func (s *pcapSource) linkTypes() []layers.LinkType { return []layers.LinkType{s.r.LinkType()} }

func (s *pcapSource) interfaces() int { return 1 }

// pcapngSource reads the packet blocks of a pcapng file. pcapgo skips block
// types it does not use (a Decryption Secrets Block among them).
type pcapngSource struct {
	r       *pcapgo.NgReader
	packets int
	links   []layers.LinkType
	maxIfs  int
	lastIfs int // interface count at the last scan of the interface list
}

func (s *pcapngSource) next() ([]byte, gopacket.CaptureInfo, layers.LinkType, error) {
	data, ci, err := s.r.ZeroCopyReadPacketData()
	s.noteInterfaces()

	if err == io.EOF {
		return nil, ci, 0, io.EOF
	}
	if err != nil {
		return nil, ci, 0, fileErr(ErrCorrupt, "after packet %d: %v", s.packets, describeReadErr(err))
	}
	s.packets++

	link, ok := layers.LinkType(0), false
	if len(ci.AncillaryData) > 0 {
		link, ok = ci.AncillaryData[0].(layers.LinkType)
	}
	if !ok {
		return nil, ci, 0, fileErr(ErrCorrupt, "packet %d: no interface link type", s.packets)
	}
	s.links = appendLinkType(s.links, link)
	return data, ci, link, nil
}

// noteInterfaces records the link types of interfaces declared so far.
// pcapgo forgets the interfaces of a section when the next one starts, so
// this runs after every read; it rescans only when the count changed.
func (s *pcapngSource) noteInterfaces() {
	n := s.r.NInterfaces()
	if n == s.lastIfs {
		return
	}
	s.lastIfs = n
	s.maxIfs = max(s.maxIfs, n)
	for i := range n {
		ifc, err := s.r.Interface(i)
		if err != nil {
			continue
		}
		s.links = appendLinkType(s.links, ifc.LinkType)
	}
}

func (s *pcapngSource) linkTypes() []layers.LinkType {
	s.noteInterfaces()
	return s.links
}

func (s *pcapngSource) interfaces() int { return s.maxIfs }

// appendLinkType appends lt to list unless it is already there.
func appendLinkType(list []layers.LinkType, lt layers.LinkType) []layers.LinkType {
	for _, have := range list {
		if have == lt {
			return list
		}
	}
	return append(list, lt)
}
