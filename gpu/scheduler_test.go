package gpu

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"
)

// job is one submission in a scheduling case.
type job struct {
	id  string
	req Request
}

func TestAssignPlacement(t *testing.T) {
	eleven := make([]Device, 11)
	for i := range eleven {
		eleven[i] = dev(i, 16000)
	}
	foreign := Process{PID: 4242, UsedMB: 6000, Name: "python"}

	tests := []struct {
		name    string
		devs    []Device
		opts    Options
		running []Reservation
		jobs    []job
		want    map[string]int // job → device; jobs not named keep waiting
	}{
		{
			name: "fits by memory",
			devs: []Device{dev(0, 8000)},
			jobs: []job{{"a", Request{MemMB: 5000}}, {"b", Request{MemMB: 3000}}, {"c", Request{MemMB: 1}}},
			want: map[string]int{"a": 0, "b": 0},
		},
		{
			name: "zero mem_mb shares freely",
			devs: []Device{dev(0, 8000)},
			jobs: []job{{"a", Request{MemMB: 8000}}, {"b", Request{}}, {"c", Request{}}},
			want: map[string]int{"a": 0, "b": 0, "c": 0},
		},
		{
			name:    "running reservations count",
			devs:    []Device{dev(0, 8000)},
			running: []Reservation{{JobID: "old", Device: 0, MemMB: 6000}},
			jobs:    []job{{"a", Request{MemMB: 3000}}, {"b", Request{MemMB: 2000}}},
			want:    map[string]int{"b": 0},
		},
		{
			name: "dedicated is exclusive against later shared jobs",
			devs: []Device{dev(0, 16000)},
			jobs: []job{{"d", Request{MemMB: 100, Dedicated: true}}, {"s", Request{MemMB: 100}}},
			want: map[string]int{"d": 0},
		},
		{
			name:    "dedicated does not fall back to sharing (vent bug)",
			devs:    []Device{dev(0, 16000)},
			running: []Reservation{{JobID: "small", Device: 0, MemMB: 10}},
			jobs:    []job{{"d", Request{MemMB: 100, Dedicated: true}}},
			want:    map[string]int{},
		},
		{
			name: "dedicated avoids a device with a foreign process",
			devs: []Device{dev(0, 16000, foreign), dev(1, 16000)},
			jobs: []job{{"d", Request{MemMB: 100, Dedicated: true}}},
			want: map[string]int{"d": 1},
		},
		{
			name: "dedicated waits when every device has foreign processes",
			devs: []Device{dev(0, 16000, foreign)},
			jobs: []job{{"d", Request{Dedicated: true}}},
			want: map[string]int{},
		},
		{
			name: "foreign memory ignored by default",
			devs: []Device{dev(0, 8000, foreign)},
			jobs: []job{{"a", Request{MemMB: 7000}}},
			want: map[string]int{"a": 0},
		},
		{
			name: "foreign memory counted when asked",
			devs: []Device{dev(0, 8000, foreign), dev(1, 8000)},
			opts: Options{CountForeignMemory: true},
			jobs: []job{{"a", Request{MemMB: 7000}}, {"b", Request{MemMB: 2000}}},
			want: map[string]int{"a": 1, "b": 0},
		},
		{
			name: "pinned job waits for its device",
			devs: []Device{dev(0, 8000), dev(1, 8000)},
			jobs: []job{{"a", Request{MemMB: 6000, Device: pin(1)}}, {"b", Request{MemMB: 6000, Device: pin(1)}}},
			want: map[string]int{"a": 1},
		},
		{
			name:    "device 1 is not device 10 (vent bug)",
			devs:    eleven,
			running: []Reservation{{JobID: "ten", Device: 10, Dedicated: true}},
			jobs:    []job{{"one", Request{Dedicated: true, Device: pin(1)}}, {"x", Request{Device: pin(10)}}},
			want:    map[string]int{"one": 1},
		},
		{
			name:    "shared job packs onto the fuller device",
			devs:    []Device{dev(0, 16000), dev(1, 16000)},
			running: []Reservation{{JobID: "r", Device: 1, MemMB: 8000}},
			jobs:    []job{{"a", Request{MemMB: 1000}}, {"d", Request{Dedicated: true}}},
			want:    map[string]int{"a": 1, "d": 0},
		},
		{
			name:    "backfill: small jobs pass a big one",
			devs:    []Device{dev(0, 8000)},
			running: []Reservation{{JobID: "r", Device: 0, MemMB: 4000}},
			jobs:    []job{{"big", Request{MemMB: 6000}}, {"s1", Request{MemMB: 1000}}, {"s2", Request{MemMB: 1000}}},
			want:    map[string]int{"s1": 0, "s2": 0},
		},
		{
			name: "oldest first when both fit",
			devs: []Device{dev(0, 8000)},
			jobs: []job{{"first", Request{MemMB: 5000}}, {"second", Request{MemMB: 5000}}},
			want: map[string]int{"first": 0},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, c := newTestScheduler(t, NewStaticInventory(tt.devs...), tt.opts)
			s.Restore(tt.running)
			for _, j := range tt.jobs {
				submit(t, s, j.id, j.req)
				c.Advance(time.Second)
			}
			got := assign(t, s, c)
			if !maps.Equal(got, tt.want) {
				t.Errorf("assigned %v, want %v", got, tt.want)
			}
			for id := range tt.want {
				if err := s.Release(id); err != nil {
					t.Errorf("Release(%s): %v", id, err)
				}
			}
		})
	}
}

