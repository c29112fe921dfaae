// Package engine wires ventapp's parts into the running appliance.
//
// It owns the drop-folder watcher, the job store, the plugin registry, the
// search index and the containerd connection, and moves work between them:
// a ready file is hashed and matched against the installed plugins, one
// job per matching plugin is queued durably, and a bounded pool of workers
// runs each job as a plugin container whose output lines go to the index.
// Only cmd/ventapp and the API server import this package; it imports
// everything else.
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ventapp/ventapp/capture"
	"github.com/ventapp/ventapp/config"
	"github.com/ventapp/ventapp/containers"
	"github.com/ventapp/ventapp/drop"
	"github.com/ventapp/ventapp/gpu"
	"github.com/ventapp/ventapp/index"
	"github.com/ventapp/ventapp/jobs"
	"github.com/ventapp/ventapp/ops"
	"github.com/ventapp/ventapp/plugins"
)

// ErrContainerdDown means an action needs containerd and it is not reachable.
var ErrContainerdDown = errors.New("containerd is not reachable")

// Engine is one running ventapp appliance.
type Engine struct {
	cfg     *config.Config // restart-only settings; see live() for the rest
	liveCfg atomic.Pointer[liveSettings]
	log     *slog.Logger
	version string
	started time.Time

	store   *jobs.Store
	reg     *plugins.Registry
	idx     *index.Index
	taps    *capture.Manager
	watcher *drop.Watcher
	nvml    *gpu.NVML
	gpu     *gpuState

	ctr    atomic.Pointer[containers.Client]
	ctrErr atomic.Pointer[string] // last containerd error, nil when healthy
	ctrVer atomic.Pointer[string]

	// wake nudges idle workers when new jobs are queued.
	wake chan struct{}

	// dispatchMu serialises job claims so per-tool instance caps hold.
	dispatchMu sync.Mutex
	running    map[string]int // tool → containers running now

	// cancels holds the cancel function of each running job, by job ID.
	cancelsMu sync.Mutex
	cancels   map[string]context.CancelFunc

	statusMu sync.Mutex // guards appends to status.json

	// orphans holds IDs of jobs whose container may outlive a lost
	// containerd connection; they are swept once it is back.
	// mountCheckOff warns once that mounted folders cannot be checked
	// (see mountCheck).
	mountCheckOff sync.Once

	orphansMu sync.Mutex
	orphans   map[string]bool

	intake   chan drop.File
	stopped  <-chan struct{} // closed when Run's context ends; set by Run
	inflight sync.Map        // path → struct{}: files being hashed now

	counters   counters
	jobMetrics jobMetrics

	// builds holds the step each running image build is at, by tool.
	buildsMu sync.Mutex
	builds   map[string]string

	// lcState holds service tools and lifecycle state (lifecycle.go).
	lcOnce  sync.Once
	lcState *lifecycle

	// heartbeat is when the intake loop last went round (UnixNano).
	heartbeat atomic.Int64
}

type counters struct {
	filesSeen    atomic.Int64
	filesQueued  atomic.Int64
	filesIgnored atomic.Int64
	jobsStarted  atomic.Int64
	jobsDone     atomic.Int64
	jobsFailed   atomic.Int64
	jobsRetried  atomic.Int64
	intakeErrors atomic.Int64

	containerdErrors atomic.Int64
}

