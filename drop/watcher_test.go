package drop

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func TestNew(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "plain")
	writeFile(t, file, 1)

	tests := []struct {
		name    string
		opts    Options
		wantErr error
		inErr   string
	}{
		{"creates missing root", Options{Root: filepath.Join(dir, "new", "drop")}, nil, ""},
		{"root is a file", Options{Root: file}, ErrNotDir, file},
		{"empty root", Options{}, ErrBadOptions, "Root"},
		{"negative quiet", Options{Root: dir, Quiet: -1}, ErrBadOptions, "Quiet"},
		{"negative settle", Options{Root: dir, Settle: -1}, ErrBadOptions, "Settle"},
		{"negative rescan", Options{Root: dir, Rescan: -1}, ErrBadOptions, "Rescan"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := New(tt.opts)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("New: got error %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				if !strings.Contains(err.Error(), tt.inErr) {
					t.Errorf("error %q does not name %q", err, tt.inErr)
				}
				return
			}
			fi, err := os.Stat(w.Root())
			if err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o755 {
				t.Errorf("root %s: stat %v, %v; want a 0755 directory", w.Root(), fi, err)
			}
		})
	}
}

func TestRunTwice(t *testing.T) {
	w, _ := startWatcher(t, Options{})
	err := w.Run(t.Context(), func(File) {})
	if !errors.Is(err, ErrRunning) {
		t.Fatalf("second Run: got %v, want %v", err, ErrRunning)
	}
}

// TestRenameIn checks that a file renamed into place is reported once,
// with its path exactly as named and its size, for awkward names too.
func TestRenameIn(t *testing.T) {
	tests := []struct {
		name string
		rel  string
		size int
	}{
		{"plain", "capture.pcap", 1000},
		{"spaces", "my capture 1.pcap", 10},
		{"newline", "two\nlines.pcap", 7},
		{"not utf-8", "bad\xff\xfe\x80.pcap", 3},
		{"subdirectory", "sub/dir/f.pcap", 1 << 20},
	}
	root, stage := t.TempDir(), t.TempDir()
	for _, tt := range tests {
		if dir := filepath.Dir(tt.rel); dir != "." {
			if err := os.MkdirAll(filepath.Join(root, dir), 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	w, c := startWatcher(t, Options{Root: root})

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(w.Root(), tt.rel)
			start := time.Now()
			renameIn(t, stage, path, tt.size)

			got := c.waitFor(t, path, 1)[0]
			t.Logf("reported after %v", got.at.Sub(start))
			if got.Size != int64(tt.size) {
				t.Errorf("size %d, want %d", got.Size, tt.size)
			}
		})
	}

	// Nothing more may arrive: each file is reported exactly once.
	time.Sleep(3 * 200 * time.Millisecond)
	for _, tt := range tests {
		path := filepath.Join(w.Root(), tt.rel)
		if n := len(c.of(path)); n != 1 {
			t.Errorf("%q reported %d times, want 1", tt.rel, n)
		}
	}
}

// TestSlowWriter checks that a file written in place over a second is
// reported once, after the last write, with its final size.
func TestSlowWriter(t *testing.T) {
	const quiet = 500 * time.Millisecond
	w, c := startWatcher(t, Options{Quiet: quiet})
	path := filepath.Join(w.Root(), "slow.pcap")

	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 4096)
	var last time.Time
	for range 10 {
		if _, err := f.Write(chunk); err != nil {
			t.Fatal(err)
		}
		last = time.Now()
		time.Sleep(100 * time.Millisecond)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	got := c.waitFor(t, path, 1)[0]
	if got.Size != 10*4096 {
		t.Errorf("size %d, want %d", got.Size, 10*4096)
	}
	if got.at.Before(last) {
		t.Errorf("reported at %v, before the last write at %v", got.at, last)
	}
	time.Sleep(2 * quiet)
	if n := len(c.of(path)); n != 1 {
		t.Errorf("reported %d times, want 1: %v", n, c.of(path))
	}
}