func TestSubmitRejectsAtOnce(t *testing.T) {
	devs := []Device{dev(0, 8000), dev(1, 24000)}
	tests := []struct {
		name    string
		inv     *StaticInventory
		req     Request
		wantErr error
		wantMsg []string
	}{
		{"too big for any device", NewStaticInventory(devs...), Request{MemMB: 30000}, ErrNeverFits,
			[]string{"job j", "mem_mb=30000", "largest device, 1", "24000 MiB"}},
		{"too big for the pinned device", NewStaticInventory(devs...), Request{MemMB: 9000, Device: pin(0)},
			ErrNeverFits, []string{"device 0", "only 8000 MiB"}},
		{"dedicated too big", NewStaticInventory(devs...), Request{MemMB: 25000, Dedicated: true},
			ErrNeverFits, []string{"dedicated=yes"}},
		{"pinned device absent", NewStaticInventory(devs...), Request{Device: pin(7)}, ErrNeverFits,
			[]string{"device 7 does not exist", "devices 0, 1"}},
		{"negative mem", NewStaticInventory(devs...), Request{MemMB: -1}, ErrBadRequest, []string{"negative"}},
		{"no devices", NewStaticInventory(), Request{}, ErrNoDevice, []string{"no devices"}},
		{"no driver", func() *StaticInventory {
			inv := NewStaticInventory()
			inv.Set(nil, fmt.Errorf("%w: libnvidia-ml.so.1 not loadable", ErrNoDriver))
			return inv
		}(), Request{}, ErrNoDriver, []string{"no NVIDIA driver found: libnvidia-ml.so.1 not loadable"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newTestScheduler(t, tt.inv, Options{})
			err := s.Submit(context.Background(), "j", tt.req)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Submit = %v, want %v", err, tt.wantErr)
			}
			for _, m := range tt.wantMsg {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q lacks %q", err, m)
				}
			}
			if q := queueIDs(s); len(q) != 0 {
				t.Errorf("queue = %v, want empty", q)
			}
		})
	}
}

func TestSubmitTwiceIsOneJob(t *testing.T) {
	s, c := newTestScheduler(t, NewStaticInventory(dev(0, 8000)), Options{})
	submit(t, s, "a", Request{MemMB: 5000})
	submit(t, s, "a", Request{MemMB: 5000})
	if got := assign(t, s, c); !maps.Equal(got, map[string]int{"a": 0}) {
		t.Fatalf("assigned %v", got)
	}
	submit(t, s, "a", Request{MemMB: 5000}) // running: ignored
	if q := queueIDs(s); len(q) != 0 {
		t.Errorf("queue = %v, want empty", q)
	}
}

func TestReleaseFreesDevice(t *testing.T) {
	s, c := newTestScheduler(t, NewStaticInventory(dev(0, 8000)), Options{})
	submit(t, s, "a", Request{Dedicated: true})
	submit(t, s, "b", Request{MemMB: 1})
	if got := assign(t, s, c); !maps.Equal(got, map[string]int{"a": 0}) {
		t.Fatalf("first pass %v", got)
	}
	if got := assign(t, s, c); len(got) != 0 {
		t.Fatalf("b placed while a holds the device: %v", got)
	}
	if err := s.Release("a"); err != nil {
		t.Fatal(err)
	}
	if got := assign(t, s, c); !maps.Equal(got, map[string]int{"b": 0}) {
		t.Fatalf("after release %v", got)
	}
	if err := s.Release("a"); !errors.Is(err, ErrUnknownJob) {
		t.Errorf("second Release = %v, want ErrUnknownJob", err)
	}
}

