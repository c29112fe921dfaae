package capture

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// Pipeline sizes of a pcapWriter: 24 MiB a running tap. A buffer holds at
// least one record of the largest snap length (MaxSnapLen plus its
// header).
const (
	pipeBufferSize = 4 << 20
	pipeBuffers    = 6
)

// pcap file format constants (microsecond timestamps, the classic format
// tcpdump writes by default), in little-endian byte order.
const (
	pcapMagicMicros = 0xa1b2c3d4
	pcapMajor       = 2
	pcapMinor       = 4
)

// errWriterClosed is returned by a pcapWriter used after close or abort.
var errWriterClosed = errors.New("pcap writer is closed")

// pcapWriter writes one pcap file through a two-stage pipeline: the
// capture goroutine copies each record into the current buffer, and a
// writer goroutine writes full buffers to the file. Copying packets out of
// the ring and the write system calls so run on different CPUs, and a
// slow write does not stop the ring from being read until every buffer is
// full. A write error is kept and returned by the next call; the writer
// goroutine then skips the remaining buffers.
//
// The buffers belong to a bufferSet and are reused for the next file.
type pcapWriter struct {
	f    *os.File
	name string
	set  *bufferSet
	cur  []byte

	full chan []byte
	done chan struct{}
	skip atomic.Bool // set by abort: write nothing more

	mu     sync.Mutex
	err    error // the first write error
	closed bool  // only used by the capture goroutine
}

// bufferSet is the reusable memory of one tap's pipeline.
type bufferSet struct {
	free chan []byte
}

func newBufferSet() *bufferSet {
	s := &bufferSet{free: make(chan []byte, pipeBuffers)}
	for range pipeBuffers {
		s.free <- make([]byte, 0, pipeBufferSize)
	}
	return s
}

// newPcapWriter starts a pipeline onto f (named name in errors) and
// writes the file header. Every buffer of set must be free.
func newPcapWriter(f *os.File, name string, set *bufferSet, snaplen int, link layers.LinkType) *pcapWriter {
	w := &pcapWriter{
		f: f, name: name, set: set,
		cur:  <-set.free,
		full: make(chan []byte, pipeBuffers),
		done: make(chan struct{}),
	}
	go w.drain()

	var h [pcapFileHeaderLen]byte
	binary.LittleEndian.PutUint32(h[0:], pcapMagicMicros)
	binary.LittleEndian.PutUint16(h[4:], pcapMajor)
	binary.LittleEndian.PutUint16(h[6:], pcapMinor)
	binary.LittleEndian.PutUint32(h[16:], uint32(snaplen))
	binary.LittleEndian.PutUint32(h[20:], uint32(link))
	w.cur = append(w.cur, h[:]...)
	return w
}

// drain is the writer goroutine.
func (w *pcapWriter) drain() {
	defer close(w.done)
	failed := false
	for b := range w.full {
		if !failed && !w.skip.Load() && len(b) > 0 {
			if _, err := w.f.Write(b); err != nil {
				failed = true
				w.mu.Lock()
				w.err = fmt.Errorf("writing %s: %w", w.name, err)
				w.mu.Unlock()
			}
		}
		w.set.free <- b[:0]
	}
}

// writeErr returns the first write error so far.
func (w *pcapWriter) writeErr() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// writePacket appends one record. data must be at most MaxSnapLen bytes.
func (w *pcapWriter) writePacket(ci gopacket.CaptureInfo, data []byte) error {
	if w.closed {
		return errWriterClosed
	}
	need := pcapRecordHeaderLen + len(data)
	if need > pipeBufferSize {
		return fmt.Errorf("writing %s: a %d-byte packet is longer than the pipeline buffer", w.name, len(data))
	}
	if len(w.cur)+need > cap(w.cur) {
		w.full <- w.cur
		w.cur = <-w.set.free
		if err := w.writeErr(); err != nil {
			return err
		}
	}

	var h [pcapRecordHeaderLen]byte
	binary.LittleEndian.PutUint32(h[0:], uint32(ci.Timestamp.Unix()))
	binary.LittleEndian.PutUint32(h[4:], uint32(ci.Timestamp.Nanosecond()/1000))
	binary.LittleEndian.PutUint32(h[8:], uint32(len(data)))
	binary.LittleEndian.PutUint32(h[12:], uint32(max(ci.Length, len(data))))
	w.cur = append(w.cur, h[:]...)
	w.cur = append(w.cur, data...)
	return nil
}

// close writes what is buffered, waits for the writer goroutine and
// returns the first write error. It does not sync or close the file.
func (w *pcapWriter) close() error {
	if w.closed {
		return errWriterClosed
	}
	w.closed = true
	w.full <- w.cur
	w.cur = nil
	close(w.full)
	<-w.done
	return w.writeErr()
}

// abort stops the pipeline without writing what is still buffered.
func (w *pcapWriter) abort() {
	if w.closed {
		return
	}
	w.closed = true
	w.skip.Store(true)
	close(w.full)
	<-w.done
	w.set.free <- w.cur[:0]
	w.cur = nil
}
