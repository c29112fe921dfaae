package api

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestLogTail follows a service log the way `plugins logs -f` does, step
// by step, through appends, the logging process moving the file aside
// (once, and twice while the reader was behind), the file being emptied,
// deleted, and missing.
func TestLogTail(t *testing.T) {
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
	moveAside := func() {
		if err := os.Rename(path, path+".1"); err != nil {
			t.Fatal(err)
		}
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
			moveAside()
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
		{"moved aside twice while behind", func() {
			appendTo(path, "f\n")
			moveAside()
			appendTo(path, "g\n")
			moveAside()
			appendTo(path, "h\n")
		}, "f\ng\nh\n"},
		{"deleted while written to", func() {
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			os.Remove(path)
			f.WriteString("i\n")
			f.Close()
		}, "i\n"},
		{"gone", func() {}, ""},
		{"back", func() { appendTo(path, "j\n") }, "j\n"},
	}

	lt := &logTail{path: path}
	defer lt.closeAll()
	for _, st := range steps {
		st.change()
		var out bytes.Buffer
		before := 0
		if err := lt.send(&out, func() { before++ }); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if out.String() != st.want {
			t.Errorf("%s: sent %q, want %q", st.name, out.String(), st.want)
		}
		if (before > 0) != (st.want != "") {
			t.Errorf("%s: before called %d times with %q to send", st.name, before, st.want)
		}
	}
}