func TestReleaseQueuedJobCancelsIt(t *testing.T) {
	s, c := newTestScheduler(t, NewStaticInventory(dev(0, 8000)), Options{})
	s.Restore([]Reservation{{JobID: "r", Device: 0, Dedicated: true}})
	submit(t, s, "q", Request{})
	if err := s.Release("q"); err != nil {
		t.Fatal(err)
	}
	s.Release("r")
	if got := assign(t, s, c); len(got) != 0 {
		t.Errorf("cancelled job was assigned: %v", got)
	}
}

// A stream of small jobs keeps a device partly used; without the starvation
// hold the big job would never fit.
func TestBackfillDoesNotStarve(t *testing.T) {
	s, c := newTestScheduler(t, NewStaticInventory(dev(0, 8000)),
		Options{StarveAfter: time.Minute})
	s.Restore([]Reservation{{JobID: "r0", Device: 0, MemMB: 3000}})
	submit(t, s, "big", Request{MemMB: 6000})

	running := []string{"r0"}
	placedBig := false
	for i := range 20 {
		id := fmt.Sprintf("s%d", i)
		submit(t, s, id, Request{MemMB: 3000})
		got := assign(t, s, c)
		if _, ok := got["big"]; ok {
			placedBig = true
			break
		}
		for j := range got {
			running = append(running, j)
		}
		// The oldest small job finishes every 20 s; a new one arrives.
		if len(running) > 0 {
			if err := s.Release(running[0]); err != nil {
				t.Fatal(err)
			}
			running = running[1:]
		}
		c.Advance(20 * time.Second)
	}
	if !placedBig {
		t.Fatalf("big job starved; snapshot: %+v", s.Snapshot())
	}
}

func TestBackfillBeforeStarveAfter(t *testing.T) {
	s, c := newTestScheduler(t, NewStaticInventory(dev(0, 8000)), Options{StarveAfter: time.Hour})
	s.Restore([]Reservation{{JobID: "r0", Device: 0, MemMB: 3000}})
	submit(t, s, "big", Request{MemMB: 6000})
	c.Advance(30 * time.Minute)
	submit(t, s, "small", Request{MemMB: 3000})
	if got := assign(t, s, c); !maps.Equal(got, map[string]int{"small": 0}) {
		t.Fatalf("assigned %v, want small backfilled", got)
	}

	c.Advance(31 * time.Minute)
	assign(t, s, c) // big has now waited over an hour: its device is held
	submit(t, s, "late", Request{MemMB: 100})
	if got := assign(t, s, c); len(got) != 0 {
		t.Fatalf("assigned %v onto the held device", got)
	}
	snap := s.Snapshot()
	if snap.Devices[0].HeldFor != "big" || snap.Queue[0].HeldDevice == nil {
		t.Errorf("snapshot does not show the hold: %+v", snap)
	}
	s.Release("r0")
	s.Release("small")
	got := assign(t, s, c)
	if !maps.Equal(got, map[string]int{"big": 0, "late": 0}) {
		t.Errorf("after drain assigned %v, want big (then late backfilled)", got)
	}
}

func TestExpired(t *testing.T) {
	inv := NewStaticInventory(dev(0, 8000), dev(1, 4000))
	s, c := newTestScheduler(t, inv, Options{MaxWait: time.Hour})
	s.Restore([]Reservation{{JobID: "r", Device: 0, Dedicated: true}})
	submit(t, s, "wait", Request{MemMB: 6000})
	submit(t, s, "pinned1", Request{MemMB: 10, Device: pin(1), Dedicated: true})
	s.Restore([]Reservation{{JobID: "r", Device: 0, Dedicated: true}, {JobID: "r1", Device: 1, MemMB: 1}})

	c.Advance(59 * time.Minute)
	assign(t, s, c)
	if rej := s.Expired(); len(rej) != 0 {
		t.Fatalf("expired early: %+v", rej)
	}

	c.Advance(2 * time.Minute)
	rej := s.Expired()
	if len(rej) != 2 {
		t.Fatalf("Expired = %+v, want both jobs", rej)
	}
	for _, r := range rej {
		if !errors.Is(r.Err, ErrWaitTimeout) {
			t.Errorf("%s: err %v, want ErrWaitTimeout", r.JobID, r.Err)
		}
	}
	byID := map[string]string{rej[0].JobID: rej[0].Reason, rej[1].JobID: rej[1].Reason}
	for id, want := range map[string]string{
		"wait":    "device 0: held by a dedicated ventapp job",
		"pinned1": "device 1: shared by 1 ventapp job(s)",
	} {
		if !strings.Contains(byID[id], want) || !strings.Contains(byID[id], "limit is 1h0m0s") {
			t.Errorf("%s reason %q lacks %q", id, byID[id], want)
		}
	}
	if q := queueIDs(s); len(q) != 0 {
		t.Errorf("queue after Expired = %v", q)
	}
}

