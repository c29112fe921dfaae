package jobs

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"
)

func TestSchemaTooNew(t *testing.T) {
	path := filepath.Join(t.TempDir(), "jobs.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	mustAdd(t, s, "/drop/a", "a", "x")
	err = s.DB().Update(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketRoot).Bucket(bucketMeta).Put(keySchema, []byte("7"))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)

	_, err = Open(path, Options{})
	if !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("Open: %v, want ErrSchemaTooNew", err)
	}
	for _, want := range []string{path, "7", fmt.Sprint(SchemaVersion)} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	after, _ := os.ReadFile(path)
	if string(before) != string(after) {
		t.Error("refused store was modified")
	}
}

func TestOpenCorrupt(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	badSchema := func(v string) func(string) {
		return func(path string) {
			db, err := bbolt.Open(path, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			err = db.Update(func(tx *bbolt.Tx) error {
				root, _ := tx.CreateBucket(bucketRoot)
				meta, _ := root.CreateBucket(bucketMeta)
				if v == "" {
					return nil
				}
				return meta.Put(keySchema, []byte(v))
			})
			if err != nil {
				t.Fatal(err)
			}
			_ = db.Close()
		}
	}
	write := func(b []byte) func(string) {
		return func(path string) {
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	tests := []struct {
		name string
		make func(path string)
	}{
		{"random 64KiB", write(random(64 << 10))},
		{"random 100 bytes", write(random(100))},
		{"text file", write([]byte(strings.Repeat("not a database\n", 1000)))},
		{"schema key missing", badSchema("")},
		{"schema not a number", badSchema("one")},
		{"schema zero", badSchema("0")},
	}
	for _, tt := range tests {
		path := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "_")+".db")
		tt.make(path)
		s, err := Open(path, Options{})
		if err == nil {
			_ = s.Close()
			t.Errorf("%s: Open succeeded", tt.name)
			continue
		}
		t.Logf("%s: %v", tt.name, err)
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: error %q, want ErrCorrupt naming the path", tt.name, err)
		}
	}

	_, err := Open(filepath.Join(dir, "missing", "jobs.db"), Options{})
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "missing")) {
		t.Errorf("Open in a missing dir: %v", err)
	}
}

func TestOpenLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "jobs.db")
	s, err := Open(path, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	start := time.Now()
	_, err = Open(path, Options{LockTimeout: 100 * time.Millisecond})
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), path) {
		t.Fatalf("second Open: %v, want ErrLocked naming the path", err)
	}
	if time.Since(start) > 30*time.Second {
		t.Fatal("second Open hung")
	}
}

func TestRecoverAfterClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "jobs.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	js := mustAdd(t, s, "/drop/a", "a", "p0f", "snort", "zeek")
	take(t, s, js[0].ID)
	take(t, s, js[2].ID)
	if err := s.SetContainer(js[2].ID, "ctr-zeek"); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	checkRecovered(t, s, []string{js[0].ID, js[2].ID}, map[string]string{js[2].ID: "ctr-zeek"})

	// Unchanged content seen again after the restart is not new work.
	if again := mustAdd(t, s, "/drop/a", "a", "p0f", "snort", "zeek"); len(again) != 0 {
		t.Errorf("restart re-created %v", ids(again))
	}
}

// checkRecovered runs Recover and checks it returned exactly want, queued.
func checkRecovered(t *testing.T, s *Store, want []string, containers map[string]string) {
	t.Helper()
	got, err := s.Recover()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(ids(got), ",") != strings.Join(want, ",") {
		t.Fatalf("Recover returned %v, want %v", ids(got), want)
	}
	for _, j := range got {
		if j.State != Queued || j.Reason != ReasonRecovered || j.Attempts != 1 ||
			j.Container != containers[j.ID] {
			t.Errorf("recovered job %+v", j)
		}
	}
	if again, _ := s.Recover(); len(again) != 0 {
		t.Errorf("second Recover returned %v", ids(again))
	}
	counts, _ := s.Counts()
	if counts[Running] != 0 {
		t.Errorf("counts after Recover: %v", counts)
	}
	mustCheck(t, s)
}

// TestRecoverFromCopy copies the file of a live store while a job runs, as a
// power cut would leave it, and opens the copy.
func TestRecoverFromCopy(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(filepath.Join(dir, "jobs.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	js := mustAdd(t, s, "/drop/a", "a", "p0f", "snort")
	take(t, s, js[1].ID)

	src, err := os.Open(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	copyPath := filepath.Join(dir, "copy.db")
	dst, err := os.Create(copyPath)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	_ = src.Close()
	_ = dst.Close()

	c, err := Open(copyPath, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	checkRecovered(t, c, []string{js[1].ID}, nil)
}

// TestRecoverAfterKill runs a child process that takes jobs and is killed
// with SIGKILL while they run.
func TestRecoverAfterKill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	path := filepath.Join(t.TempDir(), "jobs.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestKillChild$")
	cmd.Env = append(os.Environ(), "JOBS_KILL_CHILD="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "running\n" {
		_ = cmd.Process.Kill()
		t.Fatalf("child said %q, %v", line, err)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()

	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	counts, _ := s.Counts()
	if counts[Running] != 2 || counts[Done] != 1 || counts[Queued] != 1 {
		t.Fatalf("counts after kill: %v", counts)
	}
	checkRecovered(t, s, []string{"000000000002", "000000000003"},
		map[string]string{"000000000003": "ctr-3"})
}

// TestKillChild is the child side of TestRecoverAfterKill; it does nothing
// unless started by it.
func TestKillChild(t *testing.T) {
	path := os.Getenv("JOBS_KILL_CHILD")
	if path == "" {
		t.Skip("child of TestRecoverAfterKill")
	}
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	js := mustAdd(t, s, "/drop/a", "a", "t1", "t2", "t3", "t4")
	take(t, s, js[0].ID)
	if err := s.Finish(js[0].ID, Done, nil, "", nil); err != nil {
		t.Fatal(err)
	}
	take(t, s, js[1].ID)
	take(t, s, js[2].ID)
	if err := s.SetContainer(js[2].ID, "ctr-3"); err != nil {
		t.Fatal(err)
	}
	fmt.Println("running")
	time.Sleep(time.Minute)
}
