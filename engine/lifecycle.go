package engine

// The plugin lifecycle beyond add, build and enable. This file holds the
// state every part shares (what survives a restart, per-tool locks), and
// clean and remove; services.go runs service tools, update.go updates,
// rolls back and configures tools, images.go handles base images and image
// commands, bundles.go offline bundles, and ports.go published ports.
// vent's behaviour is kept where it was sound; plugins/README.md lists
// every place ventapp differs on purpose.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"go.etcd.io/bbolt"

	"github.com/ventapp/ventapp/containers"
	"github.com/ventapp/ventapp/jobs"
	"github.com/ventapp/ventapp/plugins"
)

// Lifecycle errors.
var (
	// ErrNotService is returned when start names a tool that processes
	// files: it runs when a matching file is dropped, not on its own.
	ErrNotService = errors.New("not a service tool")

	// ErrNoLog is returned by ToolLogs for a service tool that has not run
	// yet, so has no log.
	ErrNoLog = errors.New("no service log yet")

	// ErrToolBusy is returned when a tool cannot be removed or updated
	// because jobs of it are running.
	ErrToolBusy = errors.New("tool is busy")

	// ErrNoPrevious is returned by RollbackTool when no update kept an
	// earlier image of the tool.
	ErrNoPrevious = errors.New("no previous version kept")

	// ErrImageInUse is returned by RemoveImage for an installed tool's image.
	ErrImageInUse = errors.New("image in use")
)

// LabelService marks a service container with its tool name.
const LabelService = "ventapp.service"

// lifecycleFile is where versions before the lifecycle state moved into
// the job store's bbolt file kept it, as JSON in the data dir. It is
// imported once and renamed with ".migrated".
const lifecycleFile = "lifecycle.json"

// lifecycleState is the lifecycle state that survives a restart, kept as
// JSON under plugins.LifecycleBucket/LifecycleStateKey in the job store.
type lifecycleState struct {
	// Started lists the service tools that should run, also after a
	// restart of the daemon.
	Started map[string]bool `json:"started"`

	// Configured holds the template text set with configure, by tool; an
	// update keeps it over the repository's template.
	Configured map[string]string `json:"configured,omitempty"`

	// Previous holds, by tool, the record from before the last update; its
	// Image names the kept image.
	Previous map[string]*plugins.Plugin `json:"previous,omitempty"`
}

// lifecycle is the engine's lifecycle state: service tools running now and
// what must survive a restart (lifecycleState, in the job store).
type lifecycle struct {
	mu       sync.Mutex
	state    lifecycleState
	services map[string][]*containers.Service // tool → running instances
	runCtx   context.Context                  // the engine's Run context; nil before Run
	toolMu   map[string]*sync.Mutex           // serialises lifecycle actions per tool
	ports    map[string]*published            // container → its published ports (ports.go)
}

// lc returns the engine's lifecycle state, loading it on first use.
func (e *Engine) lc() *lifecycle {
	e.lcOnce.Do(func() { e.lcState = e.loadLifecycle() })
	return e.lcState
}

// loadLifecycle reads the lifecycle state from the job store, importing
// an old lifecycle.json the first time. A state that cannot be read is
// logged and replaced by an empty one: services then stay stopped until
// started again, and nothing else is lost.
func (e *Engine) loadLifecycle() *lifecycle {
	l := &lifecycle{services: map[string][]*containers.Service{}, toolMu: map[string]*sync.Mutex{}}
	data, err := e.readLifecycle()
	if err != nil {
		e.log.Warn("lifecycle state unreadable; starting with none", "err", err)
	} else if data != nil {
		if err := json.Unmarshal(data, &l.state); err != nil {
			e.log.Warn("lifecycle state unreadable; starting with none", "err", err)
		}
	}
	if l.state.Started == nil {
		l.state.Started = map[string]bool{}
	}
	return l
}

// readLifecycle returns the stored state, or nil when there is none. When
// the bucket does not exist yet, a legacy lifecycle.json is imported in
// the transaction that creates it and then renamed.
func (e *Engine) readLifecycle() ([]byte, error) {
	var data []byte
	found := false
	err := e.store.DB().View(func(tx *bbolt.Tx) error {
		if b := tx.Bucket([]byte(plugins.LifecycleBucket)); b != nil {
			data, found = bytes.Clone(b.Get([]byte(plugins.LifecycleStateKey))), true
		}
		return nil
	})
	legacy := filepath.Join(e.cfg.DataDir, lifecycleFile)
	if err != nil || found {
		if _, serr := os.Stat(legacy); err == nil && serr == nil {
			e.log.Warn("ignoring an old lifecycle file: the state is in the job store already", "file", legacy)
		}
		return data, err
	}

	old, err := os.ReadFile(legacy)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", legacy, err)
	}
	if !json.Valid(old) {
		return nil, fmt.Errorf("%s is not valid JSON; left in place", legacy)
	}
	err = e.store.DB().Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte(plugins.LifecycleBucket))
		if err != nil {
			return err
		}
		return b.Put([]byte(plugins.LifecycleStateKey), old)
	})
	if err != nil {
		return nil, fmt.Errorf("importing %s: %w", legacy, err)
	}
	if err := os.Rename(legacy, legacy+".migrated"); err != nil {
		e.log.Warn("lifecycle state imported but the old file stays", "file", legacy, "err", err)
	} else {
		e.log.Info("lifecycle state imported into the job store", "file", legacy)
	}
	return old, nil
}

