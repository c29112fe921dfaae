package engine

import (
	"sync"
	"time"

	"github.com/ventapp/ventapp/jobs"
)

// Buckets (seconds) of the job histograms /metrics exports.
var (
	durationBuckets = []float64{0.1, 0.5, 1, 5, 10, 30, 60, 300, 1800, 3600}
	waitBuckets     = []float64{0.005, 0.01, 0.02, 0.05, 0.1, 0.5, 1, 5, 30, 300}
)

// jobMetrics counts finished jobs by tool and state, and keeps histograms
// of how long jobs ran and how long they waited between being queued and
// being dispatched, since the daemon started.
type jobMetrics struct {
	mu       sync.Mutex
	finished map[string]map[jobs.State]int64
	duration Histogram
	wait     Histogram
}

// Histogram is a cumulative histogram in the Prometheus sense.
type Histogram struct {
	Bounds []float64 `json:"bounds"` // upper bounds, seconds
	Counts []uint64  `json:"counts"` // cumulative count per bound
	Count  uint64    `json:"count"`
	Sum    float64   `json:"sum"`
}

func newHistogram(bounds []float64) Histogram {
	return Histogram{Bounds: bounds, Counts: make([]uint64, len(bounds))}
}

func (h *Histogram) observe(seconds float64) {
	for i, b := range h.Bounds {
		if seconds <= b {
			h.Counts[i]++
		}
	}
	h.Count++
	h.Sum += seconds
}

func (h Histogram) clone() Histogram {
	h.Counts = append([]uint64(nil), h.Counts...)
	return h
}

// JobMetrics is a snapshot of the job metrics.
type JobMetrics struct {
	// Finished counts jobs that ended since start, by tool and state.
	Finished map[string]map[jobs.State]int64
	// Duration is how long finished jobs' last attempt ran.
	Duration Histogram
	// DispatchWait is how long jobs waited from being queued to being
	// handed to a worker (drop-to-dispatch latency, past the watcher).
	DispatchWait Histogram
	// ContainerdErrors counts calls that failed because containerd was
	// unreachable, and times it went away.
	ContainerdErrors int64
}

func (m *jobMetrics) finish(j jobs.Job, st jobs.State) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.finished == nil {
		m.finished = map[string]map[jobs.State]int64{}
		m.duration = newHistogram(durationBuckets)
		m.wait = newHistogram(waitBuckets)
	}
	if m.finished[j.Tool] == nil {
		m.finished[j.Tool] = map[jobs.State]int64{}
	}
	m.finished[j.Tool][st]++
	if !j.StartedAt.IsZero() {
		m.duration.observe(time.Since(j.StartedAt).Seconds())
	}
}

func (m *jobMetrics) dispatched(j jobs.Job) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.finished == nil {
		m.finished = map[string]map[jobs.State]int64{}
		m.duration = newHistogram(durationBuckets)
		m.wait = newHistogram(waitBuckets)
	}
	if j.Attempts == 1 && !j.CreatedAt.IsZero() && !j.StartedAt.IsZero() {
		m.wait.observe(j.StartedAt.Sub(j.CreatedAt).Seconds())
	}
}

// Metrics returns a snapshot of the job metrics.
func (e *Engine) Metrics() JobMetrics {
	m := &e.jobMetrics
	m.mu.Lock()
	defer m.mu.Unlock()
	out := JobMetrics{
		Finished:         map[string]map[jobs.State]int64{},
		Duration:         m.duration.clone(),
		DispatchWait:     m.wait.clone(),
		ContainerdErrors: e.counters.containerdErrors.Load(),
	}
	if out.Duration.Bounds == nil {
		out.Duration = newHistogram(durationBuckets)
		out.DispatchWait = newHistogram(waitBuckets)
	}
	for tool, states := range m.finished {
		out.Finished[tool] = map[jobs.State]int64{}
		for st, n := range states {
			out.Finished[tool][st] = n
		}
	}
	return out
}
