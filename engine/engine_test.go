package engine

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ventapp/ventapp/config"
	"github.com/ventapp/ventapp/index"
	"github.com/ventapp/ventapp/internal/ctrdtest"
	"github.com/ventapp/ventapp/jobs"
	"github.com/ventapp/ventapp/plugins"
)

const baseImage = "ventapp-test/busybox:latest"

// testEngine is a running engine on a private containerd.
type testEngine struct {
	*Engine
	t      testing.TB
	d      *ctrdtest.Daemon
	drop   string
	cancel context.CancelFunc
	done   chan error
}

func startEngine(t testing.TB, extra string) *testEngine {
	t.Helper()
	return startEngineWith(t, extra, nil)
}

// startEngineWith starts an engine after before has adjusted it (tests
// swap in fakes that stand for hardware).
func startEngineWith(t testing.TB, extra string, before func(*Engine)) *testEngine {
	t.Helper()
	d := ctrdtest.Start(t)
	ctrdtest.BusyboxImage(t, d.Client(t), baseImage)

	dir := t.TempDir()
	drop := filepath.Join(dir, "drop")
	cfgPath := filepath.Join(dir, "vent.cfg")
	text := fmt.Sprintf(`[main]
files = %s
[ventapp]
data_dir = %s
[containerd]
address = %s
namespace = %s
fifo_dir = %s
[jobs]
workers = 2
timeout = 1m
retry_backoff = 200ms
[drop]
quiet_period = 200ms
%s`, drop, filepath.Join(dir, "data"), d.Address, d.Namespace, d.FIFODir, extra)
	if err := os.WriteFile(cfgPath, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgPath, "")
	if err != nil {
		t.Fatal(err)
	}

	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	e, err := New(cfg, log, "test")
	if err != nil {
		t.Fatal(err)
	}

	if before != nil {
		before(e)
	}
	ctx, cancel := context.WithCancel(context.Background())
	te := &testEngine{Engine: e, t: t, d: d, drop: drop, cancel: cancel, done: make(chan error, 1)}
	ready := make(chan struct{})
	go func() { te.done <- e.Run(ctx, func() { close(ready) }) }()
	select {
	case <-ready:
	case err := <-te.done:
		t.Fatalf("engine stopped at start: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		<-te.done
		e.Close()
	})
	return te
}

// addPlugin writes a plugin folder whose container runs script with the
// file path as $1, and installs it.
func (te *testEngine) addPlugin(name, script, settings string) {
	te.t.Helper()
	// The folder names the tool; [info] name is the name other tools use
	// in process_from_tool, and may hold spaces as vent's did.
	dir := filepath.Join(te.t.TempDir(), strings.ReplaceAll(name, " ", "_"))
	os.MkdirAll(dir, 0o755)
	dockerfile := fmt.Sprintf("FROM %s\nENTRYPOINT [\"/bin/sh\", \"-c\", %q, \"plugin\"]\n", baseImage, script)
	template := fmt.Sprintf("[info]\nname = %s\n[settings]\n%s\n", name, settings)
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(dockerfile), 0o644)
	os.WriteFile(filepath.Join(dir, "vent.template"), []byte(template), 0o644)

	res, err := te.AddPlugins(context.Background(), dir, nil)
	if err != nil {
		te.t.Fatal(err)
	}
	if len(res) != 1 || !res[0].Built {
		te.t.Fatalf("plugin %s not built: %+v", name, res)
	}
}

// dropFile writes content into the drop folder (under sub) atomically.
func (te *testEngine) dropFile(sub, name, content string) string {
	te.t.Helper()
	dir := filepath.Join(te.drop, sub)
	os.MkdirAll(dir, 0o755)
	tmp := filepath.Join(te.t.TempDir(), "x")
	os.WriteFile(tmp, []byte(content), 0o644)
	dst := filepath.Join(dir, name)
	if err := os.Rename(tmp, dst); err != nil {
		// TempDir may be on another filesystem.
		os.WriteFile(dst+".part", []byte(content), 0o644)
		os.Rename(dst+".part", dst)
	}
	return dst
}

