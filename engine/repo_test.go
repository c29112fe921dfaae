package engine

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/ventapp/ventapp/jobs"
	"github.com/ventapp/ventapp/plugins"
)

// TestAddFromGit adds the tools of a git repository laid out like vent's
// plugin repositories (nested tool folders), builds them and runs one.
func TestAddFromGit(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("skipping: git is not installed")
	}
	te := startEngine(t, "")

	repo := filepath.Join(t.TempDir(), "acme", "sensor-plugins")
	for _, tool := range []string{"hello", "extras/bye"} {
		dir := filepath.Join(repo, tool)
		os.MkdirAll(dir, 0o755)
		os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(fmt.Sprintf(
			"FROM %s\nENTRYPOINT [\"/bin/sh\", \"-c\", \"echo %s from git; cat \\\"$1\\\"\", \"p\"]\n",
			baseImage, filepath.Base(tool))), 0o644)
		os.WriteFile(filepath.Join(dir, "vent.template"), []byte(fmt.Sprintf(
			"[info]\nname = %s\n[settings]\next_types = .%s\n", filepath.Base(tool), filepath.Base(tool))), 0o644)
	}
	os.MkdirAll(filepath.Join(repo, "docs"), 0o755)
	os.WriteFile(filepath.Join(repo, "docs", "Dockerfile"), []byte("FROM scratch\n"), 0o644) // no template
	for _, args := range [][]string{
		{"init", "-q", "-b", "main"},
		{"add", "."},
		{"-c", "user.email=t@example.org", "-c", "user.name=t", "commit", "-q", "-m", "tools"},
	} {
		if out, err := exec.Command("git", append([]string{"-C", repo}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}

	res, err := te.AddRepo(context.Background(), plugins.RepoOptions{URL: "file://" + repo}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Tools) != 2 || len(res.Skipped) != 1 || res.Branch != "main" || len(res.Commit) != 40 {
		t.Fatalf("result: %+v", res)
	}
	for _, r := range res.Tools {
		if !r.Built {
			t.Errorf("%s not built: %s", r.Tool, r.Error)
		}
	}
	p, err := te.Registry().Get("bye")
	if err != nil || p.Image != "acme/sensor-plugins-extras-bye:main" {
		t.Fatalf("bye: %+v, %v", p, err)
	}

	file := te.dropFile("", "x.bye", "payload")
	j := te.waitJob("bye", file, time.Minute)
	if j.State != jobs.Done || len(j.LogTail) < 2 || j.LogTail[0] != "stdout: bye from git" {
		t.Errorf("job: %s %q %q", j.State, j.Reason, j.LogTail)
	}

	// A second source may not take a name that is already installed.
	other := filepath.Join(t.TempDir(), "other", "hello")
	os.MkdirAll(filepath.Join(other, "hello"), 0o755)
	exec.Command("cp", "-r", filepath.Join(repo, "hello"), other).Run()
	exec.Command("git", "-C", other, "init", "-q", "-b", "main").Run()
	exec.Command("git", "-C", other, "add", ".").Run()
	exec.Command("git", "-C", other, "-c", "user.email=t@example.org", "-c", "user.name=t", "commit", "-q", "-m", "x").Run()
	if _, err := te.AddRepo(context.Background(), plugins.RepoOptions{URL: "file://" + other}, nil); err == nil {
		t.Error("a second repository took the installed tool name hello")
	}
}
