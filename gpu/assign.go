package gpu

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// devState is one device with ventapp's use of it, computed per pass.
type devState struct {
	dev          Device
	reservedMB   int64 // mem_mb of ventapp jobs on it
	jobs         int   // ventapp jobs on it
	dedicated    bool  // a dedicated ventapp job holds it
	foreignMB    int64 // memory of processes that are not ventapp's
	foreignProcs int
}

// freeMB is what a shared job may still reserve on the device.
func (d *devState) freeMB(countForeign bool) int64 {
	free := int64(d.dev.MemTotalMB) - d.reservedMB
	if countForeign {
		free -= d.foreignMB
	}
	return free
}

// fits reports whether req can start on d now.
func (d *devState) fits(req Request, countForeign bool) bool {
	switch {
	case d.dedicated:
		return false
	case req.Dedicated:
		return d.jobs == 0 && d.foreignProcs == 0 && uint64(req.MemMB) <= d.dev.MemTotalMB
	}
	return req.MemMB <= d.freeMB(countForeign)
}

// take counts req on d.
func (d *devState) take(req Request) {
	d.jobs++
	d.reservedMB += req.MemMB
	d.dedicated = d.dedicated || req.Dedicated
}

// statesLocked builds the state of every device seen last.
func (s *Scheduler) statesLocked() []*devState {
	owners := make([]string, 0, len(s.res))
	for _, r := range s.res {
		if r.Container != "" {
			owners = append(owners, r.Container)
		}
	}

	states := make([]*devState, len(s.devs))
	byIndex := make(map[int]*devState, len(s.devs))
	for i, d := range s.devs {
		st := &devState{dev: d}
		for _, p := range d.Processes {
			if !s.ownProcess(p.PID, owners) {
				st.foreignMB += int64(p.UsedMB)
				st.foreignProcs++
			}
		}
		states[i], byIndex[d.Index] = st, st
	}
	for _, r := range s.res {
		if st := byIndex[r.Device]; st != nil {
			st.take(Request{MemMB: r.MemMB, Dedicated: r.Dedicated})
		}
	}
	return states
}

// ownProcess reports whether pid runs in the container of a reservation.
func (s *Scheduler) ownProcess(pid int, containers []string) bool {
	if len(containers) == 0 {
		return false
	}
	cg, err := s.opts.CgroupOf(pid)
	if err != nil {
		return false
	}
	for _, c := range containers {
		if strings.Contains(cg, c) {
			return true
		}
	}
	return false
}

// Assign reads the inventory if it is stale and returns the queued jobs
// that can start now, oldest first, each with a device reserved for it.
// When the inventory cannot be read it returns its error and no
// assignments; queued jobs keep waiting (Expired ends their wait).
func (s *Scheduler) Assign(ctx context.Context) ([]Assignment, error) {
	if err := s.refresh(ctx, false); err != nil {
		return nil, err
	}

	s.mu.Lock()
	defer s.mu.Unlock()

	now := s.opts.Now()
	states := s.statesLocked()
	var out []Assignment
	for _, w := range s.queue {
		s.checkHoldLocked(w, states)
		st := s.pickLocked(w, states)
		if st == nil {
			if now.Sub(w.since) >= s.opts.StarveAfter && w.hold < 0 {
				s.holdLocked(w, states, now)
			}
			continue
		}

		st.take(w.req)
		r := Reservation{JobID: w.id, Device: st.dev.Index, MemMB: w.req.MemMB,
			Dedicated: w.req.Dedicated, Since: now}
		s.res[w.id] = r
		s.forgetLocked(w)
		out = append(out, Assignment{Reservation: r, Waited: now.Sub(w.since)})
		s.log.Info("GPU assigned", "job", w.id, "device", r.Device, "request", w.req.String(),
			"waited", now.Sub(w.since).Round(time.Millisecond))
	}
	if len(out) > 0 {
		s.queue = slices.DeleteFunc(s.queue, func(w *waiting) bool { return s.queued[w.id] != w })
	}
	return out, nil
}

// candidate reports whether st is a device w may use at all.
func candidate(w *waiting, st *devState) bool {
	if w.req.Device != nil && *w.req.Device != st.dev.Index {
		return false
	}
	return uint64(w.req.MemMB) <= st.dev.MemTotalMB
}

