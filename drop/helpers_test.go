package drop

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// waitLimit bounds every wait in these tests; it is a deadlock guard, not
// a performance assertion.
const waitLimit = 20 * time.Second

// report is one ready callback seen by a collector.
type report struct {
	File
	at time.Time
}

// collector records ready callbacks.
type collector struct {
	mu      sync.Mutex
	reports []report
	notify  chan struct{}
}

func (c *collector) add(f File) {
	c.mu.Lock()
	c.reports = append(c.reports, report{File: f, at: time.Now()})
	c.mu.Unlock()
	select {
	case c.notify <- struct{}{}:
	default:
	}
}

// of returns the reports for path.
func (c *collector) of(path string) []report {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []report
	for _, r := range c.reports {
		if r.Path == path {
			out = append(out, r)
		}
	}
	return out
}

// paths returns the set of reported paths.
func (c *collector) paths() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int)
	for _, r := range c.reports {
		out[r.Path]++
	}
	return out
}

// waitFor waits until path has been reported n times (or more) and returns
// the reports.
func (c *collector) waitFor(t testing.TB, path string, n int) []report {
	t.Helper()
	deadline := time.After(waitLimit)
	for {
		if got := c.of(path); len(got) >= n {
			return got
		}
		select {
		case <-c.notify:
		case <-time.After(20 * time.Millisecond):
		case <-deadline:
			t.Fatalf("%q reported %d times, want %d; all reports: %v", path, len(c.of(path)), n,
				c.paths())
		}
	}
}

// waitSize waits until path is reported with the given size.
func (c *collector) waitSize(t testing.TB, path string, size int64) report {
	t.Helper()
	deadline := time.After(waitLimit)
	for {
		for _, r := range c.of(path) {
			if r.Size == size {
				return r
			}
		}
		select {
		case <-c.notify:
		case <-time.After(20 * time.Millisecond):
		case <-deadline:
			t.Fatalf("%q never reported with size %d; reports: %v", path, size, c.of(path))
		}
	}
}

// testLogger writes the watcher's log to the test log.
type testLogger struct{ t testing.TB }

func (l testLogger) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// startWatcher runs a watcher with short test timings (unless opts sets
// them) and waits for its start scan.
func startWatcher(t testing.TB, opts Options) (*Watcher, *collector) {
	t.Helper()
	if opts.Root == "" {
		opts.Root = t.TempDir()
	}
	if opts.Quiet == 0 {
		opts.Quiet = 200 * time.Millisecond
	}
	if opts.Rescan == 0 {
		opts.Rescan = time.Hour
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(testLogger{t},
			&slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	w, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}

	c := &collector{notify: make(chan struct{}, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx, c.add) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})

	waitUntil(t, "start scan", func() bool { return w.Stats().Rescans >= 1 })
	return w, c
}

// barrier asks for a full rescan and waits until it has completed, so that
// everything a scan would report has been reported.
func barrier(t testing.TB, w *Watcher) {
	t.Helper()
	n := w.Stats().Rescans
	w.Rescan()
	waitUntil(t, "rescan", func() bool { return w.Stats().Rescans > n })
}

// waitUntil polls cond until it holds.
func waitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// writeFile writes size bytes to path, creating parent directories.
func writeFile(t testing.TB, path string, size int) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, make([]byte, size), 0o644); err != nil {
		t.Fatal(err)
	}
}

// renameIn writes a file of size bytes outside the root (in stage, on the
// same file system) and renames it to dst.
func renameIn(t testing.TB, stage, dst string, size int) {
	t.Helper()
	src := filepath.Join(stage, fmt.Sprintf("stage-%d", time.Now().UnixNano()))
	writeFile(t, src, size)
	if err := os.Rename(src, dst); err != nil {
		t.Fatal(err)
	}
}

// makeOld sets path's modification time an hour back.
func makeOld(t testing.TB, path string) {
	t.Helper()
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
}