// TestNewDirectories checks files that land in directories created while
// the watcher runs, including files that arrive before the new directory's
// watch can exist.
func TestNewDirectories(t *testing.T) {
	stage := t.TempDir()
	w, c := startWatcher(t, Options{})
	root := w.Root()

	tests := []struct {
		name  string
		drop  func(t *testing.T)
		files []string
	}{
		{
			name: "mkdir -p then rename a file in",
			drop: func(t *testing.T) {
				if err := os.MkdirAll(filepath.Join(root, "a1/b/c"), 0o755); err != nil {
					t.Fatal(err)
				}
				renameIn(t, stage, filepath.Join(root, "a1/b/c/f.pcap"), 100)
			},
			files: []string{"a1/b/c/f.pcap"},
		},
		{
			name: "mkdir -p and write at once",
			drop: func(t *testing.T) {
				writeFile(t, filepath.Join(root, "a2/b/c/g.pcap"), 200)
				writeFile(t, filepath.Join(root, "a2/b/h.pcap"), 300)
			},
			files: []string{"a2/b/c/g.pcap", "a2/b/h.pcap"},
		},
		{
			name: "whole tree renamed in",
			drop: func(t *testing.T) {
				tree := filepath.Join(stage, "tree")
				writeFile(t, filepath.Join(tree, "x/y/old.pcap"), 50)
				makeOld(t, filepath.Join(tree, "x/y/old.pcap"))
				writeFile(t, filepath.Join(tree, "x/new.pcap"), 60)
				if err := os.Rename(tree, filepath.Join(root, "a3")); err != nil {
					t.Fatal(err)
				}
			},
			files: []string{"a3/x/y/old.pcap", "a3/x/new.pcap"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.drop(t)
			for _, rel := range tt.files {
				c.waitFor(t, filepath.Join(root, rel), 1)
			}
		})
	}
}

// TestDirectoryRenamedInside checks that after a watched directory is
// renamed inside the root, new files below it are reported under the new
// name, never the old one.
func TestDirectoryRenamedInside(t *testing.T) {
	stage := t.TempDir()
	w, c := startWatcher(t, Options{})
	root := w.Root()

	if err := os.MkdirAll(filepath.Join(root, "a/b"), 0o755); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "watches on a and a/b", func() bool { return w.Stats().Watches == 3 })
	if err := os.Rename(filepath.Join(root, "a"), filepath.Join(root, "x")); err != nil {
		t.Fatal(err)
	}
	// Let the watcher handle the rename before the next file lands.
	time.Sleep(100 * time.Millisecond)

	renameIn(t, stage, filepath.Join(root, "x/b/f.pcap"), 10)
	c.waitFor(t, filepath.Join(root, "x/b/f.pcap"), 1)
	if n := len(c.of(filepath.Join(root, "a/b/f.pcap"))); n != 0 {
		t.Errorf("file reported under the old directory name %d times", n)
	}
	if got := w.Stats().Watches; got != 3 {
		t.Errorf("watches %d, want 3 (root, x, x/b)", got)
	}
}

// TestIgnoredNeverReported checks the ignore rules end to end, for files
// present at start, files created later and files a rescan finds.
func TestIgnoredNeverReported(t *testing.T) {
	ignored := []string{".x", "a.part", "b.tmp", "x-miscellaneous-y", ".dir/inner.pcap",
		"sub/.hidden/deep/f.pcap", "sub/.y"}
	root := t.TempDir()
	for _, rel := range ignored {
		writeFile(t, filepath.Join(root, "before", rel), 10)
		makeOld(t, filepath.Join(root, "before", rel))
	}
	writeFile(t, filepath.Join(root, "before", "sentinel"), 1)

	w, c := startWatcher(t, Options{Root: root})
	for _, rel := range ignored {
		writeFile(t, filepath.Join(root, "after", rel), 10)
	}
	writeFile(t, filepath.Join(root, "after", "sentinel"), 1)
	c.waitFor(t, filepath.Join(root, "after", "sentinel"), 1)

	// Let anything pending become quiet, then make a rescan see it all.
	time.Sleep(400 * time.Millisecond)
	for _, rel := range ignored {
		makeOld(t, filepath.Join(root, "after", rel))
	}
	barrier(t, w)

	want := map[string]bool{
		filepath.Join(root, "before", "sentinel"): true,
		filepath.Join(root, "after", "sentinel"):  true,
	}
	for path := range c.paths() {
		if !want[path] {
			t.Errorf("ignored file reported: %q", path)
		}
	}
}