func TestExpiredNoLimit(t *testing.T) {
	s, c := newTestScheduler(t, NewStaticInventory(dev(0, 8000)), Options{})
	s.Restore([]Reservation{{JobID: "r", Device: 0, Dedicated: true}})
	submit(t, s, "a", Request{})
	c.Advance(1000 * time.Hour)
	assign(t, s, c)
	if rej := s.Expired(); len(rej) != 0 {
		t.Errorf("expired with MaxWait 0: %+v", rej)
	}
}

func TestRestoreAfterCrash(t *testing.T) {
	inv := NewStaticInventory(dev(0, 8000), dev(1, 8000))
	s, c := newTestScheduler(t, inv, Options{})
	submit(t, s, "a", Request{MemMB: 6000})
	submit(t, s, "b", Request{Dedicated: true})
	submit(t, s, "c", Request{MemMB: 6000})
	first := assign(t, s, c)
	if len(first) != 2 {
		t.Fatalf("first pass %v", first)
	}

	// The daemon dies; a new one finds a and b still running (their labels).
	var running []Reservation
	for _, r := range s.Snapshot().Reservations {
		labels := r.Labels()
		back, ok, err := ReservationFromLabels(r.JobID, "ctr-"+r.JobID, labels)
		if err != nil || !ok {
			t.Fatalf("labels of %s do not round-trip: %v", r.JobID, err)
		}
		running = append(running, back)
	}
	s2, c2 := newTestScheduler(t, inv, Options{})
	s2.Restore(running)
	submit(t, s2, "c", Request{MemMB: 6000})
	submit(t, s2, "d", Request{MemMB: 2000})
	if got := assign(t, s2, c2); !maps.Equal(got, map[string]int{"d": first["a"]}) {
		t.Fatalf("after restore assigned %v, want only d on a's device %d", got, first["a"])
	}
	s2.Release("b")
	if got := assign(t, s2, c2); !maps.Equal(got, map[string]int{"c": first["b"]}) {
		t.Errorf("after b ended assigned %v", got)
	}
}

func TestRestoreDropsQueuedCopy(t *testing.T) {
	s, c := newTestScheduler(t, NewStaticInventory(dev(0, 8000)), Options{})
	submit(t, s, "a", Request{MemMB: 8000})
	s.Restore([]Reservation{{JobID: "a", Device: 0, MemMB: 8000}})
	if got := assign(t, s, c); len(got) != 0 {
		t.Errorf("restored job assigned again: %v", got)
	}
	if q := queueIDs(s); len(q) != 0 {
		t.Errorf("queue = %v", q)
	}
}

func TestOwnProcessesAreNotForeign(t *testing.T) {
	ownPID, otherPID := 100, 200
	inv := NewStaticInventory(dev(0, 8000,
		Process{PID: ownPID, UsedMB: 5000}, Process{PID: otherPID, UsedMB: 1000}))
	cg := map[int]string{
		ownPID:   "0::/system.slice/ventapp-job-7-1.scope",
		otherPID: "0::/user.slice/session-1.scope",
	}
	s, c := newTestScheduler(t, inv, Options{
		CountForeignMemory: true,
		CgroupOf:           func(pid int) (string, error) { return cg[pid], nil },
	})
	s.Restore([]Reservation{{JobID: "7", Device: 0, MemMB: 5000}})
	if err := s.Attach("7", "ventapp-job-7-1"); err != nil {
		t.Fatal(err)
	}
	if err := s.Attach("nope", "x"); !errors.Is(err, ErrUnknownJob) {
		t.Errorf("Attach of an unknown job = %v", err)
	}

	// 8000 − 5000 reserved − 1000 foreign = 2000; the own 5000 MiB process
	// must not be counted twice.
	submit(t, s, "fits", Request{MemMB: 2000})
	if got := assign(t, s, c); !maps.Equal(got, map[string]int{"fits": 0}) {
		t.Fatalf("assigned %v", got)
	}
	if fm := s.Snapshot().Devices[0].ForeignMB; fm != 1000 {
		t.Errorf("ForeignMB = %d, want 1000", fm)
	}
}

