package engine

import (
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ventapp/ventapp/drop"
	"github.com/ventapp/ventapp/internal/cfgtest"
)

// newIdleEngine opens an engine that is not run and has no containerd.
func newIdleEngine(t *testing.T) *Engine {
	t.Helper()
	e, err := New(cfgtest.Idle(t), slog.New(slog.NewTextHandler(io.Discard, nil)), "test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// With the intake full and its goroutines gone, a file the watcher
// reports while the engine stops is dropped instead of blocking the
// watcher (and with it the shutdown) for ever.
func TestFileReadyWhileStopping(t *testing.T) {
	e := newIdleEngine(t)
	stop := make(chan struct{})
	e.stopped = stop
	for range cap(e.intake) {
		e.intake <- drop.File{Path: "/drop/filler"}
	}

	done := make(chan struct{})
	go func() {
		e.fileReady(drop.File{Path: "/drop/late.pcap"})
		close(done)
	}()
	close(stop)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("fileReady still blocked 10 s after the engine stopped")
	}
	if _, busy := e.inflight.Load("/drop/late.pcap"); busy {
		t.Error("the dropped file stays marked as being hashed")
	}
}

// subFile writes sub/a.pcap in the drop folder of e.
func subFile(t *testing.T, e *Engine, content string) (sub, file string) {
	t.Helper()
	sub = filepath.Join(e.cfg.Files, "sub")
	file = filepath.Join(sub, "a.pcap")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return sub, file
}

// swapForLink moves the folder dir aside and puts a link to target in its
// place.
func swapForLink(t *testing.T, dir, target string) {
	t.Helper()
	if err := os.Rename(dir, dir+".real"); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, dir); err != nil {
		t.Fatal(err)
	}
}

// A job's file is checked as the watcher sees it just before its
// container starts: a folder swapped for a link to elsewhere since the
// file was queued is refused, and so is a FIFO put in the file's place.
func TestInputFile(t *testing.T) {
	e := newIdleEngine(t)
	sub, file := subFile(t, e, "inside")
	if fi, err := e.inputFile(file); err != nil || fi.Size() != 6 {
		t.Fatalf("inputFile before the swap: %v, %v", fi, err)
	}

	outside := t.TempDir()
	os.WriteFile(filepath.Join(outside, "a.pcap"), []byte("outside!"), 0o644)
	swapForLink(t, sub, outside)
	if _, err := e.inputFile(file); !errors.Is(err, drop.ErrSymlink) {
		t.Errorf("inputFile through a linked folder: %v, want %v", err, drop.ErrSymlink)
	}

	os.Remove(sub)
	os.MkdirAll(sub, 0o755)
	if err := unix.Mkfifo(file, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := e.inputFile(file); !errors.Is(err, drop.ErrNotRegular) {
		t.Errorf("inputFile of a FIFO: %v, want %v", err, drop.ErrNotRegular)
	}

	// A file outside the drop folder (it moved since) only has to exist.
	elsewhere := filepath.Join(outside, "a.pcap")
	if _, err := e.inputFile(elsewhere); err != nil {
		t.Errorf("inputFile outside the drop folder: %v", err)
	}
}

// When the drop folder is a link, a path under its target names the same
// file, under the drop folder's own path.
func TestDropFilesThroughLinkedRoot(t *testing.T) {
	e := newIdleEngine(t)
	real := t.TempDir()
	os.WriteFile(filepath.Join(real, "a.pcap"), []byte("x"), 0o644)
	link := filepath.Join(t.TempDir(), "drop")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	e.cfg.Files = link

	for _, p := range []string{filepath.Join(link, "a.pcap"), filepath.Join(real, "a.pcap"), real} {
		files, err := e.dropFiles(p)
		if err != nil || len(files) != 1 || files[0] != filepath.Join(link, "a.pcap") {
			t.Errorf("dropFiles(%s) = %q, %v; want the file under %s", p, files, err, link)
		}
	}
	if _, err := e.dropFiles(filepath.Dir(real)); !errors.Is(err, ErrNotInDrop) {
		t.Errorf("the target's parent: %v, want %v", err, ErrNotInDrop)
	}
}

// The mount check compares the folder a container sees with the one found
// below the drop folder before: here this process stands for the
// container (its root is the host's), and the folder is swapped for a
// link in between.
func TestMountCheck(t *testing.T) {
	e := newIdleEngine(t)
	sub, input := subFile(t, e, "x")
	pid := uint32(os.Getpid())

	check, err := e.mountCheck(input)
	if err != nil || check == nil {
		t.Fatalf("mountCheck: check set %v, err %v", check != nil, err)
	}
	if err := check(pid); err != nil {
		t.Errorf("the same folder: %v", err)
	}

	outside := t.TempDir()
	swapForLink(t, sub, outside)
	if err := check(pid); err == nil || !strings.Contains(err.Error(), "not the checked folder") {
		t.Errorf("a folder swapped for a link: %v, want a refusal", err)
	}
	if _, err := e.mountCheck(input); !errors.Is(err, drop.ErrSymlink) {
		t.Errorf("mountCheck through the link: %v, want %v", err, drop.ErrSymlink)
	}

	// A folder outside the drop folder is not checked.
	if check, err := e.mountCheck(filepath.Join(outside, "x")); check != nil || err != nil {
		t.Errorf("outside: check set %v, err %v", check != nil, err)
	}
}
