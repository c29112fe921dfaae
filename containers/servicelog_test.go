package containers

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// closeRecorder records whether Close was called.
type closeRecorder struct{ closed bool }

func (c *closeRecorder) Close() error {
	c.closed = true
	return nil
}

func TestServiceLog(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.log")
	if err := os.WriteFile(big, bytes.Repeat([]byte("o"), maxLogBytes+1), 0o640); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name           string
		path           string
		stdout, stderr string
		wantExit       int
		want, wantOld  string // the log file and "<log>.1" after; "-": absent
	}{
		{"both streams", filepath.Join(dir, "a.log"), "out 1\nout 2\n", "err 1\n", 0, "", "-"},
		{"nothing printed", filepath.Join(dir, "empty.log"), "", "", 0, "", "-"},
		{"grown too big", big, "fresh\n", "", 0, "fresh\n", strings.Repeat("o", maxLogBytes+1)},
		{"folder missing", filepath.Join(dir, "no", "such.log"), "lost\n", "", 1, "-", "-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ready := &closeRecorder{}
			code := serviceLog(tt.path, strings.NewReader(tt.stdout), strings.NewReader(tt.stderr), ready)
			if code != tt.wantExit || !ready.closed {
				t.Errorf("exit %d, ready closed %v; want %d, true", code, ready.closed, tt.wantExit)
			}

			got := readOr(t, tt.path, "-")
			if tt.want == "" && tt.wantExit == 0 {
				// The two streams may interleave only at read boundaries.
				if len(got) != len(tt.stdout)+len(tt.stderr) || !strings.Contains(got, tt.stdout) ||
					!strings.Contains(got, tt.stderr) {
					t.Errorf("log %q, want %q and %q", got, tt.stdout, tt.stderr)
				}
			} else if got != tt.want {
				t.Errorf("log %.40q, want %.40q", got, tt.want)
			}
			if old := readOr(t, tt.path+".1", "-"); old != tt.wantOld {
				t.Errorf("%s.1: %.40q (%d bytes), want %.40q", filepath.Base(tt.path), old, len(old), tt.wantOld)
			}
		})
	}
}

// readOr returns the file's content, or missing when there is no file.
func readOr(t *testing.T, path, missing string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return missing
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// TestServiceLogRotateFails: a log that cannot be moved aside (its folder
// deleted, or read-only) is emptied instead of growing without bound.
func TestServiceLogRotateFails(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "services")
	if err := os.Mkdir(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	l, err := openLog(filepath.Join(dir, "svc.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.close()
	l.write(bytes.Repeat([]byte("o"), maxLogBytes+1))
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}

	l.write([]byte("after\n"))
	fi, err := l.f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() != int64(len("after\n")) || l.size != fi.Size() {
		t.Errorf("open log holds %d bytes (counted %d) after the cap; want only the new %d", fi.Size(), l.size, len("after\n"))
	}
}

// TestServiceLogRotatesAtLine: the file is moved aside after the last
// whole line of the write that takes it past the limit.
func TestServiceLogRotatesAtLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "svc.log")
	old := bytes.Repeat([]byte("o"), maxLogBytes-5)
	if err := os.WriteFile(path, old, 0o640); err != nil {
		t.Fatal(err)
	}
	l, err := openLog(path)
	if err != nil {
		t.Fatal(err)
	}
	l.write([]byte("abc\ndefghij\nkl"))
	l.close()

	if got := readOr(t, path+".1", "-"); got != string(old)+"abc\ndefghij\n" {
		t.Errorf("%s.1 ends %q, want it to end with the last whole line", path, got[max(0, len(got)-20):])
	}
	if got := readOr(t, path, "-"); got != "kl" {
		t.Errorf("new log %q, want the unfinished line %q", got, "kl")
	}
}

// TestOpenLogFileRefusesOthers: a FIFO or folder at the log path is an
// error at once, not a hang or a silent nothing.
func TestOpenLogFileRefusesOthers(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.log")
	if err := syscall.Mkfifo(fifo, 0o640); err != nil {
		t.Fatal(err)
	}
	folder := filepath.Join(dir, "folder.log")
	if err := os.Mkdir(folder, 0o750); err != nil {
		t.Fatal(err)
	}
	// A FIFO with a reader opens; it must still be refused.
	r, err := os.OpenFile(fifo, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()

	for _, path := range []string{fifo, folder} {
		done := make(chan error, 1)
		go func() {
			f, _, err := openLogFile(path)
			if err == nil {
				f.Close()
			}
			done <- err
		}()
		select {
		case err := <-done:
			if err == nil {
				t.Errorf("%s: opened as a log", path)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: open still blocked after 10s", path)
		}
	}
}
