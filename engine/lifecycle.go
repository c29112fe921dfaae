package engine

// The plugin lifecycle beyond add, build and enable: long-running service
// tools (start, stop, clean, logs, the services list), remove, update and
// roll back, configure, offline bundles, and image export, removal and
// pulls. vent's behaviour is kept where it was sound; plugins/README.md
// lists every place ventapp differs on purpose.

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/distribution/reference"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"go.etcd.io/bbolt"
	"gopkg.in/ini.v1"

	"github.com/ventapp/ventapp/builder"
	"github.com/ventapp/ventapp/containers"
	"github.com/ventapp/ventapp/jobs"
	"github.com/ventapp/ventapp/plugins"
	"github.com/ventapp/ventapp/portmap"
	"github.com/ventapp/ventapp/pylit"
)

// Lifecycle errors.
var (
	// ErrNotService is returned when start names a tool that processes
	// files: it runs when a matching file is dropped, not on its own.
	ErrNotService = errors.New("not a service tool")

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
	if err != nil || found {
		return data, err
	}

	legacy := filepath.Join(e.cfg.DataDir, lifecycleFile)
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

// IsService reports whether p runs as a long-lived container: it has no
// ext_types, or it has [service] keys.
func IsService(p *plugins.Plugin) bool {
	return len(p.Settings.ExtTypes) == 0 || len(p.Settings.Labels) > 0
}

// containerName is vent's name for the long-running container of p:
// the image name with "/" and ":" turned into "-", and the instance
// number from the second instance on.
func containerName(p *plugins.Plugin, instance int) string {
	name := strings.NewReplacer("/", "-", ":", "-").Replace(p.Image)
	if instance > 1 {
		name += strconv.Itoa(instance)
	}
	return name
}

// serviceLog is the log file of one service container.
func (e *Engine) serviceLog(container string) string {
	return filepath.Join(e.cfg.DataDir, "services", container+".log")
}

// runServices starts the services marked to run once containerd is
// connected and the crash sweep is done, and stops them all when ctx ends.
// Engine.Run calls it.
func (e *Engine) runServices(ctx context.Context) {
	l := e.lc()
	l.mu.Lock()
	l.runCtx = ctx
	l.mu.Unlock()

	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for ctx.Err() == nil {
		if _, err := e.Containerd(); err == nil && e.ctrVer.Load() != nil {
			break
		}
		select {
		case <-ctx.Done():
		case <-t.C:
		}
	}
	if ctx.Err() == nil {
		l.mu.Lock()
		var names []string
		for name, on := range l.state.Started {
			if on {
				names = append(names, name)
			}
		}
		l.mu.Unlock()
		if len(names) > 0 {
			for _, r := range e.startTools(ctx, names, false) {
				if r.Error != "" {
					e.log.Warn("service not started", "tool", r.Tool, "err", r.Error)
				}
			}
		}
	}

	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), containers.DefaultStopGrace+30*time.Second)
	defer cancel()
	l.mu.Lock()
	all := l.services
	l.services = map[string][]*containers.Service{}
	l.mu.Unlock()
	var wg sync.WaitGroup
	for tool, svs := range all {
		for _, sv := range svs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				e.unpublishService(sv.ID())
				if err := sv.Stop(sctx); err != nil {
					e.log.Warn("service did not stop cleanly", "tool", tool, "container", sv.ID(), "err", err)
				}
				e.releaseServiceGPU(sv.ID())
			}()
		}
	}
	wg.Wait()
}

// serviceCtx is the context services run under: the engine's Run context
// when it runs, so they stop with it.
func (e *Engine) serviceCtx() context.Context {
	l := e.lc()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.runCtx != nil {
		return l.runCtx
	}
	return context.Background()
}

// StartTools starts the named service tools, all their instances, in
// vent's start order. No names means every enabled, built service tool
// outside the "hidden" group. Started tools come back after a restart of
// the daemon until they are stopped.
func (e *Engine) StartTools(ctx context.Context, names []string) ([]ToolResult, error) {
	if _, err := e.Containerd(); err != nil {
		return nil, err
	}
	explicit := len(names) > 0
	if !explicit {
		for _, p := range e.reg.List() {
			if IsService(p) && p.Enabled && p.Built && !slices.Contains(p.Groups, "hidden") {
				names = append(names, p.Name)
			}
		}
	}
	for _, n := range names {
		if _, err := e.reg.Get(n); err != nil {
			return nil, err
		}
	}
	return e.startTools(ctx, names, true), nil
}

// startTools starts names in start order; record marks them to run again
// after a restart.
func (e *Engine) startTools(ctx context.Context, names []string, record bool) []ToolResult {
	var list []*plugins.Plugin
	var results []ToolResult
	for _, n := range names {
		p, err := e.reg.Get(n)
		if err != nil {
			results = append(results, ToolResult{Tool: n, Error: err.Error()})
			continue
		}
		list = append(list, p)
	}
	for _, p := range e.startOrder(list) {
		r := e.startTool(ctx, p, record)
		results = append(results, r)
	}
	return results
}

