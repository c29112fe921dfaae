package gpu

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Defaults for Options fields left zero.
const (
	DefaultStarveAfter     = 5 * time.Minute
	DefaultRefreshInterval = 2 * time.Second
)

// Options configure a Scheduler.
type Options struct {
	// CountForeignMemory subtracts the memory that processes other than
	// ventapp's GPU jobs use now from what a device can give. Off: only
	// ventapp's own reservations count, as in vent. Foreign processes
	// always keep dedicated jobs off a device.
	CountForeignMemory bool

	// MaxWait is how long a job may wait for a device before Expired
	// gives up on it. Zero: no limit.
	MaxWait time.Duration

	// StarveAfter is how long a job may wait before the scheduler stops
	// backfilling other jobs onto one device it could use, so that device
	// drains and the job runs. Zero: DefaultStarveAfter.
	StarveAfter time.Duration

	// RefreshInterval is how old the inventory may be before Submit or
	// Assign reads it again. Zero: DefaultRefreshInterval.
	RefreshInterval time.Duration

	// CgroupOf returns the cgroup description of a process, used to tell
	// ventapp's own GPU processes (whose cgroup names the container of a
	// Reservation) from foreign ones. Nil: read /proc/PID/cgroup.
	CgroupOf func(pid int) (string, error)

	// Logger receives scheduling decisions. Nil: none.
	Logger *slog.Logger

	// Now returns the current time. Nil: time.Now. Tests set a fake clock.
	Now func() time.Time
}

// Assignment is a queued job that may start now on Device. Its
// reservation is already counted; the caller starts the job, records the
// reservation with it and calls Release when the job ends (or fails to
// start).
type Assignment struct {
	Reservation

	// Waited is how long the job was queued.
	Waited time.Duration
}

// Rejection is a queued job the scheduler gave up on. It has left the
// queue; the caller fails the job with Reason.
type Rejection struct {
	JobID  string
	Reason string
	// Err wraps ErrWaitTimeout or ErrNeverFits.
	Err error
}

// Scheduler queues GPU jobs and places them on devices. A waiting job is
// only an entry in the scheduler's queue: it holds no worker. All methods
// are safe for concurrent use.
//
// Placement rules:
//   - A shared job fits a device when its mem_mb is at most the device's
//     memory minus the mem_mb of ventapp jobs on it (minus the memory of
//     foreign processes with CountForeignMemory), and no dedicated job
//     holds the device.
//   - A dedicated job fits only a device with no ventapp job and no
//     foreign process on it, and then holds it alone.
//   - A pinned job considers only its device.
//   - Jobs are tried oldest first; a job that does not fit does not block
//     younger ones (backfill). Once a job has waited StarveAfter, it holds
//     one device it could use: from then on no younger job is placed
//     there, so the device drains and the old job gets it.
//   - Among fitting devices a shared job takes the one it fills best and a
//     dedicated job the lowest index, keeping empty devices for dedicated
//     jobs.
type Scheduler struct {
	inv  Inventory
	opts Options
	log  *slog.Logger

	refreshMu sync.Mutex // one inventory read at a time

	mu      sync.Mutex
	devs    []Device
	invErr  error
	invAt   time.Time
	seq     uint64
	queue   []*waiting // oldest first
	queued  map[string]*waiting
	res     map[string]Reservation
	holds   map[int]string // device → starving job that holds it
	ownPIDs map[int]bool   // scratch: processes found to be ventapp's
}

// waiting is one queued job.
type waiting struct {
	id    string
	req   Request
	since time.Time
	seq   uint64
	hold  int // device held for this job, -1 for none
}

