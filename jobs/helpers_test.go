package jobs

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// clock is a settable time source for Options.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock {
	return &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// openTest opens a store in a fresh temp dir and closes it at cleanup.
// fsync is off unless sync is true.
func openTest(t testing.TB, sync bool, c *clock) *Store {
	t.Helper()
	opts := Options{NoSync: !sync}
	if c != nil {
		opts.Now = c.Now
	}
	s, err := Open(filepath.Join(t.TempDir(), "jobs.db"), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func sum(content string) string {
	h := sha256.Sum256([]byte(content))
	return hex.EncodeToString(h[:])
}

func record(path, content string) FileRecord {
	return FileRecord{
		Path:    path,
		Size:    int64(len(content)),
		ModTime: time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC),
		SHA256:  sum(content),
	}
}

// mustAdd adds a file and returns the new jobs.
func mustAdd(t testing.TB, s *Store, path, content string, tools ...string) []Job {
	t.Helper()
	jobs, err := s.AddFile(record(path, content), tools)
	if err != nil {
		t.Fatal(err)
	}
	return jobs
}

// take runs Next for exactly the job with id.
func take(t testing.TB, s *Store, id string) Job {
	t.Helper()
	j, ok, err := s.Next(func(j Job) bool { return j.ID == id })
	if err != nil || !ok {
		t.Fatalf("Next for %s: ok=%t err=%v", id, ok, err)
	}
	return j
}

func mustCheck(t testing.TB, s *Store) {
	t.Helper()
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
}

// wantErr fails unless err wraps want (nil meaning no error).
func wantErr(t testing.TB, what string, err, want error) {
	t.Helper()
	if want == nil && err != nil || want != nil && !errors.Is(err, want) {
		t.Fatalf("%s: got error %v, want %v", what, err, want)
	}
}
