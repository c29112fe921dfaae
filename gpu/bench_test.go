package gpu

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// BenchmarkAssign measures one Assign pass over 1000 queued jobs on 8
// devices that are full, so every job is tried against every device and
// none is placed: the worst steady state of a long queue.
func BenchmarkAssign(b *testing.B) {
	devs := make([]Device, 8)
	running := make([]Reservation, 8)
	for i := range devs {
		devs[i] = dev(i, 80000)
		running[i] = Reservation{JobID: fmt.Sprint("r", i), Device: i, MemMB: 79000}
	}
	c := newClock()
	s := NewScheduler(NewStaticInventory(devs...), Options{Now: c.Now, RefreshInterval: time.Hour,
		StarveAfter: 1000 * time.Hour})
	s.Restore(running)
	ctx := context.Background()
	for i := range 1000 {
		req := Request{MemMB: int64(2000 + i%5000), Dedicated: i%10 == 0}
		if i%7 == 0 {
			req.Device = pin(i % 8)
		}
		if err := s.Submit(ctx, fmt.Sprint("j", i), req); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		as, err := s.Assign(ctx)
		if err != nil || len(as) != 0 {
			b.Fatalf("Assign = %d, %v", len(as), err)
		}
	}
}

// BenchmarkAssignPlaceAll measures placing 1000 queued shared jobs that
// all fit on 8 devices, including re-queueing them for the next round.
func BenchmarkAssignPlaceAll(b *testing.B) {
	devs := make([]Device, 8)
	for i := range devs {
		devs[i] = dev(i, 1<<20)
	}
	c := newClock()
	s := NewScheduler(NewStaticInventory(devs...), Options{Now: c.Now, RefreshInterval: time.Hour})
	ctx := context.Background()
	ids := make([]string, 1000)
	for i := range ids {
		ids[i] = fmt.Sprint("j", i)
	}
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		for _, id := range ids {
			s.Submit(ctx, id, Request{MemMB: 100})
		}
		b.StartTimer()
		as, _ := s.Assign(ctx)
		b.StopTimer()
		if len(as) != len(ids) {
			b.Fatalf("placed %d", len(as))
		}
		for _, a := range as {
			s.Release(a.JobID)
		}
		b.StartTimer()
	}
}
