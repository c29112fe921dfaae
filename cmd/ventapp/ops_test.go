package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ventapp/ventapp/jobs"
)

// runCLI runs one command line and returns its exit code and output.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	env := &cliEnv{stdout: &out, stderr: &errb}
	code := run(context.Background(), env, args)
	return code, out.String(), errb.String()
}

// TestBackupRestoreResetCLI: an offline backup of a stopped installation,
// a reset (containerd skipped), and a restore that brings the jobs back.
func TestBackupRestoreResetCLI(t *testing.T) {
	root := t.TempDir()
	data := filepath.Join(root, "data")
	drop := filepath.Join(root, "drop")
	cfgPath := filepath.Join(data, "vent.cfg")
	if err := os.MkdirAll(data, 0o750); err != nil {
		t.Fatal(err)
	}
	cfg := "[main]\nfiles = " + drop + "\n[containerd]\naddress = " + filepath.Join(root, "no.sock") + "\n"
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := jobs.Open(filepath.Join(data, "jobs.db"), jobs.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddFile(jobs.FileRecord{Path: "/x.pcap", Size: 1, SHA256: strings.Repeat("a", 64)},
		[]string{"tool"}); err != nil {
		t.Fatal(err)
	}
	s.Close()

	archive := filepath.Join(root, "b.tar.gz")
	code, out, errOut := runCLI(t, "--data-dir", data, "backup", "-o", archive)
	if code != 0 || !strings.Contains(out, archive) || !strings.Contains(errOut, "no daemon answers") {
		t.Fatalf("backup: exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}

	code, _, errOut = runCLI(t, "--data-dir", data, "reset")
	if code != 2 || !strings.Contains(errOut, "--yes") {
		t.Errorf("reset without --yes: exit %d, stderr %s", code, errOut)
	}
	code, _, errOut = runCLI(t, "--data-dir", data, "reset", "--yes")
	if code == 0 || !strings.Contains(errOut, "nothing was removed") {
		t.Errorf("reset with containerd down: exit %d, stderr %s", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(data, "jobs.db")); err != nil {
		t.Fatal("refused reset removed the store")
	}
	code, out, errOut = runCLI(t, "--data-dir", data, "reset", "--yes", "--skip-containerd")
	if code != 0 || !strings.Contains(out, "removed\tstate "+filepath.Join(data, "jobs.db")) {
		t.Fatalf("reset: exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}

	code, out, errOut = runCLI(t, "--data-dir", data, "restore", archive)
	if code != 0 || !strings.Contains(out, "restored\tstate jobs.db") {
		t.Fatalf("restore: exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	s, err = jobs.Open(filepath.Join(data, "jobs.db"), jobs.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if n, _ := s.Counts(); n[jobs.Queued] != 1 {
		t.Errorf("restored counts = %v, want one queued job", n)
	}
	if _, err := os.Stat(cfgPath); err != nil {
		t.Errorf("config inside the data dir not restored: %v", err)
	}
}