// pickLocked chooses a device for w among those it fits now and that are
// not held for another job, or returns nil.
func (s *Scheduler) pickLocked(w *waiting, states []*devState) *devState {
	var best *devState
	for _, st := range states {
		if !candidate(w, st) || !st.fits(w.req, s.opts.CountForeignMemory) {
			continue
		}
		if h, held := s.holds[st.dev.Index]; held && h != w.id {
			continue
		}
		if best == nil {
			best = st
			continue
		}
		if !w.req.Dedicated &&
			st.freeMB(s.opts.CountForeignMemory) < best.freeMB(s.opts.CountForeignMemory) {
			best = st
		}
	}
	return best
}

// checkHoldLocked drops w's hold when its device is gone or too small.
func (s *Scheduler) checkHoldLocked(w *waiting, states []*devState) {
	if w.hold < 0 {
		return
	}
	for _, st := range states {
		if st.dev.Index == w.hold && candidate(w, st) {
			return
		}
	}
	delete(s.holds, w.hold)
	w.hold = -1
}

// holdLocked stops backfilling onto one device w could use: the one with
// the least ventapp and foreign use, not held for an older job.
func (s *Scheduler) holdLocked(w *waiting, states []*devState, now time.Time) {
	var best *devState
	load := func(st *devState) int64 { return st.reservedMB + st.foreignMB + int64(st.jobs) }
	for _, st := range states {
		if _, held := s.holds[st.dev.Index]; held || !candidate(w, st) {
			continue
		}
		if best == nil || load(st) < load(best) {
			best = st
		}
	}
	if best == nil {
		return
	}
	w.hold = best.dev.Index
	s.holds[w.hold] = w.id
	s.log.Info("GPU job starving; holding a device for it", "job", w.id, "device", w.hold,
		"request", w.req.String(), "waited", now.Sub(w.since).Round(time.Second))
}

// Expired removes and returns the queued jobs to fail: those that waited
// longer than MaxWait (ErrWaitTimeout), and those that can no longer fit
// any device because a device disappeared (ErrNeverFits). Each Reason
// says what the job asked for and why it did not get it.
func (s *Scheduler) Expired() []Rejection {
	s.mu.Lock()
	defer s.mu.Unlock()

	now := s.opts.Now()
	states := s.statesLocked()
	var out []Rejection
	for _, w := range slices.Clone(s.queue) {
		var err error
		if s.invErr == nil && len(s.devs) > 0 {
			if e := s.neverFitsLocked(w.id, w.req); e != nil {
				err = e
			}
		}
		if err == nil && s.opts.MaxWait > 0 && now.Sub(w.since) > s.opts.MaxWait {
			err = fmt.Errorf("job %s (%s): %w: waited %s, the limit is %s; %s", w.id, w.req,
				ErrWaitTimeout, now.Sub(w.since).Round(time.Second), s.opts.MaxWait, s.whyLocked(w, states))
		}
		if err == nil {
			continue
		}
		s.dropLocked(w.id)
		out = append(out, Rejection{JobID: w.id, Reason: err.Error(), Err: err})
		s.log.Warn("GPU job rejected", "job", w.id, "reason", err.Error())
	}
	return out
}

// whyLocked says why w does not fit any device now.
func (s *Scheduler) whyLocked(w *waiting, states []*devState) string {
	if s.invErr != nil {
		return "GPUs unavailable: " + s.invErr.Error()
	}
	var why []string
	for _, st := range states {
		if !candidate(w, st) {
			continue
		}
		why = append(why, fmt.Sprintf("device %d: %s", st.dev.Index, s.busyLocked(w, st)))
	}
	if len(why) == 0 {
		return "no device can hold it"
	}
	return strings.Join(why, "; ")
}

// busyLocked describes what keeps w off st.
func (s *Scheduler) busyLocked(w *waiting, st *devState) string {
	switch {
	case st.dedicated:
		return "held by a dedicated ventapp job"
	case w.req.Dedicated && st.jobs > 0:
		return fmt.Sprintf("shared by %d ventapp job(s)", st.jobs)
	case w.req.Dedicated && st.foreignProcs > 0:
		return fmt.Sprintf("%d other process(es) use it", st.foreignProcs)
	case s.holds[st.dev.Index] != "" && s.holds[st.dev.Index] != w.id:
		return "held for longer-waiting job " + s.holds[st.dev.Index]
	}
	return fmt.Sprintf("%d MiB free for ventapp of %d MiB", max(0, st.freeMB(s.opts.CountForeignMemory)),
		st.dev.MemTotalMB)
}