// startTool starts every instance of one service tool.
func (e *Engine) startTool(ctx context.Context, p *plugins.Plugin, record bool) ToolResult {
	l := e.lc()
	defer l.lockTool(p.Name)()
	res := ToolResult{Tool: p.Name}

	switch {
	case !IsService(p):
		res.Error = fmt.Sprintf("%v: %s processes files (ext_types %s); it runs when a matching file is dropped",
			ErrNotService, p.Name, strings.Join(p.Settings.ExtTypes, ","))
		return res
	case !p.Enabled:
		res.Error = fmt.Sprintf("%s is disabled; enable it first", p.Name)
		return res
	case !p.Built:
		res.Error = fmt.Sprintf("%s is not built; build it first", p.Name)
		return res
	}
	c, err := e.Containerd()
	if err != nil {
		res.Error = err.Error()
		return res
	}

	l.mu.Lock()
	running := len(l.services[p.Name])
	l.mu.Unlock()
	if running > 0 {
		res.Done = "already running"
	}
	n := max(1, p.Settings.Instances)
	ports, err := e.portMappings(ctx, p)
	if err != nil && running < n {
		res.Error = err.Error()
		return res
	}
	var started []*containers.Service
	for i := running + 1; i <= n; i++ {
		spec := serviceSpec(p, containerName(p, i))
		if p.Settings.GPU.Enabled {
			if err := e.reserveServiceGPU(ctx, p, &spec); err != nil {
				res.Error = fmt.Sprintf("instance %d (%s): %v", i, spec.ID, err)
				break
			}
		}
		pp, err := e.publishService(p, ports, i, spec.ID)
		if err != nil {
			e.releaseServiceGPU(spec.ID)
			res.Error = fmt.Sprintf("instance %d (%s): %v", i, spec.ID, err)
			break
		}
		sv, err := c.RunService(e.serviceCtx(), spec, containers.ServiceOptions{LogPath: e.serviceLog(spec.ID)})
		if errors.Is(err, containers.ErrExists) {
			// A container of that name is left from an earlier run.
			if _, serr := c.Sweep(ctx, LabelService, p.Name); serr == nil {
				sv, err = c.RunService(e.serviceCtx(), spec, containers.ServiceOptions{LogPath: e.serviceLog(spec.ID)})
			}
		}
		if err != nil {
			e.unpublishService(spec.ID)
			e.releaseServiceGPU(spec.ID)
			res.Error = fmt.Sprintf("instance %d (%s): %v", i, spec.ID, err)
			break
		}
		pp.attach(sv)
		started = append(started, sv)
	}

	l.mu.Lock()
	l.services[p.Name] = append(l.services[p.Name], started...)
	for _, sv := range l.services[p.Name] {
		res.Containers = append(res.Containers, sv.ID())
	}
	if record && res.Error == "" {
		l.state.Started[p.Name] = true
		e.saveLifecycle(l)
	}
	l.mu.Unlock()
	if res.Error == "" && res.Done == "" {
		res.Done = "started"
	}
	if len(started) > 0 {
		e.log.Info("service tool started", "tool", p.Name, "containers", res.Containers)
	}
	return res
}

// serviceSpec is the container of one service instance.
func serviceSpec(p *plugins.Plugin, id string) containers.Spec {
	d := p.Settings.Docker
	var mounts []containers.Mount
	for _, v := range d.Volumes {
		mounts = append(mounts, containers.Mount{Source: v.Source, Target: v.Target, ReadOnly: v.ReadOnly})
	}
	labels := map[string]string{
		"vent":         "",
		"vent.name":    p.LinkName,
		"vent.section": p.Name,
		"vent.repo":    p.Repo,
		"vent.type":    "repository",
		"vent.groups":  strings.Join(p.Groups, ","),
		LabelService:   p.Name,
		LabelTool:      p.Name,
	}
	if len(p.Settings.Priority) > 0 {
		var pr []string
		for _, n := range p.Settings.Priority {
			pr = append(pr, strconv.Itoa(n))
		}
		labels["vent.priority"] = strings.Join(pr, ",")
	}
	for k, v := range p.Settings.Labels {
		labels[k] = v
	}
	spec := containers.Spec{
		ID:          id,
		Image:       p.Image,
		Env:         d.Environment,
		Mounts:      mounts,
		HostNetwork: d.HostNetwork,
		MemoryBytes: d.MemoryBytes,
		PidsLimit:   d.PidsLimit,
		User:        d.User,
		WorkingDir:  d.WorkingDir,
		Labels:      labels,
	}
	if len(d.Command) > 0 {
		spec.Args, spec.ReplaceCmd = d.Command, true
	}
	return spec
}

// startOrder sorts tools as vent started them: groups in vent.cfg
// [groups] start_order order, then the other groups alphabetically; within
// a group by priority, then by name; tools without a priority last. Each
// tool comes once, at its first place.
func (e *Engine) startOrder(list []*plugins.Plugin) []*plugins.Plugin {
	type entry struct {
		prio int
		p    *plugins.Plugin
	}
	byGroup := map[string][]entry{}
	var last []*plugins.Plugin
	for _, p := range list {
		if len(p.Settings.Priority) == 0 {
			last = append(last, p)
			continue
		}
		for i, g := range p.Groups {
			if i < len(p.Settings.Priority) {
				byGroup[g] = append(byGroup[g], entry{p.Settings.Priority[i], p})
			}
		}
	}

	order := e.configuredStartOrder()
	var rest []string
	for g := range byGroup {
		if !slices.Contains(order, g) {
			rest = append(rest, g)
		}
	}
	sort.Strings(rest)
	order = append(order, rest...)

	var out []*plugins.Plugin
	seen := map[string]bool{}
	add := func(p *plugins.Plugin) {
		if !seen[p.Name] {
			seen[p.Name] = true
			out = append(out, p)
		}
	}
	for _, g := range order {
		es := byGroup[g]
		sort.SliceStable(es, func(i, j int) bool {
			if es[i].prio != es[j].prio {
				return es[i].prio < es[j].prio
			}
			return es[i].p.Name < es[j].p.Name
		})
		for _, en := range es {
			add(en.p)
		}
	}
	// A priority given to no group (more priorities than groups) and
	// tools without a priority go last, by name.
	for _, p := range list {
		if len(p.Settings.Priority) > 0 && !seen[p.Name] {
			last = append(last, p)
		}
	}
	sort.SliceStable(last, func(i, j int) bool { return last[i].Name < last[j].Name })
	for _, p := range last {
		add(p)
	}
	return out
}