// waitJob waits for the job of tool on file to reach a final state.
func (te *testEngine) waitJob(tool, file string, limit time.Duration) jobs.Job {
	te.t.Helper()
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		list, err := te.Store().List(jobs.Filter{Tool: tool})
		if err != nil {
			te.t.Fatal(err)
		}
		for _, j := range list {
			if j.File == file && j.State.Final() {
				return j
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	list, _ := te.Store().List(jobs.Filter{})
	te.t.Fatalf("no finished %s job for %q within %s; jobs: %+v", tool, file, limit, list)
	return jobs.Job{}
}

func (te *testEngine) search(q string) index.Result {
	te.t.Helper()
	te.Index().Flush()
	res, err := te.Index().Search(context.Background(), index.Query{Text: q, Limit: 100})
	if err != nil {
		te.t.Fatalf("search %q: %v", q, err)
	}
	return res
}

func TestPluginOutcomes(t *testing.T) {
	te := startEngine(t, "[index]\nmax_lines_per_job = 1000\n[jobs]\ntimeout = 3s\n")
	te.addPlugin("ok", `echo "argc=$#"; printf '{"kind": "ok", "size": %d}\n' "$(wc -c < "$1")"; `+
		`echo "{'py': 'dict', 'n': 2}"; echo plain text`,
		"ext_types = .ok")
	te.addPlugin("crash", `echo about to fail; echo boom >&2; exit 3`, "ext_types = .crash")
	te.addPlugin("hang", `echo started; sleep 600`, "ext_types = .hang")
	te.addPlugin("flood", `yes flood | head -n 50000; head -c 300000 /dev/zero | tr '\0' x`, "ext_types = .flood")

	tests := []struct {
		name, file string
		tool       string
		state      jobs.State
		exit       int
		reason     string
	}{
		{"success", "a.ok", "ok", jobs.Done, 0, ""},
		{"spaces and newline in name", "a b\nc.ok", "ok", jobs.Done, 0, ""},
		{"non-UTF-8 name", "caf\xe9.ok", "ok", jobs.Done, 0, ""},
		{"non-zero exit", "x.crash", "crash", jobs.Failed, 3, "plugin exited with code 3: boom"},
		{"hangs past the timeout", "x.hang", "hang", jobs.Failed, 137, "timed out"},
		{"prints a flood, never ends its last line", "x.flood", "flood", jobs.Done, 0, ""},
		{"empty file", "empty.ok", "ok", jobs.Failed, -1, "empty file"},
	}
	files := map[string]string{}
	for _, tt := range tests {
		content := "data"
		if tt.name == "empty file" {
			content = ""
		}
		files[tt.name] = te.dropFile("", tt.file, content)
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := te.waitJob(tt.tool, files[tt.name], time.Minute)
			if j.State != tt.state {
				t.Fatalf("state %s, want %s (reason %q, tail %q)", j.State, tt.state, j.Reason, j.LogTail)
			}
			if tt.exit >= 0 && (j.ExitCode == nil || *j.ExitCode != tt.exit) {
				t.Errorf("exit code %v, want %d", j.ExitCode, tt.exit)
			}
			if !strings.Contains(j.Reason, tt.reason) {
				t.Errorf("reason %q, want it to contain %q", j.Reason, tt.reason)
			}
		})
	}

	// Each plugin run saw its file as one argument, whatever its name, and
	// could read it.
	for _, name := range []string{"success", "spaces and newline in name", "non-UTF-8 name"} {
		j := te.waitJob("ok", files[name], time.Second)
		if len(j.LogTail) == 0 || j.LogTail[0] != "stdout: argc=1" {
			t.Errorf("%s: plugin output %q, want argc=1 first", name, j.LogTail)
		}
	}
	if res := te.search(`+tool:ok +fields.kind:ok +fields.size:4`); res.Total != 3 {
		t.Errorf("JSON lines: %d hits, want 3", res.Total)
	}
	if res := te.search(`fields.py:dict`); res.Total != 3 {
		t.Errorf("python dict lines: %d hits, want 3", res.Total)
	}

	// The flood was capped and said so.
	flood := te.waitJob("flood", files["prints a flood, never ends its last line"], time.Second)
	if res := te.search("+job_id:" + flood.ID); res.Total != 1001 {
		t.Errorf("flood job indexed %d lines, want 1000 plus the notice", res.Total)
	}
	if last := flood.LogTail[len(flood.LogTail)-1]; !strings.Contains(last, "not indexed") {
		t.Errorf("flood tail ends with %q", last)
	}

	// status.json has vent's fields for every finished job.
	data, err := os.ReadFile(te.Config().StatusFile())
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(data), `"VentPlugin"`); n != len(tests) {
		t.Errorf("status.json has %d records, want %d", n, len(tests))
	}
}

