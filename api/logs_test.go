package api

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestCopyFrom follows a service log the way `plugins logs -f` does, step
// by step, through appends, the logging process moving the file aside,
// the file being emptied, and the file missing.
func TestCopyFrom(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "svc.log")
	appendTo := func(p, s string) {
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString(s)
		f.Close()
	}
	steps := []struct {
		name   string
		change func()
		want   string
	}{
		{"missing", func() {}, ""},
		{"appears", func() { appendTo(path, "a\n") }, "a\n"},
		{"nothing new", func() {}, ""},
		{"appended", func() { appendTo(path, "b\n") }, "b\n"},
		{"moved aside", func() {
			appendTo(path, "c\n")
			if err := os.Rename(path, path+".1"); err != nil {
				t.Fatal(err)
			}
			appendTo(path, "d, a longer line\n")
		}, "c\nd, a longer line\n"},
		// The logging process empties a file only once it is over 16 MiB,
		// so what it writes next is shorter than what was sent.
		{"emptied", func() {
			if err := os.Truncate(path, 0); err != nil {
				t.Fatal(err)
			}
			appendTo(path, "e\n")
		}, "e\n"},
		{"moved aside again, the old .1 replaced", func() {
			if err := os.Rename(path, path+".1"); err != nil {
				t.Fatal(err)
			}
			appendTo(path, "f\n")
		}, "f\n"},
		{"gone", func() { os.Remove(path) }, ""},
	}

	var p logPos
	for _, st := range steps {
		st.change()
		var out bytes.Buffer
		before := 0
		next, err := copyFrom(&out, path, p, func() { before++ })
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if out.String() != st.want {
			t.Errorf("%s: sent %q, want %q", st.name, out.String(), st.want)
		}
		if (before > 0) != (st.want != "") {
			t.Errorf("%s: before called %d times with %q to send", st.name, before, st.want)
		}
		p = next
	}
}
