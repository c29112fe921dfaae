package jobs

import (
	"errors"
	"fmt"

	"go.etcd.io/bbolt"
)

// request is one write waiting for the writer goroutine. run may be called
// more than once if its group is rolled back, so it must assign its
// results rather than accumulate them.
type request struct {
	run  func(t *txn) error
	err  error
	done chan struct{}
}

// errRollback aborts a group transaction after a request failed with
// writes already made.
var errRollback = errors.New("roll back group")

// submit hands fn to the writer and waits for its answer.
func (s *Store) submit(fn func(t *txn) error) error {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return ErrClosed
	}
	if s.opts.viaBatch {
		defer s.mu.RUnlock()
		return s.batch(fn)
	}
	r := &request{run: fn, done: make(chan struct{})}
	s.reqs <- r
	s.mu.RUnlock()

	<-r.done
	return r.err
}

// writer drains the request channel, applying everything that is waiting
// in one transaction per round, until Close closes the channel.
func (s *Store) writer() {
	defer close(s.done)

	group := make([]*request, 0, s.opts.MaxGroup)
	for {
		first, ok := <-s.reqs
		if !ok {
			return
		}
		group = append(group[:0], first)
	fill:
		for len(group) < s.opts.MaxGroup {
			select {
			case r, ok := <-s.reqs:
				if !ok {
					break fill
				}
				group = append(group, r)
			default:
				break fill
			}
		}
		s.commit(group)
	}
}

// commit applies group in one transaction and answers every request. A
// request that fails after writing is answered with its error and the
// group is run again without it.
func (s *Store) commit(group []*request) {
	pending := group
	for len(pending) > 0 {
		bad := -1
		var wake bool
		err := s.db.Update(func(tx *bbolt.Tx) error {
			t, err := newTxn(tx)
			if err != nil {
				return err
			}
			for i, r := range pending {
				t.dirty = false
				r.err = call(r.run, t)
				if r.err != nil && t.dirty {
					bad = i
					return errRollback
				}
			}
			wake = t.wake
			return t.flush()
		})

		if bad >= 0 {
			answer(pending[bad])
			pending = append(pending[:bad:bad], pending[bad+1:]...)
			continue
		}
		if err != nil {
			s.log.Error("job store commit failed", "path", s.path, "requests", len(pending), "err", err)
			err = fmt.Errorf("job store %s: commit: %w", s.path, err)
			for _, r := range pending {
				r.err = err
			}
		}
		for _, r := range pending {
			answer(r)
		}
		if err == nil && wake {
			s.wakeAll()
		}
		s.groups.Add(1)
		s.requests.Add(uint64(len(pending)))
		return
	}
}

// answer wakes the caller waiting on r.
func answer(r *request) {
	close(r.done)
}

// call runs fn, turning a panic (from a caller's accept function, say)
// into an error so that one bad request cannot stop the writer.
func call(fn func(t *txn) error, t *txn) (err error) {
	defer func() {
		if p := recover(); p != nil {
			t.dirty = true
			err = fmt.Errorf("job store request panicked: %v", p)
		}
	}()
	return fn(t)
}

// batch runs fn through bbolt's DB.Batch. It exists so a benchmark can
// compare bbolt's own grouping with the writer goroutine.
func (s *Store) batch(fn func(t *txn) error) error {
	var wake bool
	err := s.db.Batch(func(tx *bbolt.Tx) error {
		t, err := newTxn(tx)
		if err != nil {
			return err
		}
		if err := call(fn, t); err != nil {
			return err
		}
		wake = t.wake
		return t.flush()
	})
	if err == nil && wake {
		s.wakeAll()
	}
	return err
}
