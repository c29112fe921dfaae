package drop

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestOverflowRescan forces a real inotify queue overflow without touching
// system settings: the ready callback blocks, so the watcher stops reading
// events while two files take more alternating writes than the kernel
// queue, fsnotify and the watcher's buffer hold together. Files renamed in
// after that lose their events, so only the rescan that the overflow
// triggers can report them.
func TestOverflowRescan(t *testing.T) {
	raw, err := os.ReadFile("/proc/sys/fs/inotify/max_queued_events")
	if err != nil {
		t.Skipf("cannot read the inotify queue size: %v", err)
	}
	queue, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil || queue > 1<<20 {
		t.Skipf("inotify queue size %q too large to overflow in a test", raw)
	}
	// fsnotify's reader holds up to 4096 events besides the two queues.
	writes := queue + eventBuffer + 4096 + 2000

	root, stage := t.TempDir(), t.TempDir()
	w, err := New(Options{Root: root, Quiet: 100 * time.Millisecond, Rescan: time.Hour,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu       sync.Mutex
		seen     = make(map[string]bool)
		blocked  = make(chan struct{})
		release  = make(chan struct{})
		blockOne sync.Once
	)
	ready := func(f File) {
		blockOne.Do(func() {
			close(blocked)
			<-release
		})
		mu.Lock()
		seen[f.Path] = true
		mu.Unlock()
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx, ready) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	// Block the watcher inside the callback.
	renameIn(t, stage, filepath.Join(root, "first.pcap"), 1)
	select {
	case <-blocked:
	case <-time.After(waitLimit):
		t.Fatal("first file never reported")
	}

	// Flood: alternate between two files so that the kernel cannot merge
	// consecutive events.
	var fs [2]*os.File
	for i := range fs {
		if fs[i], err = os.Create(filepath.Join(root, fmt.Sprintf("flood%d.pcap", i))); err != nil {
			t.Fatal(err)
		}
	}
	for i := range writes {
		if _, err := fs[i%2].Write([]byte{1}); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range fs {
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	var victims []string
	for i := range 20 {
		victims = append(victims, filepath.Join(root, fmt.Sprintf("victim%d.pcap", i)))
		renameIn(t, stage, victims[i], 10)
	}
	close(release)

	waitUntil(t, "every victim reported", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, v := range victims {
			if !seen[v] {
				return false
			}
		}
		return true
	})
	st := w.Stats()
	if st.Overflows == 0 {
		t.Errorf("no overflow counted (stats %+v); the test did not exercise the overflow path", st)
	}
	if st.Rescans < 2 {
		t.Errorf("%d scans, want the start scan and at least one after the overflow", st.Rescans)
	}
	t.Logf("%d writes, stats %+v", writes, st)
}
