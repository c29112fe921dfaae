package jobs

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Get returns the job with the given id, or an error wrapping ErrNotFound
// that names it.
func (s *Store) Get(id string) (Job, error) {
	var j Job
	err := s.view(func(t *txn) error {
		var err error
		j, err = t.get(id)
		return err
	})
	return j, err
}

// File returns the last record stored for path; ok is false when the path
// was never recorded. A caller may compare Size and ModTime with the file
// on disk to skip hashing content it has already recorded.
func (s *Store) File(path string) (rec FileRecord, ok bool, err error) {
	err = s.view(func(t *txn) error {
		raw := t.file.Get([]byte(path))
		if raw == nil {
			return nil
		}
		var err error
		if rec, err = parseFile(raw); err != nil {
			return fmt.Errorf("file record %s: %v: %w", path, err, ErrCorrupt)
		}
		ok = true
		return nil
	})
	return rec, ok, err
}

// MissingTools returns the tools of tools that have no job, in any state,
// for the content sha256 at path, in tools order and each once: the jobs
// AddFile would create. It only reads, so asking about known work costs
// no write.
func (s *Store) MissingTools(path, sha256 string, tools []string) ([]string, error) {
	var missing []string
	err := s.view(func(t *txn) error {
		missing = nil
		for i, tool := range tools {
			if slices.Contains(tools[:i], tool) {
				continue
			}
			if t.fileJob.Get(fileJobKey(path, strings.ToLower(sha256), tool)) == nil {
				missing = append(missing, tool)
			}
		}
		return nil
	})
	return missing, err
}

// Counts returns the number of jobs in each state, every state present.
// It reads counters kept in step by each write, so it costs the same for
// any number of jobs.
func (s *Store) Counts() (map[State]int, error) {
	var m map[State]int
	err := s.view(func(t *txn) error {
		m = t.counts()
		return nil
	})
	return m, err
}

// List returns the jobs that match f, oldest first unless f.Newest. With
// f.State set it walks only that state's index.
func (s *Store) List(f Filter) ([]Job, error) {
	if f.State != "" && !f.State.Valid() {
		return nil, fmt.Errorf("list jobs: state %q: %w", f.State, ErrBadState)
	}
	if f.Limit < 0 || f.Offset < 0 {
		return nil, fmt.Errorf("list jobs: limit %d and offset %d must not be negative: %w",
			f.Limit, f.Offset, ErrBadInput)
	}

	var out []Job
	err := s.view(func(t *txn) error {
		out = nil
		byState := f.State != ""
		c := t.job.Cursor()
		if byState {
			c = t.state[f.State.index()].Cursor()
		}
		first, step := c.First, c.Next
		if f.Newest {
			first, step = c.Last, c.Prev
		}

		skip := f.Offset
		for k, v := first(); k != nil; k, v = step() {
			id := string(k)
			if byState {
				v = t.job.Get(k)
				if v == nil {
					return fmt.Errorf("state %s lists job %s that has no record: %w",
						f.State, id, ErrCorrupt)
				}
			}
			j, err := decodeJob(id, v)
			if err != nil {
				return err
			}
			if (f.Tool != "" && j.Tool != f.Tool) || !strings.Contains(j.File, f.File) {
				continue
			}
			if skip > 0 {
				skip--
				continue
			}
			out = append(out, j)
			if f.Limit > 0 && len(out) == f.Limit {
				break
			}
		}
		return nil
	})
	return out, err
}

// Check verifies the store's invariants: every job sits in the index of
// its own state and no other, every index entry and filejob entry points
// at an existing job, and the counters match the indexes. It reads every
// job, so it is for tests and diagnostics. Problems wrap ErrCorrupt.
func (s *Store) Check() error {
	return s.view(func(t *txn) error {
		var problems []error
		add := func(format string, args ...any) {
			if len(problems) < 20 {
				problems = append(problems, fmt.Errorf(format, args...))
			}
		}

		seen := make(map[State]int, len(allStates))
		err := t.job.ForEach(func(k, v []byte) error {
			j, err := decodeJob(string(k), v)
			if err != nil {
				add("%v", err)
				return nil
			}
			if j.ID != string(k) {
				add("job under key %s has id %s", k, j.ID)
			}
			if !j.State.Valid() {
				add("job %s has unknown state %q", k, j.State)
				return nil
			}
			seen[j.State]++
			for i, st := range allStates {
				in := t.state[i].Get(k) != nil
				if in != (st == j.State) {
					add("job %s is %s but index %s has it: %t", k, j.State, st, in)
				}
			}
			return nil
		})
		if err != nil {
			return err
		}

		stored := t.counts()
		for i, st := range allStates {
			if n := t.state[i].Stats().KeyN; n != seen[st] {
				add("index %s holds %d ids, %d jobs are %s", st, n, seen[st], st)
			}
			if stored[st] != seen[st] {
				add("counter %s is %d, %d jobs are %s", st, stored[st], seen[st], st)
			}
		}
		err = t.fileJob.ForEach(func(k, v []byte) error {
			if t.job.Get(v) == nil {
				add("filejob %q points at missing job %s", bytes.ReplaceAll(k, []byte{0}, []byte{' '}), v)
			}
			return nil
		})
		if err != nil {
			return err
		}

		if len(problems) > 0 {
			return fmt.Errorf("check job store %s: %w: %w", s.path, ErrCorrupt, errors.Join(problems...))
		}
		return nil
	})
}
