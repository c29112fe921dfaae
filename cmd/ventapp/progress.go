package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// progress reports a long CLI step on stderr, never stdout, so --json
// output stays clean. On a terminal it redraws one line (a bar when the
// total is known, a byte count or a timer otherwise); elsewhere it writes
// a plain line when the step starts, at each quarter, and when it ends.
type progress struct {
	w     io.Writer
	tty   bool
	label string
	total int64 // 0: unknown

	mu      sync.Mutex
	detail  string // the current sub-step, see note
	done    int64
	start   time.Time
	quarter int // last quarter reported on a non-terminal
	stop    chan struct{}
	stopped chan struct{}
}

// newProgress starts reporting a step; total is the expected bytes, or 0.
func newProgress(w io.Writer, label string, total int64) *progress {
	p := &progress{w: w, tty: isTerminalWriter(w), label: label, total: total, start: time.Now(),
		stop: make(chan struct{}), stopped: make(chan struct{})}
	if !p.tty {
		fmt.Fprintf(w, "%s...\n", label)
		close(p.stopped)
		return p
	}
	go p.redraw()
	return p
}

func isTerminalWriter(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && isTerminal(f)
}

// add counts n more bytes done.
func (p *progress) add(n int64) {
	p.mu.Lock()
	p.done += n
	done, total := p.done, p.total
	q := 0
	if total > 0 {
		q = int(done * 4 / total)
	}
	report := !p.tty && q > p.quarter && q < 4
	if report {
		p.quarter = q
	}
	p.mu.Unlock()
	if report {
		fmt.Fprintf(p.w, "%s: %d%% (%s of %s)\n", p.label, q*25, humanBytes(uint64(done)), humanBytes(uint64(total)))
	}
}

// note reports a sub-step: shown after the label on a terminal, one plain
// line each elsewhere.
func (p *progress) note(s string) {
	p.mu.Lock()
	p.detail = s
	p.mu.Unlock()
	if !p.tty {
		fmt.Fprintf(p.w, "%s: %s\n", p.label, s)
	}
}

// finish ends the report with a result word such as "done" or "failed".
func (p *progress) finish(result string) {
	if p.tty {
		close(p.stop)
		<-p.stopped
		fmt.Fprintf(p.w, "\r\033[K")
	}
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	size := ""
	if done > 0 {
		size = ", " + humanBytes(uint64(done))
	}
	fmt.Fprintf(p.w, "%s: %s (%s%s)\n", p.label, result, time.Since(p.start).Round(100*time.Millisecond), size)
}

func (p *progress) redraw() {
	defer close(p.stopped)
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
		}
		fmt.Fprintf(p.w, "\r\033[K%s", p.line(40))
	}
}

// line renders the terminal line: label, bar or counter, elapsed time.
func (p *progress) line(width int) string {
	p.mu.Lock()
	done, total, detail := p.done, p.total, p.detail
	p.mu.Unlock()
	label := p.label
	if detail != "" {
		label += ": " + detail
		if len(label) > 70 {
			label = label[:67] + "..."
		}
	}
	elapsed := time.Since(p.start).Round(time.Second)
	switch {
	case total > 0:
		frac := min(float64(done)/float64(total), 1)
		n := int(frac * float64(width))
		return fmt.Sprintf("%s [%s%s] %3.0f%% %s/%s %s", label, strings.Repeat("=", n),
			strings.Repeat(" ", width-n), frac*100, humanBytes(uint64(done)), humanBytes(uint64(total)), elapsed)
	case done > 0:
		return fmt.Sprintf("%s %s %s", label, humanBytes(uint64(done)), elapsed)
	default:
		spin := `|/-\`[int(time.Since(p.start)/(250*time.Millisecond))%4]
		return fmt.Sprintf("%s %c %s", label, spin, elapsed)
	}
}

// reader counts bytes read from r.
func (p *progress) reader(r io.Reader) io.Reader { return &countingReader{r: r, p: p} }

// writer counts bytes written to w.
func (p *progress) writer(w io.Writer) io.Writer { return &countingWriter{w: w, p: p} }

type countingReader struct {
	r io.Reader
	p *progress
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.p.add(int64(n))
	return n, err
}

type countingWriter struct {
	w io.Writer
	p *progress
}

func (c *countingWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.p.add(int64(n))
	return n, err
}

// result is the word a finished step reports.
func result(err error) string {
	if err != nil {
		return "failed"
	}
	return "done"
}
