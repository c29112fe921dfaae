package containers

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// collect returns a lineWriter with limit max and the slice its lines go to.
func collect(max int) (*lineWriter, *[]string) {
	var lines []string
	w := newLineWriter(func(l []byte) { lines = append(lines, string(l)) }, max)
	return w, &lines
}

func TestLineWriter(t *testing.T) {
	tests := []struct {
		name   string
		max    int
		chunks []string
		want   []string
	}{
		{"empty", 8, nil, nil},
		{"one line", 8, []string{"abc\n"}, []string{"abc"}},
		{"no final newline", 8, []string{"abc\nde"}, []string{"abc", "de"}},
		{"empty lines", 8, []string{"\n\na\n"}, []string{"", "", "a"}},
		{"split across writes", 8, []string{"ab", "c\nd", "e\n"}, []string{"abc", "de"}},
		{"exactly max", 4, []string{"abcd\n"}, []string{"abcd"}},
		{"one over max", 4, []string{"abcde\n"}, []string{"abcd …[truncated 1 bytes]"}},
		{"long line in pieces", 4, []string{"abc", "defg", "hij\nk\n"},
			[]string{"abcd …[truncated 6 bytes]", "k"}},
		{"long unfinished line", 4, []string{"abcdefgh"}, []string{"abcd …[truncated 4 bytes]"}},
		{"binary passes through", 8, []string{"a\x00\xff\r\n"}, []string{"a\x00\xff\r"}},
		{"after truncation resets", 2, []string{"abc\nde\n"}, []string{"ab …[truncated 1 bytes]", "de"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, got := collect(tt.max)
			for _, c := range tt.chunks {
				n, err := w.Write([]byte(c))
				if n != len(c) || err != nil {
					t.Fatalf("Write(%q) = %d, %v", c, n, err)
				}
			}
			w.Flush()
			if fmt.Sprintf("%q", *got) != fmt.Sprintf("%q", tt.want) {
				t.Errorf("lines = %q, want %q", *got, tt.want)
			}
		})
	}
}

// TestLineWriterBoundedMemory writes a 10 MB line in 32 KiB pieces, the way
// cio copies, and checks the held buffer never outgrows MaxLine plus marker.
func TestLineWriterBoundedMemory(t *testing.T) {
	w, got := collect(MaxLine)
	chunk := bytes.Repeat([]byte{'x'}, 32<<10)
	total := 0
	for total < 10<<20 {
		w.Write(chunk)
		total += len(chunk)
		if cap(w.buf) > MaxLine+markerRoom {
			t.Fatalf("buffer grew to %d bytes after %d written", cap(w.buf), total)
		}
	}
	w.Write([]byte("\nnext\n"))
	w.Flush()

	want := fmt.Sprintf(" …[truncated %d bytes]", total-MaxLine)
	if len(*got) != 2 || !strings.HasSuffix((*got)[0], want) || len((*got)[0]) != MaxLine+len(want) {
		t.Fatalf("got %d lines, first of %d bytes", len(*got), len((*got)[0]))
	}
	if (*got)[1] != "next" {
		t.Errorf("second line = %q, want next", (*got)[1])
	}
}

// FuzzLineWriter checks that any input, cut at any point, gives the same
// lines as splitting it at once, with long lines cut to max.
func FuzzLineWriter(f *testing.F) {
	f.Add([]byte("a\nbb\n\nccc"), uint8(3), uint8(2))
	f.Add([]byte("abcdefghij\n"), uint8(4), uint8(1))
	f.Add([]byte{0, '\n', 0xff}, uint8(1), uint8(0))
	f.Fuzz(func(t *testing.T, data []byte, max, cut uint8) {
		limit := int(max%16) + 1
		w, got := collect(limit)
		at := 0
		if len(data) > 0 {
			at = int(cut) % (len(data) + 1)
		}
		w.Write(data[:at])
		w.Write(data[at:])
		w.Flush()

		var want []string
		parts := strings.Split(string(data), "\n")
		if len(parts) > 0 && parts[len(parts)-1] == "" {
			parts = parts[:len(parts)-1]
		}
		for _, p := range parts {
			if len(p) > limit {
				p = fmt.Sprintf("%s …[truncated %d bytes]", p[:limit], len(p)-limit)
			}
			want = append(want, p)
		}
		if fmt.Sprintf("%q", *got) != fmt.Sprintf("%q", want) {
			t.Fatalf("lines = %q, want %q", *got, want)
		}
	})
}
