package engine

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ventapp/ventapp/config"
	"github.com/ventapp/ventapp/drop"
)

// newIdleEngine opens an engine that is not run and has no containerd.
func newIdleEngine(t *testing.T) *Engine {
	t.Helper()
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "vent.cfg")
	text := "[main]\nfiles = " + filepath.Join(dir, "drop") + "\n[containerd]\naddress = " +
		filepath.Join(dir, "no-containerd.sock") + "\n"
	if err := os.WriteFile(cfgPath, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgPath, filepath.Join(dir, "data"))
	if err != nil {
		t.Fatal(err)
	}
	e, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), "test")
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
