package engine

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ventapp/ventapp/jobs"
	"github.com/ventapp/ventapp/plugins"
)

// waitRecorded waits until the intake has recorded path.
func (te *testEngine) waitRecorded(path string) {
	te.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if _, ok, err := te.Store().File(path); err != nil {
			te.t.Fatal(err)
		} else if ok {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	te.t.Fatalf("%s was never recorded", path)
}

// A plugin added after files arrived runs on them only when asked, once
// per content, and a bad path or tool in the request queues nothing.
func TestProcessFilesAlreadyDropped(t *testing.T) {
	te := startEngine(t, "")
	ctx := context.Background()
	old := te.dropFile("", "old one.late", "first")
	nested := te.dropFile("sub", "nested.late", "second")
	empty := te.dropFile("sub", "empty.late", "")
	te.dropFile("sub/.hidden", "skipped.late", "hidden")
	te.dropFile("", "other.txt", "not claimed")
	for _, p := range []string{old, nested, empty} {
		te.waitRecorded(p)
	}

	// vent's rules: files in the drop root, and in a folder named sub.
	te.addPlugin("late", `echo late saw "$1"`, "ext_types = .late\nprocess_from_tool = sub")
	te.dropFile("", "new.late", "after the plugin")
	time.Sleep(time.Second)
	if list, _ := te.Store().List(jobs.Filter{File: "old one.late"}); len(list) != 0 {
		t.Fatalf("a file recorded before the plugin was added got a job by itself: %+v", list)
	}

	outside := filepath.Join(t.TempDir(), "x.late")
	os.WriteFile(outside, []byte("x"), 0o644)
	link := filepath.Join(te.drop, "link.late")
	if err := os.Symlink(outside, link); err != nil {
		t.Fatal(err)
	}
	bad := []struct {
		name  string
		paths []string
		tools []string
		want  error
		text  string
	}{
		{"outside", []string{old, outside}, nil, ErrNotInDrop, "outside the drop folder"},
		{"relative", []string{"old one.late"}, nil, ErrNotInDrop, "absolute"},
		{"symlink", []string{old, link}, nil, ErrNotInDrop, "symbolic link"},
		{"ignored", []string{filepath.Join(te.drop, "sub", ".hidden")}, nil, ErrNotInDrop, `".hidden"`},
		{"missing", []string{old, filepath.Join(te.drop, "gone.late")}, nil, fs.ErrNotExist, "gone.late"},
		{"unknown tool", []string{old}, []string{"late", "nope"}, plugins.ErrNotFound, "nope"},
		{"no path", nil, nil, ErrNotInDrop, "no path"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			res, err := te.Process(ctx, tc.paths, tc.tools)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("err %v, want %v naming %q", err, tc.want, tc.text)
			}
			if len(res) != 0 {
				t.Errorf("results for a refused request: %+v", res)
			}
		})
	}
	if list, _ := te.Store().List(jobs.Filter{File: "old one.late"}); len(list) != 0 {
		t.Fatalf("a refused request queued jobs: %+v", list)
	}

	res, err := te.Process(ctx, []string{te.drop}, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]ProcessResult{}
	for _, r := range res {
		got[r.File] = r
	}
	if _, ok := got[filepath.Join(te.drop, "sub", ".hidden", "skipped.late")]; ok {
		t.Error("a file under a dot-folder was processed")
	}
	if r := got[filepath.Join(te.drop, "other.txt")]; len(r.Jobs) != 0 || !strings.Contains(r.Note, "no enabled") {
		t.Errorf("unclaimed file: %+v", r)
	}
	if r := got[filepath.Join(te.drop, "new.late")]; len(r.Jobs) != 0 || !strings.Contains(r.Note, "already") {
		t.Errorf("file dropped after the plugin: %+v", r)
	}
	if r := got[empty]; len(r.Jobs) != 1 || r.Jobs[0].State != jobs.Failed || !strings.Contains(r.Note, "empty") {
		t.Errorf("empty file: %+v", r)
	}
	for _, p := range []string{old, nested} {
		r := got[p]
		if len(r.Jobs) != 1 || r.Jobs[0].Tool != "late" {
			t.Fatalf("%s: %+v", p, r)
		}
		if j := te.waitJob("late", p, time.Minute); j.State != jobs.Done {
			t.Errorf("%s: %s %s", p, j.State, j.Reason)
		}
	}
	if hits := te.search(`+"late saw"`); hits.Total < 3 {
		t.Errorf("%d lines found from the late plugin, want 3 or more", hits.Total)
	}

	// Asking again queues nothing: every file has its job.
	res, err = te.Process(ctx, []string{old, filepath.Join(te.drop, "sub")}, []string{"late"})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if len(r.Jobs) != 0 {
			t.Errorf("second request queued %+v", r)
		}
	}
	if len(res) != 3 {
		t.Errorf("%d results for a file and a folder of two files, want 3: %+v", len(res), res)
	}

	// New content at a known path is new work for Process too, even
	// before the watcher has seen it settle.
	os.WriteFile(old, []byte("changed"), 0o644)
	res, err = te.Process(ctx, []string{old}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || len(res[0].Jobs) != 1 {
		t.Fatalf("changed file: %+v", res)
	}
	list, _ := te.Store().List(jobs.Filter{File: "old one.late"})
	if len(list) != 2 {
		t.Errorf("%d jobs for the changed file, want 2 (one per content)", len(list))
	}
}