// configuredStartOrder reads vent.cfg [groups] start_order.
func (e *Engine) configuredStartOrder() []string {
	if e.cfg.Path == "" {
		return nil
	}
	f, err := ini.Load(e.cfg.Path)
	if err != nil {
		return nil
	}
	var out []string
	for _, g := range strings.Split(f.Section("groups").Key("start_order").String(), ",") {
		if g = strings.TrimSpace(g); g != "" {
			out = append(out, g)
		}
	}
	return out
}

// StopTools stops every instance of the named service tools and removes
// their containers; they are no longer started with the daemon. vent
// missed instances after the first and never recorded the stop.
func (e *Engine) StopTools(ctx context.Context, names []string) ([]ToolResult, error) {
	for _, n := range names {
		if _, err := e.reg.Get(n); err != nil {
			return nil, err
		}
	}
	var results []ToolResult
	for _, n := range names {
		results = append(results, e.stopTool(ctx, n, true))
	}
	return results, nil
}

// stopTool stops the tool's services; forget clears its start mark.
func (e *Engine) stopTool(ctx context.Context, name string, forget bool) ToolResult {
	l := e.lc()
	defer l.lockTool(name)()
	res := ToolResult{Tool: name, Done: "not running"}

	l.mu.Lock()
	svs := l.services[name]
	delete(l.services, name)
	if forget && l.state.Started[name] {
		delete(l.state.Started, name)
		e.saveLifecycle(l)
	}
	l.mu.Unlock()

	var errs []string
	for _, sv := range svs {
		res.Containers = append(res.Containers, sv.ID())
		e.unpublishService(sv.ID())
		if err := sv.Stop(ctx); err != nil {
			errs = append(errs, err.Error())
		}
		e.releaseServiceGPU(sv.ID())
	}
	if len(svs) > 0 {
		res.Done = "stopped"
		e.log.Info("service tool stopped", "tool", name, "containers", res.Containers)
	}
	res.Error = strings.Join(errs, "; ")
	return res
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
		logs, _ := e.ToolLogs(n)
		for _, f := range logs {
			os.Remove(f)
			os.Remove(f + ".1")
		}
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

// previousRef names the image an update keeps: the tag gets "-previous".
func previousRef(image string) string {
	i := strings.LastIndex(image, ":")
	if i < 0 || strings.Contains(image[i:], "/") {
		return image + ":previous"
	}
	tag := image[i+1:] + "-previous"
	if len(tag) > 128 {
		tag = tag[len(tag)-128:]
	}
	return image[:i] + ":" + tag
}

// tagImage makes dst name the same image as src.
func tagImage(ctx context.Context, c *containers.Client, src, dst string) error {
	ctx = namespaces.WithNamespace(ctx, c.Namespace())
	is := c.Raw().ImageService()
	img, err := is.Get(ctx, src)
	if err != nil {
		return fmt.Errorf("tag %s as %s: %w", src, dst, err)
	}
	img.Name = dst
	img.CreatedAt, img.UpdatedAt = time.Time{}, time.Time{}
	if _, err := is.Create(ctx, img); err != nil {
		if _, uerr := is.Update(ctx, img); uerr != nil {
			return fmt.Errorf("tag %s as %s: %w", src, dst, err)
		}
	}
	return nil
}

// UpdateTools fetches each named tool's source again (the branch tip of
// its git repository, or its local folder), rebuilds its image and, when
// it runs, restarts it and the running tools whose [docker] links name it.
// The image from before is kept as "<image>-previous" so RollbackTool can
// bring it back. A tool whose commit did not change is reported as up to
// date; a template set with configure is kept.
func (e *Engine) UpdateTools(ctx context.Context, names []string, progress func(string)) ([]ToolResult, error) {
	if _, err := e.Containerd(); err != nil {
		return nil, err
	}
	for _, n := range names {
		if _, err := e.reg.Get(n); err != nil {
			return nil, err
		}
	}
	var results []ToolResult
	for _, n := range names {
		results = append(results, e.updateTool(ctx, n, progress))
	}
	e.writeManifest()
	e.nudge()
	return results, nil
}

func (e *Engine) updateTool(ctx context.Context, name string, progress func(string)) ToolResult {
	res := ToolResult{Tool: name}
	old, err := e.reg.Get(name)
	if err != nil {
		res.Error = err.Error()
		return res
	}
	fresh, err := e.freshSource(ctx, old)
	if err != nil {
		res.Error = err.Error()
		return res
	}
	l := e.lc()
	l.mu.Lock()
	configured, hasConfigured := l.state.Configured[name]
	l.mu.Unlock()
	if hasConfigured {
		if err := applyTemplate(fresh, configured); err != nil {
			e.log.Warn("configured template no longer applies; using the repository's", "tool", name, "err", err)
		}
	}
	if old.RepoURL != "" && fresh.Commit == old.Commit && old.Built && fresh.Template == old.Template {
		res.Done = "up to date at " + short12(old.Commit)
		return res
	}

	c, err := e.Containerd()
	if err != nil {
		res.Error = err.Error()
		return res
	}
	prev := previousRef(old.Image)
	keep := false
	if old.Built {
		if err := tagImage(ctx, c, old.Image, prev); err != nil {
			e.log.Warn("could not keep the previous image", "tool", name, "err", err)
		} else {
			keep = true
		}
	}

	digest, err := e.rebuild(ctx, c, fresh, progress)
	if err != nil {
		if keep {
			c.RemoveImage(ctx, prev)
		}
		res.Error = fmt.Sprintf("update not applied, %s keeps its current version: %v", name, err)
		return res
	}

	err = e.reg.Update(name, func(p *plugins.Plugin) error {
		enabled := p.Enabled
		*p = *fresh.Clone()
		p.Enabled = enabled
		p.Built, p.BuildError, p.ImageDigest, p.BuiltAt = true, "", digest, time.Now().UTC()
		return nil
	})
	if err != nil {
		res.Error = err.Error()
		return res
	}
	if keep {
		kept := old.Clone()
		kept.Image = prev
		l.mu.Lock()
		if l.state.Previous == nil {
			l.state.Previous = map[string]*plugins.Plugin{}
		}
		l.state.Previous[name] = kept
		e.saveLifecycle(l)
		l.mu.Unlock()
	}
	res.Done = "updated"
	if fresh.Commit != "" {
		res.Done = fmt.Sprintf("updated %s → %s", short12(old.Commit), short12(fresh.Commit))
	}
	e.log.Info("plugin updated", "tool", name, "from", old.Commit, "to", fresh.Commit, "digest", digest)
	res.Containers = e.restartWithDependents(ctx, name)
	return res
}

// freshSource reads the tool again from its git repository or folder.
func (e *Engine) freshSource(ctx context.Context, old *plugins.Plugin) (*plugins.Plugin, error) {
	var found []*plugins.Plugin
	if old.RepoURL != "" {
		r, err := plugins.FetchRepo(ctx, e.cfg.DataDir, plugins.RepoOptions{
			URL: old.RepoURL, Branch: old.Branch, Tools: []string{old.Name},
			Auth: plugins.CredentialsFromEnv(), Logger: e.log.With("part", "git"),
		})
		if err != nil {
			return nil, err
		}
		if found, err = r.Tools(); err != nil {
			return nil, err
		}
	} else {
		var err error
		if found, err = plugins.LoadDir(old.Dir); err != nil {
			return nil, err
		}
	}
	for _, p := range found {
		if p.Name == old.Name {
			return p, nil
		}
	}
	return nil, fmt.Errorf("update %s: %w: the tool is gone from %s", old.Name, plugins.ErrToolNotInRepo,
		cmpOr(old.RepoURL, old.Dir))
}

// rebuild builds p's image from source, pulling missing base images when a
// registry is reachable; unlike a first build, an existing image is never
// reused.
func (e *Engine) rebuild(ctx context.Context, c *containers.Client, p *plugins.Plugin,
	progress func(string)) (string, error) {
	e.EnsureBaseImages(ctx, p, progress)
	nctx := namespaces.WithNamespace(ctx, e.cfg.ContainerdNamespace)
	r, err := builder.Build(nctx, c.Raw(), e.buildOptions(p, progress))
	if err != nil {
		return "", err
	}
	return r.Digest, nil
}

// restartWithDependents restarts tool, when it runs, and every running
// tool whose [docker] links name it; it returns the containers started.
func (e *Engine) restartWithDependents(ctx context.Context, tool string) []string {
	p, err := e.reg.Get(tool)
	if err != nil {
		return nil
	}
	l := e.lc()
	l.mu.Lock()
	var again []string
	for name, svs := range l.services {
		if len(svs) == 0 {
			continue
		}
		if name == tool {
			again = append(again, name)
			continue
		}
		if q, err := e.reg.Get(name); err == nil && slices.Contains(linkNames(q), p.LinkName) {
			again = append(again, name)
		}
	}
	l.mu.Unlock()

	var out []string
	for _, n := range again {
		e.stopTool(ctx, n, false)
	}
	for _, r := range e.startTools(ctx, again, false) {
		if r.Error != "" {
			e.log.Warn("service not restarted after update", "tool", r.Tool, "err", r.Error)
		}
		out = append(out, r.Containers...)
	}
	return out
}

// linkNames returns the tool names p's [docker] links dict points at.
func linkNames(p *plugins.Plugin) []string {
	t, err := plugins.ParseTemplate(p.TemplatePath, []byte(p.Template))
	if err != nil {
		return nil
	}
	raw, ok := t.Get("docker", "links")
	if !ok {
		return nil
	}
	m, _ := mustLiteral(raw).(map[string]any)
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func mustLiteral(raw string) any {
	v, err := pylit.Parse(raw)
	if err != nil {
		return raw
	}
	return v
}

// RollbackTool brings back the version of a tool from before its last
// update: its image, template and commit. The newer image is removed.
func (e *Engine) RollbackTool(ctx context.Context, name string) (ToolResult, error) {
	c, err := e.Containerd()
	if err != nil {
		return ToolResult{}, err
	}
	cur, err := e.reg.Get(name)
	if err != nil {
		return ToolResult{}, err
	}
	l := e.lc()
	l.mu.Lock()
	prev := l.state.Previous[name]
	l.mu.Unlock()
	if prev == nil {
		return ToolResult{}, fmt.Errorf("roll back %s: %w", name, ErrNoPrevious)
	}
	if err := tagImage(ctx, c, prev.Image, cur.Image); err != nil {
		return ToolResult{}, err
	}
	err = e.reg.Update(name, func(p *plugins.Plugin) error {
		enabled := p.Enabled
		*p = *prev.Clone()
		p.Image, p.Enabled = cur.Image, enabled
		return nil
	})
	if err != nil {
		return ToolResult{}, err
	}
	c.RemoveImage(ctx, prev.Image)
	l.mu.Lock()
	delete(l.state.Previous, name)
	e.saveLifecycle(l)
	l.mu.Unlock()
	e.writeManifest()
	res := ToolResult{Tool: name, Done: "rolled back to " + cmpOr(short12(prev.Commit), "the previous build")}
	res.Containers = e.restartWithDependents(ctx, name)
	return res, nil
}

// ToolTemplate returns the template text a tool runs with.
func (e *Engine) ToolTemplate(name string) (string, error) {
	p, err := e.reg.Get(name)
	if err != nil {
		return "", err
	}
	return p.Template, nil
}

// applyTemplate checks text as p's template and sets p's template and
// settings from it.
func applyTemplate(p *plugins.Plugin, text string) error {
	t, err := plugins.ParseTemplate(p.TemplatePath, []byte(text))
	if err != nil {
		return err
	}
	s, err := plugins.ParseSettings(t, filepath.Base(p.Dir))
	if err != nil {
		return err
	}
	p.Template, p.Settings, p.LinkName, p.Groups = text, s, s.Info.Name, slices.Clone(s.Info.Groups)
	return nil
}

// ConfigureTool replaces a tool's template with text after checking it.
// An invalid template is refused (the error names the line) and nothing
// changes. Otherwise the registry and the template file are updated, the
// text is kept over the repository's on update, and a running tool is
// restarted with the new settings (instances included), with the running
// tools that link to it, as vent's configure did.
func (e *Engine) ConfigureTool(ctx context.Context, name, text string) (*plugins.Plugin, error) {
	p, err := e.reg.Get(name)
	if err != nil {
		return nil, err
	}
	if err := applyTemplate(p, text); err != nil {
		return nil, fmt.Errorf("configure %s: %w", name, err)
	}
	err = e.reg.Update(name, func(q *plugins.Plugin) error {
		q.Template, q.Settings, q.LinkName, q.Groups = p.Template, p.Settings, p.LinkName, p.Groups
		return nil
	})
	if err != nil {
		return nil, err
	}
	if p.TemplatePath != "" {
		if _, serr := os.Stat(p.TemplatePath); serr == nil {
			if werr := os.WriteFile(p.TemplatePath, []byte(text), 0o644); werr != nil {
				e.log.Warn("template file not updated; the registry has the new text", "file", p.TemplatePath, "err", werr)
			}
		}
	}
	l := e.lc()
	l.mu.Lock()
	if l.state.Configured == nil {
		l.state.Configured = map[string]string{}
	}
	l.state.Configured[name] = text
	e.saveLifecycle(l)
	l.mu.Unlock()
	e.writeManifest()
	e.nudge()
	e.log.Info("plugin configured", "tool", name)
	e.restartWithDependents(ctx, name)
	return e.reg.Get(name)
}

// ServiceInfo describes one service container for `plugins services`.
type ServiceInfo struct {
	Tool      string                   `json:"tool"`
	Name      string                   `json:"name"`
	Container string                   `json:"container"`
	Status    containers.ServiceStatus `json:"status"`
	Network   string                   `json:"network"`
	URIs      []ServiceURI             `json:"uris"`
	Published []portmap.Mapping        `json:"published,omitempty"` // ports ventapp relays (ports.go)
	Note      string                   `json:"note,omitempty"`
}

// ServiceURI is one address of a service, from vent's [service] labels.
type ServiceURI struct {
	Port     string `json:"port"`
	URI      string `json:"uri"`
	User     string `json:"user,omitempty"`
	Password string `json:"password,omitempty"`
}

// Services lists the running service containers with their addresses:
// for each port, in vent's order (the "port/proto" names sorted as text),
// uri_prefixN + host:port + uri_postfixN, N counting from 1, with
// uri_userN and uri_pwN. The host is 0.0.0.0, or vent.cfg [main]
// services_uri when set. A service with network_mode = host is reached on
// its own ports; the others run in a network namespace of their own
// holding only lo, and are reached on the host ports ventapp publishes for
// them (ports.go), each URI showing the host address and port; vent's
// labels count the published ports only.
func (e *Engine) Services(ctx context.Context) ([]ServiceInfo, error) {
	l := e.lc()
	l.mu.Lock()
	snapshot := map[string][]*containers.Service{}
	for k, v := range l.services {
		snapshot[k] = slices.Clone(v)
	}
	l.mu.Unlock()

	var tools []string
	for k := range snapshot {
		tools = append(tools, k)
	}
	sort.Strings(tools)
	out := []ServiceInfo{}
	for _, tool := range tools {
		p, err := e.reg.Get(tool)
		if err != nil {
			continue
		}
		ports := e.servicePorts(ctx, p)
		for _, sv := range snapshot[tool] {
			info := ServiceInfo{Tool: tool, Name: p.LinkName, Container: sv.ID(), Status: sv.Status(),
				Network: "none", URIs: []ServiceURI{}}
			if p.Settings.Docker.HostNetwork {
				info.Network = "host"
				info.URIs = serviceURIs(p.Settings.Labels, ports, e.cfg.ServicesURI)
			} else {
				e.publishedInfo(&info, p, ports)
			}
			out = append(out, info)
		}
	}
	return out, nil
}

// serviceURIs builds vent's service addresses for ports.
func serviceURIs(labels map[string]string, ports []string, servicesURI string) []ServiceURI {
	host := "0.0.0.0"
	if servicesURI != "" {
		host = servicesURI
	}
	var targets []uriTarget
	for _, port := range ports {
		num, _, _ := strings.Cut(port, "/")
		targets = append(targets, uriTarget{port: port, addr: host + ":" + num})
	}
	return uriList(labels, targets)
}

// servicePorts returns the container ports of p, "9200/tcp" style, sorted
// as text: the keys of [docker] ports, else the image's EXPOSE list.
func (e *Engine) servicePorts(ctx context.Context, p *plugins.Plugin) []string {
	var ports []string
	if t, err := plugins.ParseTemplate(p.TemplatePath, []byte(p.Template)); err == nil {
		if raw, ok := t.Get("docker", "ports"); ok {
			if m, ok := mustLiteral(raw).(map[string]any); ok {
				for k := range m {
					ports = append(ports, normalPort(k))
				}
			}
		}
	}
	if len(ports) == 0 {
		if c, err := e.Containerd(); err == nil {
			nctx := namespaces.WithNamespace(ctx, c.Namespace())
			if img, err := c.Raw().GetImage(nctx, p.Image); err == nil {
				if spec, err := img.Spec(nctx); err == nil {
					for k := range spec.Config.ExposedPorts {
						ports = append(ports, normalPort(k))
					}
				}
			}
		}
	}
	sort.Strings(ports)
	return slices.Compact(ports)
}

func normalPort(k string) string {
	if !strings.Contains(k, "/") {
		return k + "/tcp"
	}
	return k
}

// ToolLogs returns the log files of a service tool's containers, one per
// instance, that exist. A tool that processes files has none: its output
// is in the job records and the search index.
func (e *Engine) ToolLogs(name string) ([]string, error) {
	p, err := e.reg.Get(name)
	if err != nil {
		return nil, err
	}
	if !IsService(p) {
		return nil, fmt.Errorf("%w: %s processes files; its output is in `ventapp jobs --tool %s` and "+
			"`ventapp search tool:%s`", ErrNotService, name, name, name)
	}
	var out []string
	for i := 1; i <= max(1, p.Settings.Instances); i++ {
		f := e.serviceLog(containerName(p, i))
		if _, err := os.Stat(f); err == nil {
			out = append(out, f)
		}
	}
	return out, nil
}

// EnsureBaseImages pulls the images p's Dockerfile builds FROM that are
// not in the namespace, when a registry is reachable. With vent.cfg
// [build-options] use_existing_images = yes nothing is pulled: only local
// images are used (the air-gapped setting). A failed pull is reported
// through progress and the log; the build then says which base is missing.
// vent pulled the tool's own image from Docker Hub before building;
// ventapp always builds the tool from its source.
func (e *Engine) EnsureBaseImages(ctx context.Context, p *plugins.Plugin, progress func(string)) {
	if e.live().UseExistingImages {
		return
	}
	c, err := e.Containerd()
	if err != nil {
		return
	}
	for _, base := range baseImages(p.Dockerfile) {
		if imageKnown(ctx, c, base) {
			continue
		}
		if progress != nil {
			progress("pulling base image " + base)
		}
		if _, err := c.Pull(ctx, base, containers.PullOptions{}); err != nil {
			e.log.Warn("base image not pulled", "tool", p.Name, "image", base, "err", err)
			if progress != nil {
				progress("pull " + base + " failed: " + err.Error())
			}
		}
	}
}

// imageKnown reports whether ref is in the namespace under any of the
// names the builder looks it up by.
func imageKnown(ctx context.Context, c *containers.Client, ref string) bool {
	names := []string{ref}
	if !strings.Contains(ref[strings.LastIndex(ref, "/")+1:], ":") && !strings.Contains(ref, "@") {
		names = append(names, ref+":latest")
	}
	if full, err := normalizedRef(ref); err == nil {
		names = append(names, full)
	}
	for _, n := range names {
		if ok, _ := c.ImageExists(ctx, n); ok {
			return true
		}
	}
	return false
}

// baseImages returns the external images a Dockerfile names in FROM: not
// scratch, not an earlier stage, not a name built from ARGs.
func baseImages(dockerfile string) []string {
	f, err := os.Open(dockerfile)
	if err != nil {
		return nil
	}
	defer f.Close()
	res, err := parser.Parse(f)
	if err != nil {
		return nil
	}
	stages := map[string]bool{}
	var out []string
	for _, n := range res.AST.Children {
		if !strings.EqualFold(n.Value, "from") || n.Next == nil {
			continue
		}
		img := n.Next.Value
		if n.Next.Next != nil && strings.EqualFold(n.Next.Next.Value, "as") && n.Next.Next.Next != nil {
			stages[strings.ToLower(n.Next.Next.Next.Value)] = true
		}
		if img == "scratch" || stages[strings.ToLower(img)] || strings.Contains(img, "$") ||
			slices.Contains(out, img) {
			continue
		}
		out = append(out, img)
	}
	return out
}

// PullImage pulls ref from its registry into the namespace.
func (e *Engine) PullImage(ctx context.Context, ref string) (containers.ImageInfo, error) {
	c, err := e.Containerd()
	if err != nil {
		return containers.ImageInfo{}, err
	}
	return c.Pull(ctx, ref, containers.PullOptions{})
}

// ExportImages writes the images refs as one OCI (and docker-load) tar.
func (e *Engine) ExportImages(ctx context.Context, w io.Writer, refs []string) error {
	c, err := e.Containerd()
	if err != nil {
		return err
	}
	return c.ExportImage(ctx, w, refs...)
}

// RemoveImage deletes an image that no installed tool uses (remove the
// tool with `plugins remove` instead) and lets containerd collect its
// content.
func (e *Engine) RemoveImage(ctx context.Context, ref string) error {
	c, err := e.Containerd()
	if err != nil {
		return err
	}
	for _, p := range e.reg.List() {
		if p.Image == ref {
			return fmt.Errorf("remove image %s: %w by tool %s (use `ventapp plugins remove %s`)",
				ref, ErrImageInUse, p.Name, p.Name)
		}
	}
	l := e.lc()
	l.mu.Lock()
	for tool, prev := range l.state.Previous {
		if prev.Image == ref {
			delete(l.state.Previous, tool)
			e.saveLifecycle(l)
		}
	}
	l.mu.Unlock()
	return c.RemoveImage(ctx, ref)
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

// normalizedRef returns ref in docker's full form, e.g.
// "docker.io/library/debian:latest" for "debian".
func normalizedRef(ref string) (string, error) {
	named, err := reference.ParseDockerRef(ref)
	if err != nil {
		return "", err
	}
	return named.String(), nil
}

// bundleFormat names the layout of an offline plugin bundle.
const bundleFormat = "ventapp-plugin-bundle/1"

// maxBundleFile bounds one file of a bundle on import (an image tar).
const maxBundleFile = 32 << 30

// ErrBundle is returned by ImportBundle for a bundle that is not one,
// is truncated, or whose contents do not match its sums.
var ErrBundle = errors.New("bad plugin bundle")

// bundleManifest is bundle.json, the first member of a bundle.
type bundleManifest struct {
	Format string            `json:"format"`
	Tools  []bundleTool      `json:"tools"`
	Images string            `json:"images"` // member holding the OCI image tar
	Files  map[string]string `json:"files"`  // member → SHA-256 (hex), every member but bundle.json
	Made   time.Time         `json:"made"`
	From   string            `json:"from,omitempty"`
}

// bundleTool is one tool in a bundle: its record and where its folder is.
type bundleTool struct {
	Plugin  *plugins.Plugin `json:"plugin"`
	Context string          `json:"context"` // member prefix of the tool folder
}

// ExportBundle writes the named tools to w as one tar for an air-gapped
// box: bundle.json (the tools' records and the SHA-256 of every other
// member), each tool's folder (Dockerfile, template, build context; no
// .git, no symbolic links) and images.tar, the tools' images as an OCI
// layout. Only built tools can be exported.
func (e *Engine) ExportBundle(ctx context.Context, w io.Writer, names []string) error {
	c, err := e.Containerd()
	if err != nil {
		return err
	}
	if len(names) == 0 {
		return fmt.Errorf("export: %w: name at least one tool", plugins.ErrSetting)
	}
	var list []*plugins.Plugin
	var refs []string
	for _, n := range names {
		p, err := e.reg.Get(n)
		if err != nil {
			return err
		}
		if !p.Built {
			return fmt.Errorf("export %s: %w: the tool is not built", n, plugins.ErrSetting)
		}
		list = append(list, p)
		if !slices.Contains(refs, p.Image) {
			refs = append(refs, p.Image)
		}
	}

	// The image goes to a temporary file first: its sum is in bundle.json,
	// which comes first in the tar.
	tmp, err := os.CreateTemp(e.cfg.DataDir, ".export-*.tar")
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	h := sha256.New()
	if err := c.ExportImage(ctx, io.MultiWriter(tmp, h), refs...); err != nil {
		return err
	}
	m := bundleManifest{Format: bundleFormat, Images: "images.tar", Made: time.Now().UTC(),
		Files: map[string]string{"images.tar": hex.EncodeToString(h.Sum(nil))}, From: e.version}

	type member struct{ name, src string }
	var members []member
	for _, p := range list {
		prefix := "tools/" + p.Name + "/"
		files, err := bundleFiles(p.Dir)
		if err != nil {
			return fmt.Errorf("export %s: %w", p.Name, err)
		}
		for _, rel := range files {
			sum, err := fileSHA256(filepath.Join(p.Dir, rel))
			if err != nil {
				return fmt.Errorf("export %s: %w", p.Name, err)
			}
			name := prefix + filepath.ToSlash(rel)
			m.Files[name] = sum
			members = append(members, member{name, filepath.Join(p.Dir, rel)})
		}
		rec := p.Clone()
		m.Tools = append(m.Tools, bundleTool{Plugin: rec, Context: prefix})
	}

	tw := tar.NewWriter(w)
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	if err := writeTarBytes(tw, "bundle.json", data); err != nil {
		return err
	}
	for _, mb := range members {
		if err := writeTarFile(tw, mb.name, mb.src); err != nil {
			return err
		}
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return err
	}
	if err := writeTarFile(tw, "images.tar", tmp.Name()); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	e.log.Info("plugins exported", "tools", names, "images", refs)
	return nil
}

// bundleFiles lists the regular files under dir, relative, skipping .git
// folders and anything that is not a regular file or folder.
func bundleFiles(dir string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".git" {
			return filepath.SkipDir
		}
		if d.Type().IsRegular() {
			rel, err := filepath.Rel(dir, path)
			if err != nil {
				return err
			}
			out = append(out, rel)
		}
		return nil
	})
	return out, err
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func writeTarBytes(tw *tar.Writer, name string, data []byte) error {
	hdr := &tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), ModTime: time.Now(), Typeflag: tar.TypeReg}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("export %s: %w", name, err)
	}
	_, err := tw.Write(data)
	return err
}