// New opens the state under cfg.DataDir: the job store, the plugin
// registry and the search index. It does not touch containerd or the drop
// folder until Run.
func New(cfg *config.Config, log *slog.Logger, version string) (*Engine, error) {
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("data dir %s: %w", cfg.DataDir, err)
	}

	e := &Engine{
		cfg:     cfg,
		log:     log,
		version: version,
		started: time.Now(),
		wake:    make(chan struct{}, 1),
		running: map[string]int{},
		cancels: map[string]context.CancelFunc{},
		orphans: map[string]bool{},
		builds:  map[string]string{},
		intake:  make(chan drop.File, 4096),
	}
	e.liveCfg.Store(liveFrom(cfg))
	e.heartbeat.Store(time.Now().UnixNano())

	var err error
	e.store, err = jobs.Open(cfg.JobsDB(), jobs.Options{Logger: log.With("part", "jobs")})
	if err != nil {
		return nil, err
	}
	// The registry keeps its bucket in the job store's bbolt file; an old
	// plugins.json is imported once and renamed.
	e.reg, err = plugins.OpenRegistry(e.store.DB(), cfg.PluginsFile(), log.With("part", "plugins"))
	if err != nil {
		e.store.Close()
		return nil, err
	}
	// vent's manifest follows the registry; write it now too, so that it
	// exists after a migration or a restore, before any plugin changes.
	e.writeManifest()
	e.idx, err = index.Open(cfg.IndexDir(), index.Options{
		Logger:        log.With("part", "index"),
		BatchSize:     cfg.IndexBatchSize,
		FlushInterval: cfg.IndexFlushInterval,
		LogDir:        cfg.LogDir(),
		NumericFields: cfg.IndexNumericFields,
	})
	if err != nil {
		e.store.Close()
		return nil, err
	}
	e.nvml = gpu.NewNVML(gpu.NVMLOptions{Logger: log.With("part", "gpu")})
	e.gpu = newGPUState(e.nvml, gpu.Options{
		CountForeignMemory: cfg.GPUCountForeignMemory,
		MaxWait:            cfg.GPUMaxWait,
		StarveAfter:        cfg.GPUStarveAfter,
		Logger:             log.With("part", "gpu"),
	})
	e.taps, err = capture.NewManager(capture.Options{
		DB:         e.store.DB(),
		DropDir:    cfg.Files,
		StagingDir: filepath.Join(cfg.DataDir, "capture-tmp"),
		Netns:      cfg.TapNetns,
		Version:    version,
		Logger:     log.With("part", "capture"),
	})
	if err != nil {
		e.idx.Close()
		e.store.Close()
		return nil, err
	}
	return e, nil
}

// BackupSource says what a backup of this appliance holds: a snapshot of
// the job store (with the plugin registry's bucket) taken in one read
// transaction, an online copy of the index and the config.
func (e *Engine) BackupSource() ops.BackupSource {
	return ops.BackupSource{
		DB:            e.store.DB(),
		DataDir:       e.cfg.DataDir,
		ConfigPath:    e.cfg.Path,
		IndexDir:      e.cfg.IndexDir(),
		IndexSnapshot: e.idx.CopyTo,
		Version:       e.version,
	}
}

// Taps returns the network tap manager.
func (e *Engine) Taps() *capture.Manager { return e.taps }

// Config returns the configuration the engine runs with.
func (e *Engine) Config() *config.Config { return e.cfg }

// Store returns the job store.
func (e *Engine) Store() *jobs.Store { return e.store }

// Registry returns the plugin registry.
func (e *Engine) Registry() *plugins.Registry { return e.reg }

// Index returns the search index.
func (e *Engine) Index() *index.Index { return e.idx }