func TestChainingThroughOutputFolders(t *testing.T) {
	te := startEngine(t, "")
	// The first tool writes its output into vent's <tool>-<time>-UTC folder
	// beside the input; the second runs only on files from the first.
	te.addPlugin("first stage", `d="$(dirname "$1")/first-stage-2026-01-01-00_00_00.000000-UTC"; `+
		`mkdir -p "$d"; echo derived > "$d/out.step"; echo wrote`, "ext_types = .in")
	te.addPlugin("second", `echo second saw "$1"`,
		"ext_types = .step\nprocess_base = no\nprocess_from_tool = first stage")

	in := te.dropFile("", "x.in", "input")
	if j := te.waitJob("first_stage", in, time.Minute); j.State != jobs.Done {
		t.Fatalf("first stage: %s %s", j.State, j.Reason)
	}
	out := filepath.Join(te.drop, "first-stage-2026-01-01-00_00_00.000000-UTC", "out.step")
	if j := te.waitJob("second", out, time.Minute); j.State != jobs.Done {
		t.Fatalf("second: %s %s", j.State, j.Reason)
	}

	// A .step file in the drop root is not for the second tool.
	root := te.dropFile("", "root.step", "x")
	time.Sleep(time.Second)
	if list, _ := te.Store().List(jobs.Filter{File: "root.step"}); len(list) != 0 {
		t.Errorf("a file in the drop root was given to a process_base=no tool: %+v", list)
	}
	_ = root
}

func TestContainerdGoesAway(t *testing.T) {
	te := startEngine(t, "")
	te.addPlugin("slow", `sleep 3; echo finished`, "ext_types = .slow")

	file := te.dropFile("", "a.slow", "x")
	waitState(t, te, file, jobs.Running)

	// containerd stops mid-job: the engine keeps running and says so.
	te.d.Stop()
	deadline := time.Now().Add(20 * time.Second)
	for te.Status().Containerd.Healthy && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if s := te.Status(); s.Containerd.Healthy || s.Containerd.Error == "" {
		t.Fatalf("status after containerd stopped: %+v", s.Containerd)
	}

	// A file dropped meanwhile is queued durably and waits.
	later := te.dropFile("", "b.slow", "y")
	waitState(t, te, later, jobs.Queued)

	// containerd is back: both jobs finish.
	te.d.Restart(t)
	for _, f := range []string{file, later} {
		j := te.waitJob("slow", f, time.Minute)
		if j.State != jobs.Done {
			t.Errorf("%s: %s %s", filepath.Base(f), j.State, j.Reason)
		}
	}
	if !te.Status().Containerd.Healthy {
		t.Error("status still says containerd is down")
	}
}

