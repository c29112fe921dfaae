package containers

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// waitFor polls cond until it holds or limit passes.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s", limit, what)
}

func serviceSpec(id, script string) Spec {
	return Spec{ID: id, Image: testImage, Args: []string{"/bin/sh", "-c", script}}
}

func TestServiceRestartsAndStops(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	logPath := filepath.Join(t.TempDir(), "logs", "svc.log")

	// The process exits after a moment; the service brings it back.
	sv, err := e.c.RunService(ctx, serviceSpec("svc-restart", `echo up; sleep 0.3; echo down >&2; exit 3`),
		ServiceOptions{LogPath: logPath})
	if err != nil {
		t.Fatal(err)
	}
	if st := sv.Status(); st.ID != "svc-restart" || st.StartedAt.IsZero() {
		t.Errorf("status after start: %+v", st)
	}
	waitFor(t, 20*time.Second, "two restarts", func() bool { return sv.Status().Restarts >= 2 })
	if st := sv.Status(); st.LastExit != 3 {
		t.Errorf("last exit %d, want 3", st.LastExit)
	}
	if err := sv.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := sv.Stop(ctx); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	data, _ := os.ReadFile(logPath)
	if n := strings.Count(string(data), "up\n"); n < 3 {
		t.Errorf("log holds %d starts, want 3 or more:\n%s", n, data)
	}
	if !strings.Contains(string(data), "down\n") {
		t.Errorf("stderr is not in the log:\n%s", data)
	}
}

// TestServiceLogKeepsLastOutput: a service that writes more to stderr
// than a pipe holds just before it exits finds all of it in its log, in
// order after its stdout. (containerd's "file" log closed the file when
// stdout ended and lost what stderr still held.)
func TestServiceLogKeepsLastOutput(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	logPath := filepath.Join(t.TempDir(), "last.log")

	// dd writes its block at once, so the exit comes while the pipe still
	// holds nearly all of it.
	script := `yes failing | head -n 7000 > /tmp/e; echo started; sleep 0.2; ` +
		`dd if=/tmp/e bs=56000 count=1 >&2 2>/dev/null; exit 4`
	sv, err := e.c.RunService(ctx, serviceSpec("svc-last", script), ServiceOptions{LogPath: logPath, NoRestart: true})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-sv.Done():
	case <-time.After(20 * time.Second):
		t.Fatal("the service did not end")
	}
	if err := sv.Stop(ctx); err != nil {
		t.Fatal(err)
	}

	data, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	want := "started\n" + strings.Repeat("failing\n", 7000)
	if string(data) != want {
		t.Errorf("log holds %d bytes, %d lines of stderr, ends %q; want %d bytes ending %q",
			len(data), strings.Count(string(data), "failing\n"), data[max(0, len(data)-30):], len(want), "failing\n")
	}
}

func TestServiceStopSignals(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	dir := t.TempDir()

	tests := []struct {
		name, script string
		grace        time.Duration
		wantLog      string
	}{
		{"exits on SIGTERM", `trap 'echo bye; exit 0' TERM; echo ready; while true; do sleep 0.1; done`,
			10 * time.Second, "bye"},
		{"ignores SIGTERM and is killed", `trap '' TERM; echo ready; while true; do sleep 0.1; done`,
			500 * time.Millisecond, "ready"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logPath := filepath.Join(dir, tt.name+".log")
			id := "svc-stop-" + string(rune('a'+i))
			sv, err := e.c.RunService(ctx, serviceSpec(id, tt.script), ServiceOptions{LogPath: logPath, StopGrace: tt.grace})
			if err != nil {
				t.Fatal(err)
			}
			waitFor(t, 10*time.Second, "ready", func() bool {
				data, _ := os.ReadFile(logPath)
				return strings.Contains(string(data), "ready")
			})
			start := time.Now()
			if err := sv.Stop(ctx); err != nil {
				t.Fatal(err)
			}
			if took := time.Since(start); took > tt.grace+killGrace {
				t.Errorf("stop took %s", took)
			}
			data, _ := os.ReadFile(logPath)
			if !strings.Contains(string(data), tt.wantLog) {
				t.Errorf("log %q lacks %q", data, tt.wantLog)
			}
			select {
			case <-sv.Done():
			default:
				t.Error("Done not closed after Stop")
			}
		})
	}
}

func TestServiceNoRestartAndErrors(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	logPath := filepath.Join(t.TempDir(), "once.log")

	sv, err := e.c.RunService(ctx, serviceSpec("svc-once", `echo once`), ServiceOptions{LogPath: logPath, NoRestart: true})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-sv.Done():
	case <-time.After(20 * time.Second):
		t.Fatal("a NoRestart service that exited is not done")
	}
	if st := sv.Status(); st.Running || st.Restarts != 0 || st.LastExit != 0 {
		t.Errorf("status: %+v", st)
	}
	if err := sv.Stop(ctx); err != nil {
		t.Fatal(err)
	}

	// Bad input fails before anything is made.
	cases := []struct {
		name string
		spec Spec
		o    ServiceOptions
		want error
	}{
		{"missing image", Spec{ID: "svc-x", Image: "nope/none:1"}, ServiceOptions{LogPath: logPath}, ErrImageNotFound},
		{"relative log path", serviceSpec("svc-y", "true"), ServiceOptions{LogPath: "x.log"}, ErrInvalidSpec},
		{"missing binary", Spec{ID: "svc-z", Image: testImage, Args: []string{"/no/such"}},
			ServiceOptions{LogPath: logPath}, ErrStart},
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := e.c.RunService(ctx, tt.spec, tt.o); !errors.Is(err, tt.want) {
				t.Errorf("err %v, want %v", err, tt.want)
			}
		})
	}
}

