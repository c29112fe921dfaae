package gpu

import (
	"slices"
	"strings"
	"time"
)

// Snapshot is the scheduler's state for status pages, the API and metrics.
type Snapshot struct {
	// Available is false when the inventory could not be read; Error then
	// says why (no cgo, no driver, driver lost).
	Available bool   `json:"available"`
	Error     string `json:"error,omitempty"`

	// Updated is when the inventory was read last; zero if never.
	Updated time.Time `json:"updated"`

	// Devices are the devices seen last with ventapp's use of each.
	Devices []DeviceState `json:"devices"`

	// Reservations are all devices held by jobs, by job id, including
	// any on devices that are no longer present.
	Reservations []Reservation `json:"reservations"`

	// Queue holds the waiting jobs, oldest first.
	Queue []Waiting `json:"queue"`
}

// DeviceState is one device and what ventapp does with it.
type DeviceState struct {
	Device

	// ReservedMB is the mem_mb reserved by ventapp jobs on the device.
	ReservedMB int64 `json:"reserved_mb"`

	// Jobs are the ids of the ventapp jobs on the device.
	Jobs []string `json:"jobs"`

	// Dedicated reports whether a dedicated ventapp job holds the device.
	Dedicated bool `json:"dedicated"`

	// ForeignMB is the memory used by processes that are not ventapp's.
	ForeignMB int64 `json:"foreign_mb"`

	// HeldFor names the starving job the device is being drained for.
	HeldFor string `json:"held_for,omitempty"`
}

// Waiting is one queued job.
type Waiting struct {
	JobID   string    `json:"job_id"`
	Request Request   `json:"request"`
	Since   time.Time `json:"since"`

	// HeldDevice is the device being drained for the job, if any.
	HeldDevice *int `json:"held_device,omitempty"`
}

// Snapshot returns a copy of the scheduler's state. It reads no inventory.
func (s *Scheduler) Snapshot() Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()

	snap := Snapshot{Available: s.invErr == nil && !s.invAt.IsZero(), Updated: s.invAt}
	if s.invErr != nil {
		snap.Error = s.invErr.Error()
	}

	for _, st := range s.statesLocked() {
		ds := DeviceState{Device: cloneDevices([]Device{st.dev})[0], ReservedMB: st.reservedMB,
			Dedicated: st.dedicated, ForeignMB: st.foreignMB, HeldFor: s.holds[st.dev.Index],
			Jobs: []string{}}
		for _, r := range s.res {
			if r.Device == st.dev.Index {
				ds.Jobs = append(ds.Jobs, r.JobID)
			}
		}
		slices.Sort(ds.Jobs)
		snap.Devices = append(snap.Devices, ds)
	}

	for _, r := range s.res {
		snap.Reservations = append(snap.Reservations, r)
	}
	slices.SortFunc(snap.Reservations, func(a, b Reservation) int { return strings.Compare(a.JobID, b.JobID) })

	for _, w := range s.queue {
		q := Waiting{JobID: w.id, Request: w.req, Since: w.since}
		if w.hold >= 0 {
			h := w.hold
			q.HeldDevice = &h
		}
		snap.Queue = append(snap.Queue, q)
	}
	return snap
}