// Run starts the appliance and blocks until ctx is cancelled. Jobs left
// running by a crash are put back in the queue first; containerd being
// unreachable is not fatal: the engine keeps trying and says so in Status.
func (e *Engine) Run(ctx context.Context, ready func()) error {
	e.stopped = ctx.Done()
	recovered, err := e.store.Recover()
	if err != nil {
		return fmt.Errorf("recover jobs: %w", err)
	}
	if len(recovered) > 0 {
		e.log.Info("jobs re-queued after an unclean stop", "count", len(recovered))
	}
	if resumed := e.taps.Resume(); len(resumed) > 0 {
		e.log.Info("network taps resumed", "taps", resumed)
	}

	e.watcher, err = drop.New(drop.Options{
		Root:   e.cfg.Files,
		Quiet:  e.cfg.QuietPeriod,
		Rescan: e.cfg.RescanInterval,
		Logger: e.log.With("part", "drop"),
	})
	if err != nil {
		return err
	}

	var wg sync.WaitGroup
	run := func(f func()) {
		wg.Add(1)
		go func() { defer wg.Done(); f() }()
	}

	// containerd first, so the sweep of crashed containers happens before
	// any worker starts a new one.
	e.connect(ctx, true)
	run(func() { e.keepConnected(ctx) })
	run(func() { e.runServices(ctx) }) // service tools marked to run; stopped when ctx ends
	run(func() { e.runStartup(ctx) })  // ~/.vent_startup.yml, once per content (startup.go)

	for range 2 {
		run(func() { e.intakeLoop(ctx) })
	}
	run(func() { e.gpuLoop(ctx) })

	// Running jobs get their own context: on shutdown the workers stop
	// claiming at once, but running containers may finish within the grace
	// period before they are killed and their jobs re-queued.
	jobsCtx, stopRunning := context.WithCancel(context.WithoutCancel(ctx))
	defer stopRunning()
	var workers sync.WaitGroup
	for i := range e.cfg.Workers {
		workers.Add(1)
		go func() { defer workers.Done(); e.worker(ctx, jobsCtx, i) }()
	}
	run(func() {
		if err := e.watcher.Run(ctx, e.fileReady); err != nil && ctx.Err() == nil {
			e.log.Error("drop folder watcher stopped", "dir", e.cfg.Files, "err", err)
		}
	})

	e.log.Info("ventapp running", "drop", e.cfg.Files, "data", e.cfg.DataDir,
		"workers", e.cfg.Workers, "containerd", e.cfg.ContainerdAddress)
	if ready != nil {
		ready()
	}

	<-ctx.Done()
	e.finishRunning(&workers, stopRunning)
	wg.Wait()
	return nil
}

// finishRunning waits for running jobs up to the shutdown grace period,
// then kills what is left; those jobs go back to the queue.
func (e *Engine) finishRunning(workers *sync.WaitGroup, stopRunning context.CancelFunc) {
	done := make(chan struct{})
	go func() { workers.Wait(); close(done) }()

	e.dispatchMu.Lock()
	n := 0
	for _, c := range e.running {
		n += c
	}
	e.dispatchMu.Unlock()
	if n > 0 {
		e.log.Info("stopping: letting running jobs finish", "running", n, "grace", e.cfg.ShutdownGrace)
	}

	select {
	case <-done:
	case <-time.After(e.cfg.ShutdownGrace):
		e.log.Warn("stopping: grace period over; killing running jobs, they will run again after restart")
		stopRunning()
		<-done
	}
}

// Close flushes the index and closes the store and the containerd client.
func (e *Engine) Close() error {
	var errs []error
	if c := e.ctr.Swap(nil); c != nil {
		errs = append(errs, c.Close())
	}
	e.nvml.Close()
	errs = append(errs, e.taps.Close(), e.idx.Close(), e.store.Close())
	return errors.Join(errs...)
}

// Containerd returns the connected client, or ErrContainerdDown.
func (e *Engine) Containerd() (*containers.Client, error) {
	c := e.ctr.Load()
	if c == nil || e.ctrErr.Load() != nil {
		msg := "not connected yet"
		if p := e.ctrErr.Load(); p != nil {
			msg = *p
		}
		return nil, fmt.Errorf("%w at %s: %s", ErrContainerdDown, e.cfg.ContainerdAddress, msg)
	}
	return c, nil
}

// connectWait is how long after the engine starts containerdSoon waits
// for its first connection to containerd.
const connectWait = 15 * time.Second