// TestServiceSwept shows that a service left running by a crashed
// ventapp is removed by the start-up Sweep, like a job container.
func TestServiceSwept(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	sv, err := e.c.RunService(ctx, Spec{
		ID: "svc-left", Image: testImage, Args: []string{"/bin/sh", "-c", "sleep 600"},
		Labels: map[string]string{"ventapp.service": "left"},
	}, ServiceOptions{LogPath: filepath.Join(t.TempDir(), "left.log")})
	if err != nil {
		t.Fatal(err)
	}
	removed, err := e.c.Sweep(ctx, LabelKey, LabelValue)
	if err != nil || len(removed) != 1 || removed[0] != "svc-left" {
		t.Fatalf("sweep: %v, %v", removed, err)
	}
	if err := sv.Stop(ctx); err != nil {
		t.Errorf("Stop after the sweep: %v", err)
	}
}

// TestServiceLogUnusable: a log path that cannot be opened is refused at
// start, naming the log, and nothing is left behind.
func TestServiceLogUnusable(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	logPath := filepath.Join(t.TempDir(), "svc.log")
	if err := os.Mkdir(logPath, 0o750); err != nil {
		t.Fatal(err)
	}

	_, err := e.c.RunService(ctx, serviceSpec("svc-nolog", `echo hi`), ServiceOptions{LogPath: logPath})
	if !errors.Is(err, ErrStart) || !strings.Contains(err.Error(), "log file") || !strings.Contains(err.Error(), logPath) {
		t.Fatalf("got %v, want ErrStart naming the log file %s", err, logPath)
	}
	if _, err := e.c.cli.LoadContainer(e.c.nsCtx(ctx), "svc-nolog"); err == nil {
		t.Error("the container was left behind")
	}
}

// TestServiceLogFolderRemoved: a service whose log folder was removed
// while it ran starts again with a new one, instead of failing each try.
func TestServiceLogFolderRemoved(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	logPath := filepath.Join(t.TempDir(), "logs", "svc.log")

	sv, err := e.c.RunService(ctx, serviceSpec("svc-nofolder", `echo up; sleep 0.3; exit 1`), ServiceOptions{LogPath: logPath})
	if err != nil {
		t.Fatal(err)
	}
	defer sv.Stop(ctx)
	if err := os.RemoveAll(filepath.Dir(logPath)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "a restart with a new log", func() bool {
		data, _ := os.ReadFile(logPath)
		return sv.Status().Restarts >= 1 && strings.Contains(string(data), "up\n")
	})
	if st := sv.Status(); st.LastError != "" {
		t.Errorf("last error %q", st.LastError)
	}
}

// TestServiceLoggerKilled: when a service's logging process is killed,
// the service is restarted with a new one, so its output is logged again
// instead of filling a pipe nobody reads.
func TestServiceLoggerKilled(t *testing.T) {
	defer func(d time.Duration) { loggerCheckEvery = d }(loggerCheckEvery)
	loggerCheckEvery = 100 * time.Millisecond
	e := newEnv(t)
	ctx := context.Background()
	logPath := filepath.Join(t.TempDir(), "svc.log")

	sv, err := e.c.RunService(ctx, serviceSpec("svc-logger", `trap 'exit 0' TERM; echo up; while true; do echo tick; sleep 0.1; done`),
		ServiceOptions{LogPath: logPath})
	if err != nil {
		t.Fatal(err)
	}
	defer sv.Stop(ctx)
	pid := findLogger(logPath)
	if pid == 0 {
		t.Fatal("no logging process found for the service")
	}

	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "a restart with a new logger", func() bool {
		data, _ := os.ReadFile(logPath)
		return sv.Status().Restarts >= 1 && strings.Count(string(data), "up\n") >= 2
	})
	if now := findLogger(logPath); now == 0 || now == pid {
		t.Errorf("logger after restart: pid %d (killed one was %d)", now, pid)
	}
}

// TestServiceClosesItsOutput: a service that closes its own stdout and
// stderr keeps its logging process, so it is not taken for one whose
// logger was killed and restarted.
func TestServiceClosesItsOutput(t *testing.T) {
	defer func(d time.Duration) { loggerCheckEvery = d }(loggerCheckEvery)
	loggerCheckEvery = 50 * time.Millisecond
	e := newEnv(t)
	ctx := context.Background()
	logPath := filepath.Join(t.TempDir(), "svc.log")

	script := `echo up; exec >/dev/null 2>&1; trap 'exit 0' TERM; while true; do sleep 0.1; done`
	sv, err := e.c.RunService(ctx, serviceSpec("svc-quiet", script), ServiceOptions{LogPath: logPath})
	if err != nil {
		t.Fatal(err)
	}
	defer sv.Stop(ctx)
	time.Sleep(time.Second)
	if st := sv.Status(); st.Restarts != 0 || !st.Running {
		t.Errorf("status %+v, want running, never restarted", st)
	}
	if pid := findLogger(logPath); pid == 0 {
		t.Error("the logging process left once the service closed its output")
	}
}
