package jobs

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestConcurrentLosesNothing runs producers, workers and a canceller at once
// and checks that every job ends in exactly one final state, that no job is
// handed to two workers at the same time, and that the counters and indexes
// agree.
func TestConcurrentLosesNothing(t *testing.T) {
	s := openTest(t, false, nil)
	const producers, files, workers = 8, 150, 8
	toolsList := []string{"p0f", "snort", "zeek"}

	var created sync.Map // id → struct{}
	var createdN atomic.Int64
	var wg sync.WaitGroup
	for p := range producers {
		wg.Go(func() {
			for i := range files {
				// Every third file is seen twice, to race dedupe.
				path := fmt.Sprintf("/drop/%d/%d", p, i)
				for range 1 + boolInt(i%3 == 0) {
					js, err := s.AddFile(record(path, path), toolsList)
					if err != nil {
						t.Error(err)
						return
					}
					for _, j := range js {
						created.Store(j.ID, struct{}{})
						createdN.Add(1)
					}
				}
			}
		})
	}

	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()

	var holders sync.Map // id → worker holding it
	var finals sync.Map  // id → final state
	var finishes atomic.Int64
	var ww sync.WaitGroup
	for w := range workers {
		ww.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for {
				j, ok, err := s.Next(nil)
				if err != nil {
					t.Error(err)
					return
				}
				if !ok {
					select {
					case <-done:
						if c, _ := s.Counts(); c[Queued] == 0 {
							return
						}
					default:
					}
					time.Sleep(time.Millisecond)
					continue
				}
				if prev, dup := holders.LoadOrStore(j.ID, w); dup {
					t.Errorf("job %s handed to worker %d while worker %v holds it", j.ID, w, prev)
				}
				if rng.IntN(5) == 0 && j.Attempts < 3 {
					holders.Delete(j.ID)
					if err := s.Retry(j.ID, time.Time{}, "flaky"); err != nil {
						t.Error(err)
					}
					continue
				}
				st := []State{Done, Failed, Cancelled}[rng.IntN(3)]
				holders.Delete(j.ID)
				if err := s.Finish(j.ID, st, nil, "", nil); err != nil {
					t.Error(err)
					continue
				}
				if _, dup := finals.LoadOrStore(j.ID, st); dup {
					t.Errorf("job %s finished twice", j.ID)
				}
				finishes.Add(1)
			}
		})
	}

	// A canceller races the workers: Cancel either wins on a queued job or
	// loses with ErrRunning or ErrBadTransition.
	var cancelled atomic.Int64
	ww.Go(func() {
		for i := 1; ; i += 7 {
			select {
			case <-done:
				return
			default:
			}
			id := fmt.Sprintf("%012d", i)
			err := s.Cancel(id)
			switch {
			case err == nil:
				if _, dup := finals.LoadOrStore(id, Cancelled); dup {
					t.Errorf("job %s cancelled after finishing", id)
				}
				cancelled.Add(1)
			case errors.Is(err, ErrRunning), errors.Is(err, ErrBadTransition):
			case errors.Is(err, ErrNotFound):
				i -= 7
				time.Sleep(time.Millisecond)
			default:
				t.Error(err)
			}
		}
	})
	ww.Wait()

	want := int64(producers * files * len(toolsList))
	if createdN.Load() != want {
		t.Errorf("created %d jobs, want %d", createdN.Load(), want)
	}
	if finishes.Load()+cancelled.Load() != want {
		t.Errorf("%d finished + %d cancelled, want %d", finishes.Load(), cancelled.Load(), want)
	}
	counts, _ := s.Counts()
	if got := counts[Done] + counts[Failed] + counts[Cancelled]; int64(got) != want ||
		counts[Queued] != 0 || counts[Running] != 0 {
		t.Errorf("counts %v, want %d final", counts, want)
	}
	all, _ := s.List(Filter{})
	for _, j := range all {
		st, ok := finals.Load(j.ID)
		if _, made := created.Load(j.ID); !made || !ok || st != j.State {
			t.Errorf("job %s: state %s, recorded final %v, created %t", j.ID, j.State, st, made)
		}
	}
	mustCheck(t, s)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestGroupRollback feeds one group with requests that succeed, fail
// cleanly, and fail after writing, and checks each is atomic.
func TestGroupRollback(t *testing.T) {
	s := openTest(t, false, nil)
	mustAdd(t, s, "/drop/seed", "seed", "x")

	addReq := func(path string) *request {
		rec, _ := checkRecord(record(path, path))
		return &request{done: make(chan struct{}), run: func(tx *txn) error {
			id, err := tx.newID()
			if err != nil {
				return err
			}
			j := Job{ID: id, File: rec.Path, FileSHA256: rec.SHA256, Tool: "x"}
			return tx.move(&j, Queued)
		}}
	}
	errDirty := errors.New("failed after writing")
	dirty := &request{done: make(chan struct{}), run: func(tx *txn) error {
		j := Job{ID: "999999999999", File: "/partial", Tool: "x"}
		if err := tx.move(&j, Queued); err != nil {
			return err
		}
		return errDirty
	}}
	clean := &request{done: make(chan struct{}), run: func(tx *txn) error {
		_, err := tx.get("000000000042")
		return err
	}}
	panicky := &request{done: make(chan struct{}), run: func(tx *txn) error {
		_, _ = tx.newID()
		panic("boom")
	}}
	group := []*request{addReq("/drop/a"), dirty, clean, addReq("/drop/b"), panicky, addReq("/drop/c")}
	s.commit(group)

	for i, r := range group {
		<-r.done
		var want error
		switch r {
		case dirty:
			want = errDirty
		case clean:
			want = ErrNotFound
		}
		if r == panicky {
			if r.err == nil {
				t.Error("panicking request reported no error")
			}
			continue
		}
		wantErr(t, fmt.Sprintf("request %d", i), r.err, want)
	}
	if _, err := s.Get("999999999999"); !errors.Is(err, ErrNotFound) {
		t.Errorf("rolled-back write is visible: %v", err)
	}
	all, _ := s.List(Filter{})
	if got := ids(all); fmt.Sprint(got) != "[000000000001 000000000002 000000000003 000000000004]" {
		t.Errorf("jobs after group: %v", got)
	}
	mustCheck(t, s)
}