// TestSymlinksNotFollowed checks that links are never reported nor
// descended into, whether they point inside or outside the root.
func TestSymlinksNotFollowed(t *testing.T) {
	root, outside := t.TempDir(), t.TempDir()
	writeFile(t, filepath.Join(outside, "secret.pcap"), 10)
	writeFile(t, filepath.Join(outside, "dir", "inner.pcap"), 10)
	writeFile(t, filepath.Join(root, "real.pcap"), 10)
	links := map[string]string{
		"before-file":       filepath.Join(outside, "secret.pcap"),
		"before-dir":        filepath.Join(outside, "dir"),
		"before-inside":     filepath.Join(root, "real.pcap"),
		"sub/before-parent": "..",
	}
	mklinks := func(prefix string) {
		for name, target := range links {
			path := filepath.Join(root, strings.Replace(name, "before", prefix, 1))
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(target, path); err != nil {
				t.Fatal(err)
			}
		}
	}
	mklinks("before")

	w, c := startWatcher(t, Options{Root: root})
	mklinks("after")
	writeFile(t, filepath.Join(outside, "dir", "later.pcap"), 10)
	writeFile(t, filepath.Join(root, "before-dir", "through-link.pcap"), 10)
	writeFile(t, filepath.Join(root, "sentinel"), 1)
	c.waitFor(t, filepath.Join(root, "sentinel"), 1)
	time.Sleep(400 * time.Millisecond)
	barrier(t, w)

	want := map[string]bool{filepath.Join(root, "real.pcap"): true, filepath.Join(root, "sentinel"): true}
	for path := range c.paths() {
		if !want[path] {
			t.Errorf("reported %q, which is or lies below a symbolic link", path)
		}
	}
	if len(c.of(filepath.Join(root, "real.pcap"))) == 0 {
		t.Errorf("real.pcap was never reported")
	}
}

// TestStartScan checks that files present before Run are reported: old
// ones by the start scan itself, fresh ones once they are quiet.
func TestStartScan(t *testing.T) {
	root := t.TempDir()
	files := map[string]int{"old.pcap": 10, "sub/old.pcap": 20, "fresh.pcap": 30, "sub/deep/fresh": 40}
	for rel, size := range files {
		writeFile(t, filepath.Join(root, rel), size)
		if strings.Contains(rel, "old") {
			makeOld(t, filepath.Join(root, rel))
		}
	}

	_, c := startWatcher(t, Options{Root: root})
	for rel, size := range files {
		c.waitSize(t, filepath.Join(root, rel), int64(size))
	}
}

