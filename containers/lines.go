package containers

import (
	"bytes"
	"strconv"
	"sync"
)

// MaxLine is the longest line, in bytes, handed to a Spec's Stdout or Stderr
// callback. The rest of a longer line is dropped and counted, and the line is
// delivered with the marker " …[truncated N bytes]" appended.
const MaxLine = 64 << 10

// markerRoom is the most bytes the truncation marker takes.
const markerRoom = len(" …[truncated ") + 20 + len(" bytes]")

// lineWriter is an io.Writer that cuts what is written into lines and calls
// fn once per line, without the newline. It holds at most max bytes of an
// unfinished line, so output of any size, with or without newlines, uses
// bounded memory. Bytes are passed through unchanged.
type lineWriter struct {
	mu      sync.Mutex
	fn      func(line []byte)
	max     int
	buf     []byte // start of the current line, at most max bytes
	dropped int64  // bytes of the current line beyond max
}

func newLineWriter(fn func(line []byte), max int) *lineWriter {
	return &lineWriter{fn: fn, max: max}
}

// Write delivers every complete line in p and keeps the unfinished tail. It
// never fails.
func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()

	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			w.add(p)
			break
		}

		// A whole line inside p needs no copy.
		if len(w.buf) == 0 && w.dropped == 0 && i <= w.max {
			w.fn(p[:i])
		} else {
			w.add(p[:i])
			w.emit()
		}
		p = p[i+1:]
	}
	return n, nil
}

// Flush delivers the unfinished last line, if there is one. It is called
// once the stream has ended.
func (w *lineWriter) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()

	if len(w.buf) > 0 || w.dropped > 0 {
		w.emit()
	}
}

// add appends b to the current line, counting what does not fit.
func (w *lineWriter) add(b []byte) {
	room := w.max - len(w.buf)
	if len(b) > room {
		w.dropped += int64(len(b) - room)
		b = b[:room]
	}
	if need := len(w.buf) + len(b); need > cap(w.buf) {
		// Grow by doubling, but never past what a cut line with its marker
		// needs, so the buffer stays near max however long the line is.
		size := min(max(2*cap(w.buf), need, 256), w.max+markerRoom)
		nb := make([]byte, len(w.buf), size)
		copy(nb, w.buf)
		w.buf = nb
	}
	w.buf = append(w.buf, b...)
}

// emit delivers the current line, with the truncation marker if bytes were
// dropped, and starts a new one.
func (w *lineWriter) emit() {
	line := w.buf
	if w.dropped > 0 {
		line = append(line, " …[truncated "...)
		line = strconv.AppendInt(line, w.dropped, 10)
		line = append(line, " bytes]"...)
	}
	w.fn(line)
	w.buf = line[:0]
	w.dropped = 0
}