func writeTarFile(tw *tar.Writer, name, src string) error {
	f, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("export %s: %w", name, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	hdr := &tar.Header{Name: name, Mode: int64(fi.Mode().Perm()), Size: fi.Size(), ModTime: fi.ModTime(),
		Typeflag: tar.TypeReg}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("export %s: %w", name, err)
	}
	if _, err := io.Copy(tw, f); err != nil {
		return fmt.Errorf("export %s: %w", name, err)
	}
	return nil
}

// ImportBundle installs the tools of a bundle made by ExportBundle. The
// whole tar is unpacked into a scratch folder and every member is checked
// against the SHA-256 in bundle.json before anything is registered; a
// member that is missing, extra or different, a truncated tar, or a tool
// name already installed is refused and leaves nothing behind. Each tool's
// folder is kept under <data>/plugins/imported/<tool> so it can be rebuilt
// on this box; its image comes from the bundle and it is marked built.
func (e *Engine) ImportBundle(ctx context.Context, r io.Reader) ([]AddResult, error) {
	c, err := e.Containerd()
	if err != nil {
		return nil, err
	}
	scratch, err := os.MkdirTemp(e.cfg.DataDir, ".import-*")
	if err != nil {
		return nil, fmt.Errorf("import bundle: %w", err)
	}
	defer os.RemoveAll(scratch)

	m, err := unpackBundle(r, scratch)
	if err != nil {
		return nil, err
	}
	for _, bt := range m.Tools {
		if _, err := e.reg.Get(bt.Plugin.Name); err == nil {
			return nil, fmt.Errorf("import bundle: tool %s: %w", bt.Plugin.Name, plugins.ErrExists)
		}
	}

	// Images: note which exist already, so a failure removes only new ones.
	var had []string
	for _, bt := range m.Tools {
		if ok, _ := c.ImageExists(ctx, bt.Plugin.Image); ok {
			had = append(had, bt.Plugin.Image)
		}
	}
	f, err := os.Open(filepath.Join(scratch, filepath.FromSlash(m.Images)))
	if err != nil {
		return nil, fmt.Errorf("import bundle: %w", err)
	}
	names, err := c.ImportArchive(ctx, f)
	f.Close()
	undoImages := func() {
		for _, n := range names {
			if !slices.Contains(had, n) {
				c.RemoveImage(context.WithoutCancel(ctx), n)
			}
		}
	}
	if err != nil {
		undoImages()
		return nil, fmt.Errorf("import bundle: %w", err)
	}

	var results []AddResult
	var added []string
	fail := func(err error) ([]AddResult, error) {
		for _, n := range added {
			e.reg.Remove(n)
			os.RemoveAll(e.importedDir(n))
		}
		undoImages()
		return nil, err
	}
	for _, bt := range m.Tools {
		p := bt.Plugin.Clone()
		infos, err := c.Images(ctx)
		if err != nil {
			return fail(err)
		}
		digest := ""
		for _, in := range infos {
			if in.Name == p.Image {
				digest = in.Digest
			}
		}
		if digest == "" {
			return fail(fmt.Errorf("import bundle: %w: images.tar does not hold %s for tool %s",
				ErrBundle, p.Image, p.Name))
		}

		dst := e.importedDir(p.Name)
		os.RemoveAll(dst)
		if err := os.MkdirAll(filepath.Dir(dst), 0o750); err != nil {
			return fail(err)
		}
		src := filepath.Join(scratch, filepath.FromSlash(strings.TrimSuffix(bt.Context, "/")))
		if _, err := os.Stat(src); err != nil {
			if err := os.MkdirAll(src, 0o750); err != nil {
				return fail(err)
			}
		}
		if err := os.Rename(src, dst); err != nil {
			return fail(fmt.Errorf("import bundle: %w", err))
		}
		p.Dockerfile = filepath.Join(dst, filepath.Base(p.Dockerfile))
		p.TemplatePath = filepath.Join(dst, filepath.Base(p.TemplatePath))
		p.Dir = dst
		p.Built, p.BuildError, p.ImageDigest, p.BuiltAt = true, "", digest, time.Now().UTC()
		p.AddedAt = time.Now().UTC()
		if err := e.reg.Add(p); err != nil {
			os.RemoveAll(dst)
			return fail(err)
		}
		added = append(added, p.Name)
		results = append(results, AddResult{Tool: p.Name, Image: p.Image, Built: true, Digest: digest})
	}
	e.writeManifest()
	e.nudge()
	e.log.Info("plugins imported from a bundle", "tools", added)
	return results, nil
}

