package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ventapp/ventapp/internal/ctrdtest"
	"github.com/ventapp/ventapp/jobs"
)

// pcapDir holds the shared real captures, beside the repository.
var pcapDir = filepath.Join("..", "..", "..", "shared", "testdata", "pcaps")

// appliance is a `ventapp serve` process under test, with its own private
// containerd, drop folder and data dir.
type appliance struct {
	t      *testing.T
	bin    string
	config string
	drop   string
	log    string
	cmd    *exec.Cmd
}

// buildBinaries returns the ventapp binary and a copy, in a folder of
// the test's own, of the example plugin: its static binary beside its
// Dockerfile and template, so the source tree is not written to. Both are
// compiled once per test run (see builtOnce).
func buildBinaries(t *testing.T) (bin, plugin string) {
	t.Helper()
	bin = ventappBinary(t)
	shared := builtOnce(t, "pcap-summary", func(dir string) error {
		out, err := goBuildOut([]string{"CGO_ENABLED=0"}, "-o", filepath.Join(dir, "pcap-summary"),
			"../../examples/plugins/pcap-summary")
		if err != nil {
			return fmt.Errorf("%w\n%s", err, out)
		}
		return nil
	})

	plugin = filepath.Join(t.TempDir(), "pcap-summary")
	if err := os.MkdirAll(plugin, 0o755); err != nil {
		t.Fatal(err)
	}
	copies := map[string]string{
		filepath.Join(shared, "pcap-summary"): filepath.Join(plugin, "pcap-summary"),
	}
	for _, name := range []string{"Dockerfile", "vent.template"} {
		copies[filepath.Join("..", "..", "examples", "plugins", "pcap-summary", name)] = filepath.Join(plugin, name)
	}
	for from, to := range copies {
		data, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(to, data, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return bin, plugin
}

// ventappBinary returns the ventapp binary built from this source, once
// per test run. Tests only run it: none may change it.
func ventappBinary(t *testing.T) string {
	t.Helper()
	dir := builtOnce(t, "ventapp", func(dir string) error {
		out, err := goBuildOut(nil, "-o", filepath.Join(dir, "ventapp"), ".")
		if err != nil {
			return fmt.Errorf("%w\n%s", err, out)
		}
		return nil
	})
	return filepath.Join(dir, "ventapp")
}

// built holds what builtOnce made, by name, under builtRoot.
var (
	builtMu   sync.Mutex
	builtRoot string
	built     = map[string]error{}
)

// builtOnce runs build in a folder of its own the first time name is asked
// for in this test process, and returns that folder; TestMain removes
// them all at the end. A failed build fails every test that wants it.
func builtOnce(t *testing.T, name string, build func(dir string) error) string {
	t.Helper()
	builtMu.Lock()
	defer builtMu.Unlock()

	if builtRoot == "" {
		root, err := os.MkdirTemp("", "ventapp-cmd-test-")
		if err != nil {
			t.Fatal(err)
		}
		builtRoot = root
	}
	dir := filepath.Join(builtRoot, name)
	err, done := built[name]
	if !done {
		if err = os.MkdirAll(dir, 0o755); err == nil {
			err = build(dir)
		}
		built[name] = err
	}
	if err != nil {
		t.Fatalf("building %s: %v", name, err)
	}
	return dir
}

// goBuildOut runs go build with env added and returns its output.
func goBuildOut(env []string, args ...string) ([]byte, error) {
	cmd := exec.Command("go", append([]string{"build"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	return cmd.CombinedOutput()
}

func newAppliance(t *testing.T, bin string, d *ctrdtest.Daemon) *appliance {
	t.Helper()
	dir := t.TempDir()
	a := &appliance{
		t:      t,
		bin:    bin,
		config: filepath.Join(dir, "vent.cfg"),
		drop:   filepath.Join(dir, "drop files"), // a space, on purpose
		log:    filepath.Join(dir, "serve.log"),
	}
	cfg := fmt.Sprintf(`[main]
files = %s
[ventapp]
data_dir = %s
log_level = debug
[containerd]
address = %s
namespace = %s
fifo_dir = %s
[jobs]
workers = 2
timeout = 2m
retry_backoff = 1s
[drop]
quiet_period = 300ms
`, a.drop, filepath.Join(dir, "data"), d.Address, d.Namespace, d.FIFODir)
	if err := os.WriteFile(a.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		a.stop(syscall.SIGTERM)
		if t.Failed() {
			data, _ := os.ReadFile(a.log)
			t.Logf("serve log:\n%s", tail(string(data), 8000))
		}
	})
	return a
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func (a *appliance) start() {
	a.t.Helper()
	logf, err := os.OpenFile(a.log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		a.t.Fatal(err)
	}
	a.cmd = exec.Command(a.bin, "serve", "--config", a.config)
	a.cmd.Stdout, a.cmd.Stderr = logf, logf
	if err := a.cmd.Start(); err != nil {
		a.t.Fatal(err)
	}
	logf.Close()

	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if _, _, err := a.run("status"); err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	a.t.Fatal("ventapp serve did not answer on its socket within 30s")
}

func (a *appliance) stop(sig syscall.Signal) {
	if a.cmd == nil || a.cmd.Process == nil {
		return
	}
	a.cmd.Process.Signal(sig)
	done := make(chan struct{})
	go func() { a.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		a.cmd.Process.Kill()
		<-done
	}
	a.cmd = nil
}

// command is a client command against the appliance, not yet started.
func (a *appliance) command(args ...string) *exec.Cmd {
	return exec.Command(a.bin, append([]string{"--config", a.config}, args...)...)
}

// run executes a client command against the appliance.
func (a *appliance) run(args ...string) (stdout, stderr string, err error) {
	cmd := a.command(args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

func (a *appliance) mustRun(args ...string) string {
	a.t.Helper()
	out, errOut, err := a.run(args...)
	if err != nil {
		a.t.Fatalf("ventapp %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

func (a *appliance) jobs() []jobs.Job {
	a.t.Helper()
	var list []jobs.Job
	if err := json.Unmarshal([]byte(a.mustRun("jobs", "--json", "--limit", "100000")), &list); err != nil {
		a.t.Fatal(err)
	}
	return list
}

// waitSettled waits until want jobs exist and none is queued or running.
func (a *appliance) waitSettled(want int, limit time.Duration) []jobs.Job {
	a.t.Helper()
	deadline := time.Now().Add(limit)
	var list []jobs.Job
	for time.Now().Before(deadline) {
		list = a.jobs()
		busy := 0
		for _, j := range list {
			if j.State == jobs.Queued || j.State == jobs.Running {
				busy++
			}
		}
		if len(list) >= want && busy == 0 {
			return list
		}
		time.Sleep(250 * time.Millisecond)
	}
	a.t.Fatalf("after %s: %d jobs, want %d, not all finished:\n%s", limit, len(list), want, summarize(list))
	return nil
}

func summarize(list []jobs.Job) string {
	var b strings.Builder
	for _, j := range list {
		fmt.Fprintf(&b, "%s %s %s %s\n", j.ID, j.State, filepath.Base(j.File), j.Reason)
	}
	return b.String()
}

// captures lists the shared captures: valid ones and malformed ones.
func captures(t *testing.T) (valid, malformed []string) {
	t.Helper()
	for _, sub := range []string{"", "malformed"} {
		entries, err := os.ReadDir(filepath.Join(pcapDir, sub))
		if err != nil {
			t.Skipf("shared captures not found at %s: %v", pcapDir, err)
		}
		for _, e := range entries {
			if e.IsDir() || !(strings.HasSuffix(e.Name(), ".pcap") || strings.HasSuffix(e.Name(), ".pcapng")) {
				continue
			}
			p, _ := filepath.Abs(filepath.Join(pcapDir, sub, e.Name()))
			if sub == "" {
				valid = append(valid, p)
			} else {
				malformed = append(malformed, p)
			}
		}
	}
	return valid, malformed
}

func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping end-to-end test in -short mode")
	}
	d := ctrdtest.Start(t)
	valid, malformed := captures(t)
	bin, plugin := buildBinaries(t)

	a := newAppliance(t, bin, d)
	a.start()

	out := a.mustRun("plugins", "add", plugin)
	if !strings.Contains(out, "built") {
		t.Fatalf("plugins add: %s", out)
	}

	// Every capture, valid and malformed, goes in through the CLI.
	a.mustRun(append([]string{"drop"}, append(valid, malformed...)...)...)
	list := a.waitSettled(len(valid)+len(malformed), 3*time.Minute)

	byName := map[string]jobs.Job{}
	for _, j := range list {
		byName[filepath.Base(j.File)] = j
	}
	for _, p := range valid {
		j, ok := byName[filepath.Base(p)]
		if !ok {
			t.Errorf("%s: no job", filepath.Base(p))
			continue
		}
		if j.State != jobs.Done {
			t.Errorf("%s: state %s, want done (reason %q, log %q)", filepath.Base(p), j.State, j.Reason, j.LogTail)
		}
	}
	for _, p := range malformed {
		j, ok := byName[filepath.Base(p)]
		if !ok {
			t.Errorf("%s: no job", filepath.Base(p))
			continue
		}
		if j.State != jobs.Failed || j.Reason == "" {
			t.Errorf("%s: state %s reason %q, want failed with a reason", filepath.Base(p), j.State, j.Reason)
		}
	}

	// Known content is searchable.
	searches := []struct{ query, want string }{
		{"fields.type:dns +fields.query:www.tcpdump.org", "dns-udp.pcap"},
		{"fields.type:http", "http-get.pcap"},
	}
	for _, s := range searches {
		a.waitSearch(s.query, s.want)
	}

	// In output order, the hits of the dns-udp.pcap job come by time and
	// line, and each names its tool and file.
	var ordered struct {
		Hits []struct {
			Tool string    `json:"tool"`
			File string    `json:"file"`
			Line int       `json:"line"`
			Time time.Time `json:"time"`
		} `json:"hits"`
	}
	byTime := a.mustRun("search", "--json", "--by-time", "--limit", "1000",
		`+file:"dns-udp.pcap" +tool:pcap-summary`)
	if err := json.Unmarshal([]byte(byTime), &ordered); err != nil {
		t.Fatal(err)
	}
	if len(ordered.Hits) < 2 {
		t.Fatalf("dns-udp.pcap job: %d hits in output order, want several", len(ordered.Hits))
	}
	for i, h := range ordered.Hits {
		if h.Tool != "pcap-summary" || filepath.Base(h.File) != "dns-udp.pcap" {
			t.Errorf("hit %d: tool %q file %q", i, h.Tool, h.File)
		}
		if p := ordered.Hits[max(i-1, 0)]; h.Time.Before(p.Time) || h.Line < p.Line {
			t.Errorf("hit %d (line %d at %v) after line %d at %v", i, h.Line, h.Time, p.Line, p.Time)
		}
	}

	// A bad query is the user's mistake, with the parser's message.
	if _, errOut, err := a.run("search", "fields.query:"); err == nil || !strings.Contains(errOut, "query") {
		t.Errorf("bad query: err %v, stderr %q", err, errOut)
	}

	// Crash mid-burst: drop everything again, SIGKILL the daemon while jobs
	// run, restart it, and every job must still end done or failed.
	all := append(valid, malformed...)
	a.mustRun(append([]string{"drop"}, all...)...)
	waitFor(t, 30*time.Second, func() bool {
		for _, j := range a.jobs() {
			if j.State == jobs.Running {
				return true
			}
		}
		return false
	})
	a.stop(syscall.SIGKILL)
	a.start()
	list = a.waitSettled(2*len(all), 3*time.Minute)
	if len(list) != 2*len(all) {
		t.Errorf("got %d jobs after the restart, want %d:\n%s", len(list), 2*len(all), summarize(list))
	}
	for _, j := range list {
		if j.State != jobs.Done && j.State != jobs.Failed {
			t.Errorf("job %s (%s): state %s after the restart", j.ID, filepath.Base(j.File), j.State)
		}
	}
}

// waitSearch waits until a search finds hits from every file named (base
// names). Output becomes searchable within the index's flush interval of a
// job's end, so the first try may come too early.
func (a *appliance) waitSearch(query string, files ...string) {
	a.t.Helper()
	var missing []string
	var total uint64
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		var res struct {
			Total uint64 `json:"total"`
			Hits  []struct {
				File string `json:"file"`
			} `json:"hits"`
		}
		if err := json.Unmarshal([]byte(a.mustRun("search", "--json", "--limit", "1000", query)), &res); err != nil {
			a.t.Fatal(err)
		}
		found := map[string]bool{}
		for _, h := range res.Hits {
			found[filepath.Base(h.File)] = true
		}
		missing, total = nil, res.Total
		for _, f := range files {
			if !found[f] {
				missing = append(missing, f)
			}
		}
		if len(missing) == 0 {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	a.t.Errorf("search %q: %d hits, none from %v", query, total, missing)
}

func waitFor(t *testing.T, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("condition not met within %s", limit)
}