// TestRescanFindsMissedChanges changes a reported file through a hard link
// outside the root, which produces no event in the drop folder, and checks
// that a requested rescan and a timer rescan both find the new size.
func TestRescanFindsMissedChanges(t *testing.T) {
	tests := []struct {
		name   string
		rescan time.Duration
		ask    bool
	}{
		{"Rescan called", time.Hour, true},
		{"rescan timer", 300 * time.Millisecond, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root, outside := t.TempDir(), t.TempDir()
			path := filepath.Join(root, "f.pcap")
			writeFile(t, path, 100)
			makeOld(t, path)

			w, c := startWatcher(t, Options{Root: root, Rescan: tt.rescan})
			c.waitSize(t, path, 100)

			link := filepath.Join(outside, "link")
			if err := os.Link(path, link); err != nil {
				t.Fatal(err)
			}
			f, err := os.OpenFile(link, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.Write(make([]byte, 50)); err != nil {
				t.Fatal(err)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			if tt.ask {
				w.Rescan()
			}
			c.waitSize(t, path, 150)
		})
	}
}

// TestVanished checks that files removed or renamed away before they are
// ready are never reported.
func TestVanished(t *testing.T) {
	stage := t.TempDir()
	w, c := startWatcher(t, Options{Quiet: 300 * time.Millisecond, Settle: 300 * time.Millisecond})
	root := w.Root()

	// Written in place, then removed while still waiting for quiet.
	written := filepath.Join(root, "written.pcap")
	writeFile(t, written, 100)
	if err := os.Remove(written); err != nil {
		t.Fatal(err)
	}

	// Renamed in, then renamed away inside the root to an ignored name.
	moved := filepath.Join(root, "moved.pcap")
	renameIn(t, stage, moved, 100)
	if err := os.Rename(moved, filepath.Join(root, "moved.pcap.part")); err != nil {
		t.Fatal(err)
	}

	// Renamed in, then removed.
	gone := filepath.Join(root, "gone.pcap")
	renameIn(t, stage, gone, 100)
	if err := os.Remove(gone); err != nil {
		t.Fatal(err)
	}

	sentinel := filepath.Join(root, "sentinel")
	writeFile(t, sentinel, 1)
	c.waitFor(t, sentinel, 1)
	time.Sleep(300 * time.Millisecond)
	for _, path := range []string{written, moved, gone} {
		if n := len(c.of(path)); n != 0 {
			t.Errorf("vanished file %q reported %d times", path, n)
		}
	}
	if p := w.Stats().Pending; p != 0 {
		t.Errorf("%d files still pending", p)
	}
}

// TestNonRegularSkipped checks that fifos and sockets are never reported
// and never block the watcher.
func TestNonRegularSkipped(t *testing.T) {
	root := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(root, "before.fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	w, c := startWatcher(t, Options{Root: root})
	if err := syscall.Mkfifo(filepath.Join(root, "after.fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(root, "s.sock")
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = syscall.Close(fd) }()
	if err := syscall.Bind(fd, &syscall.SockaddrUnix{Name: sock}); err != nil {
		t.Fatal(err)
	}

	sentinel := filepath.Join(root, "sentinel")
	writeFile(t, sentinel, 1)
	c.waitFor(t, sentinel, 1)
	barrier(t, w)
	if got := c.paths(); len(got) != 1 {
		t.Errorf("reported %v, want only the sentinel", got)
	}
}

// TestUnreadable checks that a file that cannot be opened goes to OnError
// and is reported once its permissions are fixed. Root reads anything, so
// when the test runs as root it switches the process's effective user to
// nobody (65534) for its duration and back afterwards.
func TestUnreadable(t *testing.T) {
	root := t.TempDir()
	if os.Geteuid() == 0 {
		for _, dir := range []string{filepath.Dir(root), root} {
			if err := os.Chmod(dir, 0o777); err != nil {
				t.Fatal(err)
			}
		}
		if err := syscall.Setresuid(-1, 65534, -1); err != nil {
			t.Skipf("cannot drop to user nobody: %v", err)
		}
		defer func() {
			if err := syscall.Setresuid(-1, 0, -1); err != nil {
				t.Fatalf("cannot return to root: %v", err)
			}
		}()
	}

	errs := make(chan string, 10)
	w, c := startWatcher(t, Options{Root: root, OnError: func(path string, _ error) { errs <- path }})
	path := filepath.Join(w.Root(), "locked.pcap")
	stage := filepath.Join(root, ".stage")
	if err := os.WriteFile(stage, make([]byte, 10), 0); err != nil {
		t.Fatal(err)
	}
	makeOld(t, stage) // so that a rescan tries it at once
	if err := os.Rename(stage, path); err != nil {
		t.Fatal(err)
	}

	select {
	case got := <-errs:
		if got != path {
			t.Errorf("OnError path %q, want %q", got, path)
		}
	case <-time.After(waitLimit):
		t.Fatal("OnError never called")
	}
	barrier(t, w)
	if n := len(c.of(path)); n != 0 {
		t.Errorf("unreadable file reported %d times", n)
	}
	select {
	case got := <-errs:
		t.Errorf("OnError called again for the unchanged file %q", got)
	default:
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	c.waitFor(t, path, 1)
	if got := w.Stats().Errors; got == 0 {
		t.Errorf("Stats().Errors = 0, want the failed open counted")
	}
}

// TestRootRecreated checks that the watcher survives its root being
// removed: a rescan recreates it and new files are reported again.
func TestRootRecreated(t *testing.T) {
	root := filepath.Join(t.TempDir(), "drop")
	w, c := startWatcher(t, Options{Root: root})
	if err := os.RemoveAll(root); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "root recreated", func() bool {
		fi, err := os.Stat(root)
		return err == nil && fi.IsDir() && w.Stats().Watches == 1
	})
	path := filepath.Join(root, "f.pcap")
	renameIn(t, t.TempDir(), path, 5)
	c.waitFor(t, path, 1)
}

// A watcher whose context has ended stops its scan between folders: a
// drop folder of millions of files must not hold up a shutdown. Here the
// context ends before Run starts, so nothing is reported.
func TestScanStopsWhenStopping(t *testing.T) {
	root := t.TempDir()
	old := time.Now().Add(-time.Hour)
	for i := range 50 {
		dir := filepath.Join(root, fmt.Sprintf("d%02d", i))
		os.MkdirAll(dir, 0o755)
		f := filepath.Join(dir, "f.pcap")
		os.WriteFile(f, []byte("x"), 0o644)
		os.Chtimes(f, old, old)
	}
	w, err := New(Options{Root: root, Quiet: 200 * time.Millisecond, Rescan: time.Hour,
		Logger: slog.New(slog.NewTextHandler(testLogger{t}, nil))})
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var reported atomic.Int64
	if err := w.Run(ctx, func(File) { reported.Add(1) }); err != nil {
		t.Fatal(err)
	}
	if n := reported.Load(); n != 0 {
		t.Errorf("%d of 50 files reported by a watcher that was stopping", n)
	}
}
