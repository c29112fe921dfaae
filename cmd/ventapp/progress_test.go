package main

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

func TestProgressPlainLines(t *testing.T) {
	var out bytes.Buffer
	p := newProgress(&out, "uploading x.tar", 1000)
	r := p.reader(strings.NewReader(strings.Repeat("a", 1000)))
	buf := make([]byte, 100)
	for {
		if _, err := r.Read(buf); err == io.EOF {
			break
		}
	}
	p.finish("done")

	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	want := []string{"uploading x.tar...", "uploading x.tar: 25%", "uploading x.tar: 50%", "uploading x.tar: 75%",
		"uploading x.tar: done"}
	if len(lines) != len(want) {
		t.Fatalf("got %q", lines)
	}
	for i := range want {
		if !strings.HasPrefix(lines[i], want[i]) {
			t.Errorf("line %d = %q, want prefix %q", i, lines[i], want[i])
		}
	}
	if strings.Contains(out.String(), "\r") || strings.Contains(out.String(), "\033") {
		t.Errorf("plain output has terminal control codes: %q", out.String())
	}
}

func TestProgressBar(t *testing.T) {
	p := &progress{label: "x", total: 200, done: 50}
	if got := p.line(8); !strings.HasPrefix(got, "x [==      ]  25% 50 B/200 B") {
		t.Errorf("bar = %q", got)
	}
	p = &progress{label: "y", done: 2048}
	if got := p.line(8); !strings.HasPrefix(got, "y 2.0 KiB") {
		t.Errorf("counter = %q", got)
	}
}
