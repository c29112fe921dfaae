package jobs

import (
	"encoding/hex"
	"fmt"
	"path/filepath"
	"strings"
	"time"
)

// Reasons the store writes into Job.Reason itself.
const (
	ReasonRecovered = "recovered after restart"
	ReasonCancelled = "cancelled while queued"
	ReasonRequeued  = "requeued by user"
)

// AddFile records rec as the latest state of its path and, in the same
// transaction, creates one queued job per tool that has no job yet for
// this (path, SHA-256) in any state. Seeing unchanged content again thus
// creates nothing, new content creates a job per tool, and a tool added
// later gets a job for content seen before. It returns only the new jobs,
// in tools order. SeenAt is set to now when zero.
func (s *Store) AddFile(rec FileRecord, tools []string) ([]Job, error) {
	rec, err := checkRecord(rec)
	if err != nil {
		return nil, err
	}
	for _, tool := range tools {
		if tool == "" || strings.ContainsRune(tool, 0) {
			return nil, fmt.Errorf("add file %s: tool name %q is empty or holds a NUL byte: %w",
				rec.Path, tool, ErrBadInput)
		}
	}
	if rec.SeenAt.IsZero() {
		rec.SeenAt = s.now()
	}
	raw := encodeFile(make([]byte, 0, 64+len(rec.Path)+len(rec.SHA256)), &rec)

	var added []Job
	err = s.submit(func(t *txn) error {
		added = nil
		t.dirty = true
		if err := t.file.Put([]byte(rec.Path), raw); err != nil {
			return fmt.Errorf("add file %s: %w", rec.Path, err)
		}

		for _, tool := range tools {
			key := fileJobKey(rec.Path, rec.SHA256, tool)
			if t.fileJob.Get(key) != nil {
				continue
			}
			id, err := t.newID()
			if err != nil {
				return err
			}
			j := Job{
				ID: id, File: rec.Path, FileSHA256: rec.SHA256, FileSize: rec.Size,
				Tool: tool, CreatedAt: s.now(),
			}
			if err := t.move(&j, Queued); err != nil {
				return err
			}
			if err := t.fileJob.Put(key, []byte(id)); err != nil {
				return fmt.Errorf("add file %s: indexing job %s: %w", rec.Path, id, err)
			}
			added = append(added, j)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return added, nil
}

// checkRecord validates rec and normalises its hash and times.
func checkRecord(rec FileRecord) (FileRecord, error) {
	if !filepath.IsAbs(rec.Path) || strings.ContainsRune(rec.Path, 0) {
		return rec, fmt.Errorf("add file %q: path must be absolute and hold no NUL byte: %w",
			rec.Path, ErrBadInput)
	}
	rec.SHA256 = strings.ToLower(rec.SHA256)
	if b, err := hex.DecodeString(rec.SHA256); err != nil || len(b) != 32 {
		return rec, fmt.Errorf("add file %s: sha256 %q is not 64 hex digits: %w",
			rec.Path, rec.SHA256, ErrBadInput)
	}
	if rec.Size < 0 {
		return rec, fmt.Errorf("add file %s: negative size %d: %w", rec.Path, rec.Size, ErrBadInput)
	}
	rec.ModTime = rec.ModTime.UTC().Round(0)
	rec.SeenAt = rec.SeenAt.UTC().Round(0)
	return rec, nil
}

// Next hands out the oldest queued job whose NotBefore has passed and that
// accept allows (nil accepts all). The job becomes running: Attempts goes
// up, StartedAt is now, and the fields of the previous attempt (ExitCode,
// Reason, FinishedAt, LogTail, Container) are cleared. ok is false when no
// job qualifies.
//
// accept runs inside the store's write transaction, possibly more than
// once per call: it must be quick, must not call the Store and should not
// have side effects. Next reads only the queued index, never finished jobs.
func (s *Store) Next(accept func(Job) bool) (job Job, ok bool, err error) {
	err = s.submit(func(t *txn) error {
		job, ok = Job{}, false
		now := s.now()
		c := t.state[Queued.index()].Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if nb := decodeTime(v); nb != 0 && nb > now.UnixNano() {
				continue
			}
			j, err := t.get(string(k))
			if err != nil {
				return err
			}
			if accept != nil && !accept(j) {
				continue
			}
			job, ok = j, true
			break
		}
		if !ok {
			return nil
		}

		job.Attempts++
		job.StartedAt = now
		job.NotBefore = time.Time{}
		job.FinishedAt = time.Time{}
		job.ExitCode = nil
		job.Reason = ""
		job.LogTail = nil
		job.Container = ""
		return t.move(&job, Running)
	})
	if err != nil {
		return Job{}, false, err
	}
	return job, ok, nil
}

// SetContainer records the containerd container id of a running job's
// current attempt. A job in another state gives ErrNotRunning.
func (s *Store) SetContainer(id, container string) error {
	return s.submit(func(t *txn) error {
		j, err := t.get(id)
		if err != nil {
			return err
		}
		if j.State != Running {
			return fmt.Errorf("set container of job %s: job is %s: %w", id, j.State, ErrNotRunning)
		}
		j.Container = container
		return t.put(&j)
	})
}

// Finish ends a running job in st, which must be Done, Failed or Cancelled.
// exitCode (copied, may be nil), reason and the last MaxLogTail lines of
// tail are stored, and FinishedAt is set to now.
func (s *Store) Finish(id string, st State, exitCode *int, reason string, tail []string) error {
	if !st.Final() {
		return fmt.Errorf("finish job %s: %q is not a final state: %w", id, st, ErrBadState)
	}
	var code *int
	if exitCode != nil {
		c := *exitCode
		code = &c
	}
	if len(tail) > MaxLogTail {
		tail = tail[len(tail)-MaxLogTail:]
	}
	tail = append([]string(nil), tail...)

	return s.transition(id, st, func(j *Job) {
		j.FinishedAt = s.now()
		j.ExitCode = code
		j.Reason = reason
		j.LogTail = tail
	}, Running)
}

// Retry puts a running job back in the queue, held until notBefore (zero:
// at once), after an infrastructure error. Attempts is kept.
func (s *Store) Retry(id string, notBefore time.Time, reason string) error {
	if !notBefore.IsZero() {
		notBefore = notBefore.UTC().Round(0)
	}
	return s.transition(id, Queued, func(j *Job) {
		j.NotBefore = notBefore
		j.Reason = reason
	}, Running)
}

// Cancel cancels a queued job. A running job gives ErrRunning: the caller
// stops its container and then calls Finish with Cancelled. A finished job
// gives ErrBadTransition.
func (s *Store) Cancel(id string) error {
	return s.submit(func(t *txn) error {
		j, err := t.get(id)
		if err != nil {
			return err
		}
		if j.State == Running {
			return fmt.Errorf("cancel job %s: %w", id, ErrRunning)
		}
		if j.State != Queued {
			return badTransition(id, j.State, Cancelled)
		}
		j.FinishedAt = s.now()
		j.NotBefore = time.Time{}
		j.Reason = ReasonCancelled
		return t.move(&j, Cancelled)
	})
}

// Reject fails a queued job without running it, for a reason known
// before any container starts (an empty file, a plugin that is gone).
func (s *Store) Reject(id, reason string) error {
	return s.transition(id, Failed, func(j *Job) {
		j.FinishedAt = s.now()
		j.NotBefore = time.Time{}
		j.Reason = reason
	}, Queued)
}

// Requeue puts a done, failed or cancelled job back in the queue, as a
// user's "retry" does. Attempts, LogTail and Container of the last attempt
// are kept until Next hands the job out again.
func (s *Store) Requeue(id string) error {
	return s.transition(id, Queued, func(j *Job) {
		j.FinishedAt = time.Time{}
		j.NotBefore = time.Time{}
		j.ExitCode = nil
		j.Reason = ReasonRequeued
	}, Done, Failed, Cancelled)
}

// Recover puts every running job back in the queue with Reason
// ReasonRecovered and returns them, Container still naming the attempt
// that was cut short so the caller can remove it. Call it once at start,
// before any worker runs: it cannot tell a job left over from a crash
// from one a live worker holds.
func (s *Store) Recover() ([]Job, error) {
	var out []Job
	err := s.submit(func(t *txn) error {
		out = nil
		var ids []string
		c := t.state[Running.index()].Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			ids = append(ids, string(k))
		}

		for _, id := range ids {
			j, err := t.get(id)
			if err != nil {
				return err
			}
			j.NotBefore = time.Time{}
			j.Reason = ReasonRecovered
			if err := t.move(&j, Queued); err != nil {
				return err
			}
			out = append(out, j)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(out) > 0 {
		s.log.Info("recovered jobs left running", "path", s.path, "jobs", len(out))
	}
	return out, nil
}

// transition moves job id to `to` after edit has changed its fields. The
// job must currently be in one of from, when given, and the move must be
// legal.
func (s *Store) transition(id string, to State, edit func(*Job), from ...State) error {
	return s.submit(func(t *txn) error {
		j, err := t.get(id)
		if err != nil {
			return err
		}
		if !legal(j.State, to) || (len(from) > 0 && !contains(from, j.State)) {
			return badTransition(id, j.State, to)
		}
		edit(&j)
		return t.move(&j, to)
	})
}

func badTransition(id string, from, to State) error {
	return fmt.Errorf("job %s: %s -> %s: %w", id, from, to, ErrBadTransition)
}

func contains(list []State, st State) bool {
	for _, s := range list {
		if s == st {
			return true
		}
	}
	return false
}
