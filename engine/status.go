package engine

import (
	"encoding/json"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/ventapp/ventapp/drop"
	"github.com/ventapp/ventapp/gpu"
	"github.com/ventapp/ventapp/jobs"
)

// Status is the appliance's health and counters, as `ventapp status` and
// the API show them.
type Status struct {
	Version   string    `json:"version"`
	StartedAt time.Time `json:"started_at"`
	Uptime    string    `json:"uptime"`

	Drop       DropStatus       `json:"drop"`
	Jobs       map[string]int   `json:"jobs"`
	Running    map[string]int   `json:"running_by_tool"`
	Counters   map[string]int64 `json:"counters"`
	Containerd ServiceStatus    `json:"containerd"`
	Index      IndexStatus      `json:"index"`
	Plugins    PluginCounts     `json:"plugins"`
	GPU        gpu.Snapshot     `json:"gpu"`
	Warnings   []string         `json:"warnings,omitempty"`
}

// DropStatus describes the drop folder.
type DropStatus struct {
	Folder    string     `json:"folder"`
	FreeBytes uint64     `json:"free_bytes"`
	Watcher   drop.Stats `json:"watcher"`
}

// ServiceStatus is the health of an outside service.
type ServiceStatus struct {
	Address   string `json:"address"`
	Namespace string `json:"namespace,omitempty"`
	Healthy   bool   `json:"healthy"`
	Version   string `json:"version,omitempty"`
	Error     string `json:"error,omitempty"`
}

// IndexStatus is the health of the search index.
type IndexStatus struct {
	Dir     string `json:"dir"`
	Docs    uint64 `json:"docs"`
	Healthy bool   `json:"healthy"`
	Error   string `json:"error,omitempty"`
	// Layout is the index's document layout (see package index).
	Layout int `json:"layout"`
	// LastError is the latest indexing problem, which did not stop the
	// index (a failed batch, a lost job index).
	LastError string `json:"last_error,omitempty"`
}

// PluginCounts summarises the plugin registry.
type PluginCounts struct {
	Installed int `json:"installed"`
	Built     int `json:"built"`
	Enabled   int `json:"enabled"`
}

// Status gathers the current status.
func (e *Engine) Status() Status {
	s := Status{
		Version:   e.version,
		StartedAt: e.started,
		Uptime:    time.Since(e.started).Round(time.Second).String(),
		Drop:      DropStatus{Folder: e.cfg.Files, FreeBytes: freeBytes(e.cfg.Files)},
		Jobs:      map[string]int{},
		Running:   map[string]int{},
		Counters: map[string]int64{
			"files_seen":    e.counters.filesSeen.Load(),
			"files_queued":  e.counters.filesQueued.Load(),
			"files_ignored": e.counters.filesIgnored.Load(),
			"jobs_started":  e.counters.jobsStarted.Load(),
			"jobs_done":     e.counters.jobsDone.Load(),
			"jobs_failed":   e.counters.jobsFailed.Load(),
			"jobs_retried":  e.counters.jobsRetried.Load(),
			"intake_errors": e.counters.intakeErrors.Load(),
		},
		Containerd: ServiceStatus{Address: e.cfg.ContainerdAddress, Namespace: e.cfg.ContainerdNamespace},
		Index:      IndexStatus{Dir: e.cfg.IndexDir(), Healthy: true},
		Warnings:   e.live().Warnings,
	}
	if e.watcher != nil {
		s.Drop.Watcher = e.watcher.Stats()
	}

	counts, err := e.store.Counts()
	if err != nil {
		s.Warnings = append(s.Warnings, fmt.Sprintf("job counts: %v", err))
	}
	for _, st := range []jobs.State{jobs.Queued, jobs.Running, jobs.Done, jobs.Failed, jobs.Cancelled} {
		s.Jobs[string(st)] = counts[st]
	}
	e.dispatchMu.Lock()
	for k, v := range e.running {
		s.Running[k] = v
	}
	e.dispatchMu.Unlock()

	if _, err := e.Containerd(); err != nil {
		s.Containerd.Error = err.Error()
	} else {
		s.Containerd.Healthy = true
		if v := e.ctrVer.Load(); v != nil {
			s.Containerd.Version = *v
		}
	}

	docs, err := e.idx.DocCount()
	if err != nil {
		s.Index.Healthy = false
		s.Index.Error = err.Error()
	}
	s.Index.Docs = docs
	s.Index.Layout = e.idx.Layout()
	s.Index.LastError = e.idx.Stats().LastError

	s.GPU = e.GPUSnapshot()

	for _, p := range e.reg.List() {
		s.Plugins.Installed++
		if p.Built {
			s.Plugins.Built++
		}
		if p.Enabled {
			s.Plugins.Enabled++
		}
	}
	return s
}

func freeBytes(dir string) uint64 {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0
	}
	return st.Bavail * uint64(st.Bsize)
}

// statusRecord is one line of status.json: vent's fields first, then
// ventapp's own.
type statusRecord struct {
	FileName   string    `json:"FileName"`
	VentPlugin string    `json:"VentPlugin"`
	StartedAt  time.Time `json:"StartedAt"`
	FinishedAt time.Time `json:"FinishedAt"`
	ID         string    `json:"ID"`

	JobID    string `json:"job_id"`
	Tool     string `json:"tool"`
	State    string `json:"state"`
	ExitCode *int   `json:"exit_code,omitempty"`
	Reason   string `json:"reason,omitempty"`
	SHA256   string `json:"file_sha256"`
	Attempts int    `json:"attempts"`
}

// appendStatus adds a finished job to status.json, keeping vent's
// JSON-lines format so tools that read vent's file keep working.
func (e *Engine) appendStatus(j jobs.Job, st jobs.State, exit *int, reason string) {
	name := j.Tool
	if p, err := e.reg.Get(j.Tool); err == nil && p.LinkName != "" {
		name = p.LinkName
	}
	container := fmt.Sprintf("ventapp-%s-%d", j.ID, j.Attempts)
	rec := statusRecord{
		FileName:   j.File,
		VentPlugin: name,
		StartedAt:  j.StartedAt,
		FinishedAt: time.Now().UTC(),
		ID:         container,
		JobID:      j.ID,
		Tool:       j.Tool,
		State:      string(st),
		ExitCode:   exit,
		Reason:     reason,
		SHA256:     j.FileSHA256,
		Attempts:   j.Attempts,
	}
	line, err := json.Marshal(rec)
	if err != nil {
		return
	}

	e.statusMu.Lock()
	defer e.statusMu.Unlock()
	f, err := os.OpenFile(e.cfg.StatusFile(), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o640)
	if err != nil {
		e.log.Warn("status.json", "err", err)
		return
	}
	defer f.Close()
	if _, err := f.Write(append(line, '\n')); err != nil {
		e.log.Warn("status.json", "err", err)
	}
}
