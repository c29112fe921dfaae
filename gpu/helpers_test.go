package gpu

import (
	"context"
	"errors"
	"sort"
	"sync"
	"testing"
	"time"
)

// clock is a fake time source for the scheduler.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// dev builds a device with total MiB and optional processes.
func dev(index int, totalMB uint64, procs ...Process) Device {
	var used uint64
	for _, p := range procs {
		used += p.UsedMB
	}
	return Device{Index: index, UUID: "GPU-fake-" + string(rune('a'+index%26)), Name: "Fake GPU",
		MemTotalMB: totalMB, MemUsedMB: used, MemFreeMB: totalMB - used, UtilPercent: 0, Processes: procs}
}

func pin(i int) *int { return &i }

// newTestScheduler returns a scheduler over inv with a fake clock; the
// inventory is read on every call (RefreshInterval 1ns on a frozen clock
// is still "stale" once the clock moves, so tests advance it).
func newTestScheduler(t *testing.T, inv Inventory, opts Options) (*Scheduler, *clock) {
	t.Helper()
	c := newClock()
	opts.Now = c.Now
	if opts.RefreshInterval == 0 {
		opts.RefreshInterval = time.Nanosecond
	}
	if opts.CgroupOf == nil {
		opts.CgroupOf = func(int) (string, error) { return "", errors.New("no cgroup in tests") }
	}
	return NewScheduler(inv, opts), c
}

// assign runs Assign and returns job → device.
func assign(t *testing.T, s *Scheduler, c *clock) map[string]int {
	t.Helper()
	c.Advance(time.Millisecond) // make the inventory stale
	as, err := s.Assign(context.Background())
	if err != nil {
		t.Fatalf("Assign: %v", err)
	}
	got := map[string]int{}
	for _, a := range as {
		got[a.JobID] = a.Device
	}
	return got
}

// submit submits or fails the test.
func submit(t *testing.T, s *Scheduler, id string, req Request) {
	t.Helper()
	if err := s.Submit(context.Background(), id, req); err != nil {
		t.Fatalf("Submit %s: %v", id, err)
	}
}

func queueIDs(s *Scheduler) []string {
	var ids []string
	for _, w := range s.Snapshot().Queue {
		ids = append(ids, w.JobID)
	}
	sort.Strings(ids)
	return ids
}