// importedDir is where an imported tool's folder is kept.
func (e *Engine) importedDir(tool string) string {
	return filepath.Join(e.cfg.DataDir, "plugins", "imported", strings.ReplaceAll(tool, "@", "_"))
}

// unpackBundle extracts a bundle into dir and checks every sum.
func unpackBundle(r io.Reader, dir string) (*bundleManifest, error) {
	tr := tar.NewReader(r)
	sums := map[string]string{}
	var m *bundleManifest
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("import bundle: %w: the tar is damaged or cut short: %w", ErrBundle, err)
		}
		name := path.Clean(hdr.Name)
		if hdr.Typeflag == tar.TypeDir {
			continue
		}
		if hdr.Typeflag != tar.TypeReg || path.IsAbs(name) || name == ".." || strings.HasPrefix(name, "../") {
			return nil, fmt.Errorf("import bundle: %w: member %q is not a plain file inside the bundle",
				ErrBundle, hdr.Name)
		}
		if hdr.Size > maxBundleFile {
			return nil, fmt.Errorf("import bundle: %w: member %q is too large", ErrBundle, hdr.Name)
		}
		if _, dup := sums[name]; dup || (name == "bundle.json" && m != nil) {
			return nil, fmt.Errorf("import bundle: %w: member %q appears twice", ErrBundle, name)
		}
		if name == "bundle.json" {
			data, err := io.ReadAll(io.LimitReader(tr, 16<<20))
			if err != nil {
				return nil, fmt.Errorf("import bundle: %w: bundle.json: %w", ErrBundle, err)
			}
			m = &bundleManifest{}
			if err := json.Unmarshal(data, m); err != nil || m.Format != bundleFormat {
				return nil, fmt.Errorf("import bundle: %w: bundle.json is not a %s manifest", ErrBundle, bundleFormat)
			}
			continue
		}
		dst := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(dst), 0o750); err != nil {
			return nil, err
		}
		f, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, os.FileMode(hdr.Mode).Perm()|0o600)
		if err != nil {
			return nil, fmt.Errorf("import bundle: %w", err)
		}
		h := sha256.New()
		_, err = io.Copy(io.MultiWriter(f, h), tr)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("import bundle: %w: member %s is cut short: %w", ErrBundle, name, err)
		}
		sums[name] = hex.EncodeToString(h.Sum(nil))
	}

	if m == nil {
		return nil, fmt.Errorf("import bundle: %w: no bundle.json (not a ventapp plugin bundle)", ErrBundle)
	}
	for name, want := range m.Files {
		got, ok := sums[name]
		switch {
		case !ok:
			return nil, fmt.Errorf("import bundle: %w: %s is listed but missing", ErrBundle, name)
		case got != want:
			return nil, fmt.Errorf("import bundle: %w: %s has SHA-256 %s, bundle.json says %s",
				ErrBundle, name, got, want)
		}
	}
	for name := range sums {
		if _, ok := m.Files[name]; !ok {
			return nil, fmt.Errorf("import bundle: %w: %s is not listed in bundle.json", ErrBundle, name)
		}
	}
	if m.Images == "" || m.Files[m.Images] == "" || len(m.Tools) == 0 {
		return nil, fmt.Errorf("import bundle: %w: bundle.json names no tools or no image tar", ErrBundle)
	}
	for _, bt := range m.Tools {
		if bt.Plugin == nil || bt.Plugin.Name == "" || bt.Plugin.Image == "" ||
			strings.ContainsAny(bt.Plugin.Name, "/\\") || strings.Contains(bt.Context, "..") {
			return nil, fmt.Errorf("import bundle: %w: a tool record is incomplete", ErrBundle)
		}
	}
	return m, nil
}