func TestDriverLostAndBack(t *testing.T) {
	inv := NewStaticInventory(dev(0, 8000))
	s, c := newTestScheduler(t, inv, Options{MaxWait: time.Hour})
	submit(t, s, "a", Request{MemMB: 100})

	lost := fmt.Errorf("%w: device count: ERROR_GPU_IS_LOST", ErrDriverLost)
	inv.Set(nil, lost)
	c.Advance(time.Second)
	if _, err := s.Assign(context.Background()); !errors.Is(err, ErrDriverLost) {
		t.Fatalf("Assign = %v, want ErrDriverLost", err)
	}
	snap := s.Snapshot()
	if snap.Available || !strings.Contains(snap.Error, "GPU_IS_LOST") || len(snap.Queue) != 1 {
		t.Errorf("snapshot while lost: %+v", snap)
	}
	if err := s.Submit(context.Background(), "b", Request{}); !Unavailable(err) {
		t.Errorf("Submit while lost = %v, want an unavailable error", err)
	}

	inv.Set([]Device{dev(0, 8000)}, nil)
	if got := assign(t, s, c); !maps.Equal(got, map[string]int{"a": 0}) {
		t.Errorf("after the driver came back assigned %v", got)
	}
}

func TestExpiredWhileDriverLostSaysWhy(t *testing.T) {
	inv := NewStaticInventory(dev(0, 8000))
	s, c := newTestScheduler(t, inv, Options{MaxWait: time.Minute})
	submit(t, s, "a", Request{})
	inv.Set(nil, fmt.Errorf("%w: gone", ErrDriverLost))
	c.Advance(2 * time.Minute)
	s.Assign(context.Background())
	rej := s.Expired()
	if len(rej) != 1 || !strings.Contains(rej[0].Reason, "GPUs unavailable") {
		t.Errorf("Expired = %+v", rej)
	}
}

func TestDeviceDisappears(t *testing.T) {
	inv := NewStaticInventory(dev(0, 8000), dev(1, 32000))
	s, c := newTestScheduler(t, inv, Options{})
	s.Restore([]Reservation{{JobID: "r", Device: 1, Dedicated: true}})
	submit(t, s, "big", Request{MemMB: 20000})
	submit(t, s, "pinned", Request{Device: pin(1)})
	submit(t, s, "small", Request{MemMB: 10})

	inv.Set([]Device{dev(0, 8000)}, nil)
	if got := assign(t, s, c); !maps.Equal(got, map[string]int{"small": 0}) {
		t.Fatalf("assigned %v", got)
	}
	rej := s.Expired()
	var ids []string
	for _, r := range rej {
		if !errors.Is(r.Err, ErrNeverFits) {
			t.Errorf("%s: %v, want ErrNeverFits", r.JobID, r.Err)
		}
		ids = append(ids, r.JobID)
	}
	slices.Sort(ids)
	if !slices.Equal(ids, []string{"big", "pinned"}) {
		t.Errorf("rejected %v, want big and pinned", ids)
	}
	// The reservation on the vanished device stays visible until released.
	if rs := s.Snapshot().Reservations; len(rs) != 2 {
		t.Errorf("reservations %+v", rs)
	}
}

func TestInventoryCached(t *testing.T) {
	inv := NewStaticInventory(dev(0, 8000))
	c := newClock()
	s := NewScheduler(inv, Options{Now: c.Now, RefreshInterval: 2 * time.Second})
	for i := range 10 {
		submit(t, s, fmt.Sprint(i), Request{})
		if _, err := s.Assign(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if n := inv.Calls(); n != 1 {
		t.Errorf("inventory read %d times within the refresh interval, want 1", n)
	}
	c.Advance(3 * time.Second)
	s.Assign(context.Background())
	if n := inv.Calls(); n != 2 {
		t.Errorf("inventory read %d times after the interval, want 2", n)
	}
}

func TestConcurrentUse(t *testing.T) {
	s, _ := newTestScheduler(t, NewStaticInventory(dev(0, 1<<20), dev(1, 1<<20)), Options{})
	ctx := context.Background()
	done := make(chan struct{})
	for g := range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range 200 {
				id := fmt.Sprintf("%d-%d", g, i)
				if err := s.Submit(ctx, id, Request{MemMB: 10}); err != nil {
					t.Error(err)
					return
				}
				as, _ := s.Assign(ctx)
				for _, a := range as {
					s.Release(a.JobID)
				}
				s.Snapshot()
				s.Expired()
			}
		}()
	}
	for range 4 {
		<-done
	}
	as, _ := s.Assign(ctx)
	for _, a := range as {
		s.Release(a.JobID)
	}
	if snap := s.Snapshot(); len(snap.Queue)+len(snap.Reservations) != 0 {
		t.Errorf("left over: %d queued, %d reserved", len(snap.Queue), len(snap.Reservations))
	}
}
