package engine

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

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

	outsideDir := t.TempDir()
	outside := filepath.Join(outsideDir, "x.late")
	os.WriteFile(outside, []byte("x"), 0o644)
	link := filepath.Join(te.drop, "link.late")
	if err := os.Symlink(outside, link); err != nil {
		t.Fatal(err)
	}
	// A linked folder, named as the plugin's folder, leads outside.
	if err := os.Symlink(outsideDir, filepath.Join(te.drop, "linked")); err != nil {
		t.Fatal(err)
	}
	te.addPlugin("off", `echo off`, "ext_types = .late")
	if err := te.SetEnabled("off", false); err != nil {
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
		{"through a linked folder", []string{filepath.Join(te.drop, "linked", "x.late")}, nil,
			ErrNotInDrop, "linked is a symbolic link"},
		{"a linked folder", []string{filepath.Join(te.drop, "linked")}, nil, ErrNotInDrop, "symbolic link"},
		{"NUL", []string{old + "\x00"}, nil, ErrNotInDrop, "NUL"},
		{"newline in a name", []string{filepath.Join(te.drop, "a\nb")}, nil, fs.ErrNotExist, `a\nb`},
		{"disabled tool", []string{old}, []string{"off"}, ErrToolNotReady, "off is disabled"},
		{"empty tool name", []string{old}, []string{" "}, plugins.ErrNotFound, "empty tool name"},
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

	// Overlapping paths: each file once, in path order.
	res, err := te.Process(ctx, []string{te.drop, old, filepath.Join(te.drop, "sub")}, []string{"late"})
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, r := range res {
		files = append(files, r.File)
	}
	if !slices.IsSorted(files) || len(slices.Compact(slices.Clone(files))) != len(files) {
		t.Errorf("files not in path order or not once each: %q", files)
	}
	got := map[string]ProcessResult{}
	for _, r := range res {
		got[r.File] = r
	}
	if _, ok := got[filepath.Join(te.drop, "sub", ".hidden", "skipped.late")]; ok {
		t.Error("a file under a dot-folder was processed")
	}
	if r := got[filepath.Join(te.drop, "other.txt")]; len(r.Jobs) != 0 || r.Note != "not claimed by late" {
		t.Errorf("unclaimed file: %+v", r)
	}
	if r := got[filepath.Join(te.drop, "new.late")]; len(r.Jobs) != 0 || !strings.Contains(r.Note, "already") {
		t.Errorf("file dropped after the plugin: %+v", r)
	}
	r := got[empty]
	if len(r.Jobs) != 1 || r.Jobs[0].State != jobs.Failed || !strings.Contains(r.Note, "empty") {
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

	// A file written in place just now may still be being written: it
	// waits for the watcher. Once still for the quiet period, its new
	// content is new work for Process too.
	os.WriteFile(old, []byte("changed"), 0o644)
	res, err = te.Process(ctx, []string{old}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || len(res[0].Jobs) != 0 || !strings.Contains(res[0].Note, "may still be written") {
		t.Fatalf("file changed just now: %+v", res)
	}
	past := time.Now().Add(-time.Minute)
	os.Chtimes(old, past, past)
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

// A file that cannot be queued now gets a note, not an error.
func TestSettledRecord(t *testing.T) {
	te := startEngine(t, "")
	dir := filepath.Join(te.drop, "settled")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	old := filepath.Join(dir, "old")
	os.WriteFile(old, []byte("content"), 0o644)
	past := time.Now().Add(-time.Hour)
	os.Chtimes(old, past, past)
	fresh := filepath.Join(dir, "fresh")
	os.WriteFile(fresh, []byte("content"), 0o644)
	future := filepath.Join(dir, "future")
	os.WriteFile(future, []byte("x"), 0o644)
	later := time.Now().Add(time.Hour)
	os.Chtimes(future, later, later)

	tests := []struct{ path, note string }{
		{old, ""},
		{future, ""},
		{fresh, "may still be written"},
		{filepath.Join(dir, "gone"), "removed before"},
		{dir, "no longer a regular file"},
		{filepath.Join(t.TempDir(), "elsewhere"), "removed before"},
	}
	for _, tt := range tests {
		rec, note := te.settledRecord(tt.path)
		if tt.note == "" {
			if note != "" || rec.Path != tt.path || len(rec.SHA256) != 64 {
				t.Errorf("%s: record %+v, note %q", tt.path, rec, note)
			}
			continue
		}
		if !strings.Contains(note, tt.note) {
			t.Errorf("%s: note %q, want %q", tt.path, note, tt.note)
		}
	}
}

// A folder of the drop folder swapped back and forth with a link to
// elsewhere while jobs start never shows a plugin what lies elsewhere:
// each job runs on the real folder or is refused. (Without the check
// after runc's mounts, about half of such jobs read the other folder.)
func TestFolderSwappedForLinkWhileJobsStart(t *testing.T) {
	te := startEngine(t, "")
	ctx := context.Background()
	sub := filepath.Join(te.drop, "sub")
	outside := t.TempDir()
	var files []string
	for i := range 16 {
		name := fmt.Sprintf("f%02d.txt", i)
		files = append(files, te.dropFile("sub", name, "inside\n"))
		os.WriteFile(filepath.Join(outside, name), []byte("OUTSIDE\n"), 0o644)
	}
	for _, f := range files {
		te.waitRecorded(f)
	}
	link := filepath.Join(te.drop, ".swap") // a dot name: the watcher ignores it
	if err := os.Symlink(outside, link); err != nil {
		t.Fatal(err)
	}

	te.addPlugin("catter", `cat "$1"`, "ext_types = .txt\nprocess_from_tool = sub")
	past := time.Now().Add(-time.Minute)
	for _, f := range files {
		os.Chtimes(f, past, past)
	}
	res, err := te.Process(ctx, []string{sub}, nil)
	if err != nil || len(res) != len(files) {
		t.Fatalf("process: %d results, %v", len(res), err)
	}

	stop := make(chan struct{})
	swapped := make(chan struct{})
	go func() {
		defer close(swapped)
		n := 0
		for {
			select {
			case <-stop:
				if n%2 == 1 { // put the real folder back
					unix.Renameat2(unix.AT_FDCWD, sub, unix.AT_FDCWD, link, unix.RENAME_EXCHANGE)
				}
				return
			default:
			}
			if err := unix.Renameat2(unix.AT_FDCWD, sub, unix.AT_FDCWD, link, unix.RENAME_EXCHANGE); err != nil {
				t.Errorf("swap: %v", err)
				return
			}
			n++
			time.Sleep(time.Millisecond)
		}
	}()
	for _, f := range files {
		te.waitJob("catter", f, 2*time.Minute)
	}
	close(stop)
	<-swapped

	list, _ := te.Store().List(jobs.Filter{Tool: "catter"})
	ran := 0
	for _, j := range list {
		if strings.Contains(strings.Join(j.LogTail, "\n"), "OUTSIDE") {
			t.Errorf("job %s (%s) read the folder behind the link: %q", j.ID, j.File, j.LogTail)
		}
		if j.State == jobs.Done {
			ran++
		}
	}
	t.Logf("%d of %d jobs ran on the real folder; the others were refused", ran, len(list))
}

// A drop folder that is itself a link (followed by the watcher) runs its
// jobs through the mount check like any other.
func TestDropFolderIsALink(t *testing.T) {
	var link string
	te := startEngineWith(t, "", func(e *Engine) {
		link = filepath.Join(t.TempDir(), "drop-link")
		os.MkdirAll(e.cfg.Files, 0o755)
		if err := os.Symlink(e.cfg.Files, link); err != nil {
			t.Fatal(err)
		}
		e.cfg.Files = link
	})
	te.addPlugin("linked", `echo saw "$1"`, "ext_types = .lnk")
	te.dropFile("", "a.lnk", "x")
	if j := te.waitJob("linked", filepath.Join(link, "a.lnk"), time.Minute); j.State != jobs.Done {
		t.Fatalf("job in a linked drop folder: %s %s", j.State, j.Reason)
	}
}