func waitState(t *testing.T, te *testEngine, file string, st jobs.State) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		list, _ := te.Store().List(jobs.Filter{File: file})
		for _, j := range list {
			if j.File == file && j.State == st {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s never reached %s", file, st)
}

func TestDisabledAndUnbuiltPluginsAreNotDispatched(t *testing.T) {
	te := startEngine(t, "")
	te.addPlugin("picky", `echo ran`, "ext_types = .p")
	if err := te.SetEnabled("picky", false); err != nil {
		t.Fatal(err)
	}
	file := te.dropFile("", "a.p", "x")
	time.Sleep(time.Second)
	if list, _ := te.Store().List(jobs.Filter{File: file}); len(list) != 0 {
		t.Fatalf("disabled plugin got jobs: %+v", list)
	}

	// Enabled again, it takes files dropped from then on.
	te.SetEnabled("picky", true)
	file = te.dropFile("", "b.p", "y")
	if j := te.waitJob("picky", file, time.Minute); j.State != jobs.Done {
		t.Errorf("after enable: %s %s", j.State, j.Reason)
	}
	if _, err := te.Registry().Get("picky"); err != nil {
		t.Fatal(err)
	}
	var _ = plugins.ErrNotFound
}

func TestGracefulShutdown(t *testing.T) {
	tests := []struct {
		name  string
		grace string
		want  jobs.State
	}{
		{"running job finishes within the grace period", "30s", jobs.Done},
		{"running job past the grace period is re-queued", "300ms", jobs.Queued},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			te := startEngine(t, "[jobs]\nshutdown_grace = "+tt.grace+"\n")
			te.addPlugin("slow", `sleep 2; echo finished`, "ext_types = .slow")
			file := te.dropFile("", "a.slow", "x")
			waitState(t, te, file, jobs.Running)

			te.cancel()
			select {
			case <-te.done:
			case <-time.After(time.Minute):
				t.Fatal("engine did not stop")
			}
			te.done <- nil // for the cleanup

			list, err := te.Store().List(jobs.Filter{File: file})
			if err != nil || len(list) != 1 {
				t.Fatalf("jobs: %+v, %v", list, err)
			}
			if list[0].State != tt.want {
				t.Errorf("state after stop: %s (%s), want %s", list[0].State, list[0].Reason, tt.want)
			}
		})
	}
}

func TestReload(t *testing.T) {
	te := startEngine(t, "")
	cfg := *te.Config()
	cfg.JobTimeout = 2 * time.Second
	cfg.Workers = 7
	restart := te.Reload(&cfg)

	if got := te.live().JobTimeout; got != 2*time.Second {
		t.Errorf("job timeout after reload: %s", got)
	}
	if len(restart) != 1 || restart[0] != "[jobs] workers" {
		t.Errorf("restart-only changes: %q, want [jobs] workers", restart)
	}

	// The new timeout applies to the next job.
	te.addPlugin("hang", `sleep 60`, "ext_types = .h")
	file := te.dropFile("", "x.h", "x")
	if j := te.waitJob("hang", file, 30*time.Second); j.State != jobs.Failed || !strings.Contains(j.Reason, "timed out after 2s") {
		t.Errorf("job after reload: %s %q", j.State, j.Reason)
	}
	if err := te.Alive(context.Background()); err != nil {
		t.Errorf("Alive: %v", err)
	}
}

// TestMissingImageRebuilt covers a restore onto a box without the plugin
// images: the image is gone, the plugin is marked unbuilt so no job burns
// its attempts, and the daemon rebuilds it from the source folder.
func TestMissingImageRebuilt(t *testing.T) {
	te := startEngine(t, "")
	te.addPlugin("rb", `echo rebuilt ok`, "ext_types = .rb")
	p, _ := te.Registry().Get("rb")
	c, err := te.Containerd()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := c.RemoveImage(ctx, p.Image); err != nil {
		t.Fatal(err)
	}

	te.checkImages(ctx, c)
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if q, _ := te.Registry().Get("rb"); q.Built {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if ok, err := c.ImageExists(ctx, p.Image); err != nil || !ok {
		t.Fatalf("image %s after the rebuild: %v, %v", p.Image, ok, err)
	}
	file := te.dropFile("", "x.rb", "x")
	if j := te.waitJob("rb", file, time.Minute); j.State != jobs.Done || j.Attempts != 1 {
		t.Errorf("job after the rebuild: %s after %d attempts (%q)", j.State, j.Attempts, j.Reason)
	}
}
