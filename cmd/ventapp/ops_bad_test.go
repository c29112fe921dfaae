package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ventapp/ventapp/internal/ctrdtest"
	"github.com/ventapp/ventapp/jobs"
)

// serveOnce runs `ventapp serve` in the test process with a deadline, so a
// daemon that wrongly starts still ends, and returns its exit code and
// stderr.
func serveOnce(t *testing.T, cfgPath string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	env := &cliEnv{stdout: &out, stderr: &errb}
	code := run(ctx, env, []string{"serve", "--config", cfgPath})
	if ctx.Err() != nil {
		t.Fatalf("serve ran until the deadline instead of refusing to start; stderr:\n%s", errb.String())
	}
	return code, errb.String()
}

// TestServeBadConfigSyntax: a config the parser cannot read stops the
// daemon at start with a message naming the file and the line.
func TestServeBadConfigSyntax(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name, text, want string
	}{
		{"unclosed section", "[main]\nfiles = /x\n[jobs\nworkers = 2\n", ":3:"},
		{"bad value", "[main]\nfiles = " + filepath.Join(dir, "drop") + "\n\n[jobs]\nworkers = many\n",
			"workers"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "-")+".cfg")
			if err := os.WriteFile(path, []byte(c.text), 0o600); err != nil {
				t.Fatal(err)
			}
			code, errOut := serveOnce(t, path)
			if code == 0 {
				t.Fatalf("serve started on a broken config; stderr:\n%s", errOut)
			}
			if !strings.Contains(errOut, path) || !strings.Contains(errOut, c.want) {
				t.Errorf("stderr %q should name %s and %q", errOut, path, c.want)
			}
			if strings.Contains(errOut, "panic") || strings.Contains(errOut, "goroutine ") {
				t.Errorf("serve crashed:\n%s", errOut)
			}
		})
	}
}

// mountTmpfs mounts a small tmpfs at dir and unmounts it when the test
// ends. It skips unless the test runs as root.
func mountTmpfs(t *testing.T, dir string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: mounting a tmpfs needs root")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=4m"); err != nil {
		t.Skipf("skipping: cannot mount a tmpfs: %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
}

func remountReadOnly(t *testing.T, dir string) {
	t.Helper()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_REMOUNT|syscall.MS_RDONLY, "size=4m"); err != nil {
		t.Fatalf("remount %s read-only: %v", dir, err)
	}
}

// TestServeReadOnlyDataDir: a data dir on a read-only filesystem, both one
// that does not exist yet and one holding a store from an earlier run,
// gives a clear error naming the path, and no crash.
func TestServeReadOnlyDataDir(t *testing.T) {
	root := t.TempDir()
	cases := []struct {
		name     string
		populate bool
		want     string
	}{
		{"empty", false, "data dir"},
		{"with a store", true, "jobs.db"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mnt := filepath.Join(root, strings.ReplaceAll(c.name, " ", "-"))
			mountTmpfs(t, mnt)
			data := filepath.Join(mnt, "data")
			if c.populate {
				if err := os.MkdirAll(data, 0o750); err != nil {
					t.Fatal(err)
				}
				s, err := jobs.Open(filepath.Join(data, "jobs.db"), jobs.Options{NoSync: true})
				if err != nil {
					t.Fatal(err)
				}
				s.Close()
			}
			remountReadOnly(t, mnt)

			cfgPath := filepath.Join(root, c.name+".cfg")
			cfg := "[main]\nfiles = " + filepath.Join(root, "drop") + "\n[ventapp]\ndata_dir = " + data +
				"\n[containerd]\naddress = " + filepath.Join(root, "none.sock") + "\n"
			if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
				t.Fatal(err)
			}
			code, errOut := serveOnce(t, cfgPath)
			if code == 0 {
				t.Fatalf("serve started on a read-only data dir; stderr:\n%s", errOut)
			}
			for _, want := range []string{c.want, data, "read-only file system"} {
				if !strings.Contains(errOut, want) {
					t.Errorf("stderr %q lacks %q", errOut, want)
				}
			}
			if strings.Contains(errOut, "panic") || strings.Contains(errOut, "goroutine ") {
				t.Errorf("serve crashed:\n%s", errOut)
			}
		})
	}
}

// TestSIGTERMDuringBurst drops every shared capture, sends SIGTERM while
// jobs run (with a 1 s grace, so some are cut short and re-queued), checks
// the daemon exits cleanly, restarts it, and expects every file to end done
// or failed, none lost.
func TestSIGTERMDuringBurst(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping end-to-end test in -short mode")
	}
	d := ctrdtest.Start(t)
	valid, malformed := captures(t)
	all := append(valid, malformed...)
	bin, plugin := buildBinaries(t)

	a := newAppliance(t, bin, d)
	cfg, err := os.ReadFile(a.config)
	if err != nil {
		t.Fatal(err)
	}
	cfg = bytes.Replace(cfg, []byte("[jobs]\n"), []byte("[jobs]\nshutdown_grace = 1s\n"), 1)
	if err := os.WriteFile(a.config, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	a.start()
	if out := a.mustRun("plugins", "add", plugin); !strings.Contains(out, "built") {
		t.Fatalf("plugins add: %s", out)
	}

	a.mustRun(append([]string{"drop"}, all...)...)
	waitFor(t, 60*time.Second, func() bool {
		for _, j := range a.jobs() {
			if j.State == jobs.Running {
				return true
			}
		}
		return false
	})
	cmd := a.cmd
	cmd.Process.Signal(syscall.SIGTERM)
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	select {
	case err := <-waited:
		if err != nil {
			t.Errorf("serve exited with %v after SIGTERM", err)
		}
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		<-waited
		t.Fatal("serve did not stop within 60s of SIGTERM")
	}
	a.cmd = nil

	// Read the store directly with the daemon stopped: a graceful stop
	// leaves no job marked running (finished, or re-queued after the grace).
	st, err := jobs.Open(filepath.Join(filepath.Dir(a.config), "data", "jobs.db"), jobs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	mid, err := st.List(jobs.Filter{})
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	queued := 0
	for _, j := range mid {
		switch j.State {
		case jobs.Running:
			t.Errorf("job %s (%s) still marked running after a graceful stop", j.ID, filepath.Base(j.File))
		case jobs.Queued:
			queued++
		}
	}
	t.Logf("after SIGTERM: %d jobs, %d still queued", len(mid), queued)

	a.start()
	list := a.waitSettled(len(all), 3*time.Minute)
	if len(list) != len(all) {
		t.Errorf("got %d jobs after the restart, want %d:\n%s", len(list), len(all), summarize(list))
	}
	seen := map[string]bool{}
	for _, j := range list {
		seen[filepath.Base(j.File)] = true
		if j.State != jobs.Done && j.State != jobs.Failed {
			t.Errorf("job %s (%s): state %s after the restart", j.ID, filepath.Base(j.File), j.State)
		}
	}
	for _, p := range all {
		if !seen[filepath.Base(p)] {
			t.Errorf("%s: no job after the restart", filepath.Base(p))
		}
	}
}