// saveLifecycle writes the lifecycle state to the job store in one
// transaction. The caller holds l.mu. A failure is logged: the running
// daemon goes on with its state in memory.
func (e *Engine) saveLifecycle(l *lifecycle) {
	data, err := json.Marshal(l.state)
	if err == nil {
		err = e.store.DB().Update(func(tx *bbolt.Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte(plugins.LifecycleBucket))
			if err != nil {
				return err
			}
			return b.Put([]byte(plugins.LifecycleStateKey), data)
		})
	}
	if err != nil {
		e.log.Warn("could not save lifecycle state", "err", err)
	}
}

// removeToolLogs deletes the log files of a service tool's containers,
// rotated ones included, and those of instances it no longer has (after
// its instances were lowered).
func (e *Engine) removeToolLogs(name string) {
	p, err := e.reg.Get(name)
	if err != nil || !IsService(p) {
		return
	}
	base := containerName(p, 1)
	dir := filepath.Dir(e.serviceLog(base))
	entries, _ := os.ReadDir(dir)
	for _, ent := range entries {
		rest, ok := strings.CutPrefix(ent.Name(), base)
		if !ok {
			continue
		}
		rest, ok = strings.CutSuffix(strings.TrimSuffix(rest, ".1"), ".log")
		if ok && strings.Trim(rest, "0123456789") == "" { // instance 1, or N
			os.Remove(filepath.Join(dir, ent.Name()))
		}
	}
}

// shouldRun reports whether the lifecycle state says the service tool
// name should be running.
func (e *Engine) shouldRun(name string) bool {
	l := e.lc()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.state.Started[name]
}

// lockTool serialises lifecycle actions on one tool.
func (l *lifecycle) lockTool(name string) func() {
	l.mu.Lock()
	m := l.toolMu[name]
	if m == nil {
		m = &sync.Mutex{}
		l.toolMu[name] = m
	}
	l.mu.Unlock()
	m.Lock()
	return m.Unlock
}

// ToolResult reports what a lifecycle action did to one tool.
type ToolResult struct {
	Tool       string   `json:"tool"`
	Done       string   `json:"done,omitempty"`
	Containers []string `json:"containers,omitempty"`
	Error      string   `json:"error,omitempty"`
}

// CleanTools stops the named tools' services, removes any container left
// with their label and deletes their service logs, as vent's clean did
// (force-remove). Running jobs of the tools are not touched.
func (e *Engine) CleanTools(ctx context.Context, names []string) ([]ToolResult, error) {
	c, err := e.Containerd()
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		if _, err := e.reg.Get(n); err != nil {
			return nil, err
		}
	}
	var results []ToolResult
	for _, n := range names {
		r := e.stopTool(ctx, n, true)
		removed, err := c.Sweep(ctx, LabelService, n)
		if err != nil {
			r.Error = strings.TrimPrefix(r.Error+"; "+err.Error(), "; ")
		}
		r.Containers = append(r.Containers, removed...)
		e.removeToolLogs(n)
		r.Done = "cleaned"
		results = append(results, r)
	}
	return results, nil
}

// RemoveTools uninstalls the named tools: it stops their services,
// cancels their queued jobs, removes their images (the current and the one
// kept for rollback) and unregisters them. A tool with running jobs is
// refused with ErrToolBusy before anything changes. The git clone is kept,
// as in vent.
func (e *Engine) RemoveTools(ctx context.Context, names []string) ([]ToolResult, error) {
	for _, n := range names {
		if _, err := e.reg.Get(n); err != nil {
			return nil, err
		}
		running, err := e.store.List(jobs.Filter{Tool: n, State: jobs.Running})
		if err != nil {
			return nil, err
		}
		if len(running) > 0 {
			return nil, fmt.Errorf("remove %s: %w: %d of its jobs are running (cancel them or wait)",
				n, ErrToolBusy, len(running))
		}
	}

	var results []ToolResult
	for _, n := range names {
		r := e.stopTool(ctx, n, true)
		p, err := e.reg.Get(n)
		if err != nil {
			r.Error = err.Error()
			results = append(results, r)
			continue
		}
		queued, _ := e.store.List(jobs.Filter{Tool: n, State: jobs.Queued})
		for _, j := range queued {
			if err := e.store.Cancel(j.ID); err != nil {
				e.log.Warn("could not cancel job of removed tool", "job", j.ID, "err", err)
			}
		}

		l := e.lc()
		l.mu.Lock()
		prev := l.state.Previous[n]
		delete(l.state.Previous, n)
		delete(l.state.Configured, n)
		e.saveLifecycle(l)
		l.mu.Unlock()

		if c, err := e.Containerd(); err == nil {
			refs := []string{p.Image}
			if prev != nil && prev.Image != p.Image {
				refs = append(refs, prev.Image)
			}
			for _, ref := range refs {
				if e.imageShared(ref, n) {
					continue
				}
				if err := c.RemoveImage(ctx, ref); err != nil && !errors.Is(err, containers.ErrImageNotFound) {
					r.Error = err.Error()
				}
			}
		} else {
			r.Error = fmt.Sprintf("image %s not removed: %v", p.Image, err)
		}
		// A service's log files go with it, or a tool added again later
		// under the same name would show the old container's output.
		e.removeToolLogs(n)
		if err := e.reg.Remove(n); err != nil {
			r.Error = err.Error()
		} else {
			r.Done = "removed"
		}
		if len(queued) > 0 {
			r.Done += fmt.Sprintf(" (%d queued jobs cancelled)", len(queued))
		}
		results = append(results, r)
	}
	e.writeManifest()
	return results, nil
}

// imageShared reports whether another installed tool uses ref.
func (e *Engine) imageShared(ref, except string) bool {
	for _, p := range e.reg.List() {
		if p.Name != except && p.Image == ref {
			return true
		}
	}
	return false
}

func short12(commit string) string {
	if len(commit) > 12 {
		return commit[:12]
	}
	return commit
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
