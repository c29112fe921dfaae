package main

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ventapp/ventapp/config"
	"github.com/ventapp/ventapp/engine"
)

// stallEngine stands in for the engine in supervise: Alive answers at once
// until stall is set, then blocks until its context ends, as a hung
// dispatcher lock would.
type stallEngine struct {
	stall  atomic.Bool
	alives atomic.Int64
}

func (f *stallEngine) Alive(ctx context.Context) error {
	f.alives.Add(1)
	if !f.stall.Load() {
		return nil
	}
	<-ctx.Done()
	return ctx.Err()
}

func (f *stallEngine) Status() engine.Status {
	return engine.Status{Jobs: map[string]int{"queued": 3}, Containerd: engine.ServiceStatus{Healthy: true}}
}

func (f *stallEngine) Reload(*config.Config) []string { return nil }

// syncBuffer is a bytes.Buffer the logger and the test share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestWatchdogStopsWhenStalled runs the main loop under a fake
// NOTIFY_SOCKET with a 200 ms watchdog: pings flow while the engine answers,
// stop while Alive hangs (so systemd would kill and restart the daemon),
// and come back once it answers again.
func TestWatchdogStopsWhenStalled(t *testing.T) {
	sockPath := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sockPath, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	type note struct {
		msg string
		at  time.Time
	}
	notes := make(chan note, 1000)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				close(notes)
				return
			}
			notes <- note{string(buf[:n]), time.Now()}
		}
	}()
	t.Setenv("NOTIFY_SOCKET", sockPath)
	t.Setenv("WATCHDOG_USEC", "200000")
	t.Setenv("WATCHDOG_PID", "")

	var logBuf syncBuffer
	log := slog.New(slog.NewTextHandler(&logBuf, nil))
	fake := &stallEngine{}
	ready := make(chan struct{})
	close(ready)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		supervise(ctx, &cliEnv{}, log, new(slog.LevelVar), fake, ready)
		close(done)
	}()
	defer func() {
		cancel()
		<-done
	}()

	// count gathers notifications for d and counts watchdog pings and
	// status lines.
	count := func(d time.Duration) (pings, statuses int) {
		deadline := time.After(d)
		for {
			select {
			case n := <-notes:
				switch {
				case n.msg == "WATCHDOG=1":
					pings++
				case strings.HasPrefix(n.msg, "STATUS="):
					statuses++
				}
			case <-deadline:
				return pings, statuses
			}
		}
	}

	if pings, statuses := count(time.Second); pings < 3 || statuses < 3 {
		t.Fatalf("healthy loop: %d watchdog pings and %d STATUS= lines in 1s, want several of each",
			pings, statuses)
	}

	fake.stall.Store(true)
	count(300 * time.Millisecond) // a ping already under way may still land
	before := fake.alives.Load()
	if pings, _ := count(1500 * time.Millisecond); pings != 0 {
		t.Errorf("stalled loop: %d watchdog pings in 1.5s, want none", pings)
	}
	if fake.alives.Load() == before {
		t.Errorf("the loop stopped asking the engine whether it is alive while stalled")
	}
	if !strings.Contains(logBuf.String(), "engine is stuck") {
		t.Errorf("no log line says the engine is stuck:\n%s", logBuf.String())
	}

	fake.stall.Store(false)
	if pings, _ := count(time.Second); pings < 2 {
		t.Errorf("recovered loop: %d watchdog pings in 1s, want them back", pings)
	}
}