// containerdSoon is Containerd for requests that may come before the
// daemon's first connection has finished (a plugins add right after
// start): in the engine's first connectWait, until containerd has answered
// once, it waits for it. Later, or once connected, an outage is reported
// at once, as Containerd does.
func (e *Engine) containerdSoon(ctx context.Context) (*containers.Client, error) {
	deadline := e.started.Add(connectWait)
	for {
		// Whether containerd has answered is read before the connection
		// itself: connect records the answer last, so a connection that
		// finishes between the two reads is seen on the next turn rather
		// than reported as down.
		answered := e.ctrVer.Load() != nil
		c, err := e.Containerd()
		if err == nil || answered || time.Now().After(deadline) {
			return c, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// connect dials containerd once. On the first successful connection it
// sweeps containers left behind by a crash.
func (e *Engine) connect(ctx context.Context, sweep bool) bool {
	c := e.ctr.Load()
	if c == nil {
		var err error
		c, err = containers.Connect(ctx, containers.Options{
			Address:   e.cfg.ContainerdAddress,
			Namespace: e.cfg.ContainerdNamespace,
			FIFODir:   e.cfg.ContainerdFIFODir,
			Logger:    e.log.With("part", "containerd"),
		})
		if err != nil {
			e.setDown(err)
			return false
		}
		e.ctr.Store(c)
		sweep = true
	}

	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	v, err := c.Ping(pctx)
	if err != nil {
		e.setDown(err)
		return false
	}

	if sweep {
		removed, err := c.Sweep(ctx, containers.LabelKey, containers.LabelValue)
		if err != nil {
			e.log.Warn("could not sweep leftover containers", "err", err)
		} else if len(removed) > 0 {
			e.log.Info("removed containers left by an earlier run", "count", len(removed))
		}
	}
	e.sweepOrphans(ctx, c)
	if sweep {
		e.checkImages(ctx, c)
	}
	if e.ctrErr.Swap(nil) != nil || sweep {
		e.log.Info("containerd connected", "address", e.cfg.ContainerdAddress, "version", v)
		e.nudge()
	}
	e.ctrVer.Store(&v)
	return true
}

// checkImages marks plugins whose image is no longer in containerd as
// unbuilt (after a restore onto a new box, or a removed image), so their
// jobs wait instead of failing one by one, and rebuilds in the background
// those whose source folder is still at hand.
func (e *Engine) checkImages(ctx context.Context, c *containers.Client) {
	var rebuild []string
	for _, p := range e.reg.List() {
		if !p.Built {
			continue
		}
		ok, err := c.ImageExists(ctx, p.Image)
		if err != nil || ok {
			continue
		}
		e.markUnbuilt(p.Name, fmt.Errorf("%w: %s", containers.ErrImageNotFound, p.Image))
		if fi, err := os.Stat(p.Dir); err == nil && fi.IsDir() {
			rebuild = append(rebuild, p.Name)
		}
	}
	if len(rebuild) == 0 {
		return
	}
	go func() {
		for _, name := range rebuild {
			if ctx.Err() != nil {
				return
			}
			e.log.Info("rebuilding plugin whose image is missing", "tool", name)
			if r, err := e.BuildPlugin(ctx, name, nil); err != nil || r.Error != "" {
				e.log.Warn("rebuild failed; the plugin stays unbuilt", "tool", name, "err", err, "reason", r.Error)
				continue
			}
			// A service that should run could not start while its image
			// was missing (after a restore, say): start it now.
			if e.shouldRun(name) {
				for _, r := range e.startTools(ctx, []string{name}, false) {
					if r.Error != "" {
						e.log.Warn("service not started after its rebuild", "tool", r.Tool, "err", r.Error)
					}
				}
			}
		}
	}()
}

// sweepOrphans removes containers of jobs that lost their containerd
// connection mid-run, once containerd answers again.
func (e *Engine) sweepOrphans(ctx context.Context, c *containers.Client) {
	e.orphansMu.Lock()
	ids := make([]string, 0, len(e.orphans))
	for id := range e.orphans {
		ids = append(ids, id)
	}
	e.orphansMu.Unlock()

	for _, id := range ids {
		if _, err := c.Sweep(ctx, LabelJob, id); err != nil {
			e.log.Warn("could not remove container of interrupted job", "job", id, "err", err)
			continue
		}
		e.orphansMu.Lock()
		delete(e.orphans, id)
		e.orphansMu.Unlock()
	}
}

func (e *Engine) setDown(err error) {
	e.counters.containerdErrors.Add(1)
	msg := err.Error()
	if old := e.ctrErr.Swap(&msg); old == nil || *old != msg {
		e.log.Warn("containerd unavailable; jobs wait until it is back", "address", e.cfg.ContainerdAddress, "err", err)
	}
}

// keepConnected re-checks containerd every few seconds so the engine notices
// it going away and coming back.
func (e *Engine) keepConnected(ctx context.Context) {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			e.connect(ctx, false)
		}
	}
}

// nudge wakes one idle worker.
func (e *Engine) nudge() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}