// NewScheduler returns a scheduler over inv. It reads nothing until the
// first Submit, Assign or Refresh.
func NewScheduler(inv Inventory, opts Options) *Scheduler {
	if opts.StarveAfter <= 0 {
		opts.StarveAfter = DefaultStarveAfter
	}
	if opts.RefreshInterval <= 0 {
		opts.RefreshInterval = DefaultRefreshInterval
	}
	if opts.CgroupOf == nil {
		opts.CgroupOf = procCgroup
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Scheduler{
		inv: inv, opts: opts, log: log,
		queued: map[string]*waiting{},
		res:    map[string]Reservation{},
		holds:  map[int]string{},
	}
}

// procCgroup reads /proc/PID/cgroup.
func procCgroup(pid int) (string, error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cgroup"))
	return string(b), err
}

// Refresh reads the inventory now. It returns the inventory's error, which
// is also kept for Submit, Expired and Snapshot.
func (s *Scheduler) Refresh(ctx context.Context) error {
	return s.refresh(ctx, true)
}

// refresh reads the inventory when forced or when the copy is stale.
func (s *Scheduler) refresh(ctx context.Context, force bool) error {
	s.refreshMu.Lock()
	defer s.refreshMu.Unlock()

	s.mu.Lock()
	fresh := !s.invAt.IsZero() && s.opts.Now().Sub(s.invAt) < s.opts.RefreshInterval
	err := s.invErr
	s.mu.Unlock()
	if fresh && !force {
		return err
	}

	devs, err := s.inv.Devices(ctx)
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ctxErr
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil && s.invErr == nil {
		s.log.Warn("GPUs unavailable; GPU jobs that cannot be placed fail with the reason", "err", err)
	}
	s.devs, s.invErr, s.invAt = devs, err, s.opts.Now()
	if err != nil {
		s.devs = nil
	}
	slices.SortFunc(s.devs, func(a, b Device) int { return a.Index - b.Index })
	return err
}

// Submit queues a job. It fails at once, and queues nothing, when the
// request is bad (ErrBadRequest), when no GPU can be used on this host
// (an error for which Unavailable is true), or when the job could never
// fit any device, considering its pin (ErrNeverFits). Submitting a job
// that is already queued or holding a device does nothing.
func (s *Scheduler) Submit(ctx context.Context, jobID string, req Request) error {
	if err := req.Validate(); err != nil {
		return fmt.Errorf("job %s: %w", jobID, err)
	}
	s.mu.Lock()
	_, isQueued := s.queued[jobID]
	_, isRunning := s.res[jobID]
	s.mu.Unlock()
	if isQueued || isRunning {
		return nil
	}

	if err := s.refresh(ctx, false); err != nil {
		return fmt.Errorf("job %s (%s): %w", jobID, req, err)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.neverFitsLocked(jobID, req); err != nil {
		return err
	}
	s.seq++
	w := &waiting{id: jobID, req: req, since: s.opts.Now(), seq: s.seq, hold: -1}
	s.queue = append(s.queue, w)
	s.queued[jobID] = w
	s.log.Debug("GPU job queued", "job", jobID, "request", req.String())
	return nil
}

// neverFitsLocked explains why req can never be placed on the devices
// seen last, or returns nil.
func (s *Scheduler) neverFitsLocked(jobID string, req Request) error {
	if s.invErr != nil {
		return fmt.Errorf("job %s (%s): %w", jobID, req, s.invErr)
	}
	if len(s.devs) == 0 {
		return fmt.Errorf("job %s (%s): %w: the driver reports no devices", jobID, req, ErrNoDevice)
	}

	if req.Device != nil {
		d, ok := s.deviceLocked(*req.Device)
		switch {
		case !ok:
			return fmt.Errorf("job %s (%s): %w: device %d does not exist (this host has %s)",
				jobID, req, ErrNeverFits, *req.Device, s.indexRangeLocked())
		case uint64(req.MemMB) > d.MemTotalMB:
			return fmt.Errorf("job %s (%s): %w: device %d (%s) has only %d MiB",
				jobID, req, ErrNeverFits, d.Index, d.Name, d.MemTotalMB)
		}
		return nil
	}

	largest := s.devs[0]
	for _, d := range s.devs[1:] {
		if d.MemTotalMB > largest.MemTotalMB {
			largest = d
		}
	}
	if uint64(req.MemMB) > largest.MemTotalMB {
		return fmt.Errorf("job %s (%s): %w: the largest device, %d (%s), has %d MiB",
			jobID, req, ErrNeverFits, largest.Index, largest.Name, largest.MemTotalMB)
	}
	return nil
}

// deviceLocked finds a device by its index.
func (s *Scheduler) deviceLocked(index int) (Device, bool) {
	for _, d := range s.devs {
		if d.Index == index {
			return d, true
		}
	}
	return Device{}, false
}

// indexRangeLocked describes the device indexes seen last.
func (s *Scheduler) indexRangeLocked() string {
	idx := make([]string, len(s.devs))
	for i, d := range s.devs {
		idx[i] = strconv.Itoa(d.Index)
	}
	if len(idx) == 1 {
		return "only device " + idx[0]
	}
	return "devices " + strings.Join(idx, ", ")
}

// Release ends a job's stay: it frees the device the job holds, or drops
// it from the queue if it was still waiting (a cancelled job). It fails
// with ErrUnknownJob when the job is neither.
func (s *Scheduler) Release(jobID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()

	if r, ok := s.res[jobID]; ok {
		delete(s.res, jobID)
		s.log.Debug("GPU released", "job", jobID, "device", r.Device)
		return nil
	}
	if _, ok := s.queued[jobID]; ok {
		s.dropLocked(jobID)
		return nil
	}
	return fmt.Errorf("%w: %s", ErrUnknownJob, jobID)
}

// dropLocked removes a queued job and any device held for it.
func (s *Scheduler) dropLocked(jobID string) {
	w := s.queued[jobID]
	if w == nil {
		return
	}
	s.forgetLocked(w)
	s.queue = slices.DeleteFunc(s.queue, func(x *waiting) bool { return x == w })
}

// forgetLocked removes w from the index and frees its hold, leaving the
// queue slice to the caller.
func (s *Scheduler) forgetLocked(w *waiting) {
	delete(s.queued, w.id)
	if w.hold >= 0 && s.holds[w.hold] == w.id {
		delete(s.holds, w.hold)
	}
}

// Restore replaces every reservation with running, the jobs and services
// found really running after a restart (from the job store or from
// container labels, see ReservationFromLabels). A job in running leaves
// the queue if it was there. Reservations on devices that are gone are
// kept, and logged, until released.
func (s *Scheduler) Restore(running []Reservation) {
	s.mu.Lock()
	defer s.mu.Unlock()

	s.res = make(map[string]Reservation, len(running))
	for _, r := range running {
		if _, dup := s.res[r.JobID]; dup {
			s.log.Warn("GPU reservation restored twice; keeping the last", "job", r.JobID)
		}
		if r.Since.IsZero() {
			r.Since = s.opts.Now()
		}
		s.res[r.JobID] = r
		s.dropLocked(r.JobID)
		if _, ok := s.deviceLocked(r.Device); !ok && s.invAt.After(time.Time{}) {
			s.log.Warn("restored GPU reservation is on a device that is not present",
				"job", r.JobID, "device", r.Device)
		}
	}
	s.log.Info("GPU reservations restored", "count", len(s.res))
}

// Attach records the container that runs a job holding a device, so that
// the job's GPU processes are not counted as foreign. Call it once the
// container id is chosen, before the container starts.
func (s *Scheduler) Attach(jobID, container string) error {
	s.mu.Lock()
	defer s.mu.Unlock()

	r, ok := s.res[jobID]
	if !ok {
		return fmt.Errorf("%w: %s holds no device", ErrUnknownJob, jobID)
	}
	r.Container = container
	s.res[jobID] = r
	return nil
}
