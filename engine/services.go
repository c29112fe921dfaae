package engine

// Service tools: long-running containers started in vent's order, kept
// running by a supervisor, stopped, listed with their addresses, and
// their logs.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/containerd/containerd/v2/pkg/namespaces"
	"gopkg.in/ini.v1"

	"github.com/ventapp/ventapp/containers"
	"github.com/ventapp/ventapp/plugins"
	"github.com/ventapp/ventapp/portmap"
)

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
	spec := pluginSpec(p, id)
	spec.Labels["vent"] = ""
	spec.Labels["vent.groups"] = strings.Join(p.Groups, ",")
	spec.Labels[LabelService] = p.Name
	if len(p.Settings.Priority) > 0 {
		var pr []string
		for _, n := range p.Settings.Priority {
			pr = append(pr, strconv.Itoa(n))
		}
		spec.Labels["vent.priority"] = strings.Join(pr, ",")
	}
	for k, v := range p.Settings.Labels {
		spec.Labels[k] = v
	}
	if d := p.Settings.Docker; len(d.Command) > 0 {
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
	num, proto, ok := strings.Cut(k, "/")
	proto = strings.ToLower(strings.TrimSpace(proto))
	if !ok || proto == "" {
		proto = "tcp"
	}
	return strings.TrimSpace(num) + "/" + proto
}

// ToolLogs returns the log files of a service tool's containers, one per
// instance, that exist; ErrNoLog when none does yet. A tool that processes
// files has none (ErrNotService): its output is in the job records and the
// search index.
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
		if fi, err := os.Stat(f); err == nil && fi.Mode().IsRegular() {
			out = append(out, f)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: %s has not run since it was added or cleaned, or its log was removed "+
			"(ventapp plugins start %s)", ErrNoLog, name, name)
	}
	return out, nil
}
