package engine

// Port publishing for service tools. A service that does not share the
// host's network runs in a namespace of its own that holds only lo, so its
// [docker] ports (or, with publish_all_ports = True, its image's EXPOSE'd
// ports) are published by a portmap.Publisher per container: ventapp
// listens on the host port and relays each connection to 127.0.0.1 inside
// the container. The ports are bound before the container starts, so a
// port in use refuses the start with nothing left running, and they are
// closed before the container is stopped.
//
// With instances > 1 a fixed host port can be bound once only: the first
// instance publishes it and the others leave it out (their random host
// ports are published as usual); `plugins services` notes which ports an
// instance left out.

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/containerd/containerd/v2/pkg/namespaces"

	"github.com/ventapp/ventapp/containers"
	"github.com/ventapp/ventapp/plugins"
	"github.com/ventapp/ventapp/portmap"
)

// published is the port publishing of one service container.
type published struct {
	pub *portmap.Publisher

	// skipped are the mappings with a fixed host port that an instance
	// after the first leaves to the first.
	skipped []portmap.Mapping

	// sv is the running service; nil until RunService returned.
	sv atomic.Pointer[containers.Service]
}

// pid returns the host pid of the service's current task.
func (pp *published) pid() (int, error) {
	sv := pp.sv.Load()
	if sv == nil {
		return 0, portmap.ErrNotRunning
	}
	pid := sv.Status().Pid
	if pid == 0 {
		return 0, fmt.Errorf("%w: service %s is restarting", portmap.ErrNotRunning, sv.ID())
	}
	return int(pid), nil
}

// attach gives the publishing of a container the service that runs it.
// pp may be nil (nothing published).
func (pp *published) attach(sv *containers.Service) {
	if pp != nil {
		pp.sv.Store(sv)
	}
}

// portMappings returns what p's service publishes: the mappings of
// [docker] ports, and with publish_all_ports = True every port its image
// exposes that ports does not name, at a random host port on every
// address. A service on the host's network publishes nothing: its ports
// are the host's. Nor does one with network_mode = none, as in docker.
func (e *Engine) portMappings(ctx context.Context, p *plugins.Plugin) ([]portmap.Mapping, error) {
	if p.Settings.Docker.HostNetwork || networkNone(p) {
		return nil, nil
	}
	t, err := plugins.ParseTemplate(p.TemplatePath, []byte(p.Template))
	if err != nil {
		return nil, err
	}

	var ms []portmap.Mapping
	if raw, ok := t.Get("docker", "ports"); ok {
		if ms, err = portmap.Parse(raw); err != nil {
			return nil, fmt.Errorf("tool %s: [docker] ports: %w", p.Name, err)
		}
	}
	all := false
	if raw, ok := t.Get("docker", "publish_all_ports"); ok {
		if all, err = portmap.PublishAll(mustLiteral(raw)); err != nil {
			return nil, fmt.Errorf("tool %s: [docker] publish_all_ports %q: %w", p.Name, raw, err)
		}
	}
	if !all {
		return ms, nil
	}

	exposed, err := e.imageExposedPorts(ctx, p.Image)
	if err != nil {
		return nil, fmt.Errorf("tool %s: publish_all_ports: %w", p.Name, err)
	}
	extra, err := portmap.Exposed(exposed)
	if err != nil {
		return nil, fmt.Errorf("tool %s: publish_all_ports: image %s: %w", p.Name, p.Image, err)
	}
	for _, m := range extra {
		named := slices.ContainsFunc(ms, func(n portmap.Mapping) bool { return n.Port() == m.Port() })
		if !named {
			ms = append(ms, m)
		}
	}
	return ms, nil
}

// networkNone reports whether p's template says network_mode = none.
func networkNone(p *plugins.Plugin) bool {
	t, err := plugins.ParseTemplate(p.TemplatePath, []byte(p.Template))
	if err != nil {
		return false
	}
	raw, ok := t.Get("docker", "network_mode")
	return ok && mustLiteral(raw) == "none"
}

// imageExposedPorts returns the "port/proto" names an image exposes.
func (e *Engine) imageExposedPorts(ctx context.Context, image string) ([]string, error) {
	c, err := e.Containerd()
	if err != nil {
		return nil, err
	}
	nctx := namespaces.WithNamespace(ctx, c.Namespace())
	img, err := c.Raw().GetImage(nctx, image)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", image, err)
	}
	spec, err := img.Spec(nctx)
	if err != nil {
		return nil, fmt.Errorf("image %s: config: %w", image, err)
	}
	var out []string
	for k := range spec.Config.ExposedPorts {
		out = append(out, k)
	}
	slices.Sort(out)
	return out, nil
}

// publishService binds the host ports of instance (counting from 1) of p,
// to be served by container id once attach names its service. It returns
// nil when there is nothing to publish. An address in use is an error
// that names the tool, the container, the port and the address, and
// wraps portmap.ErrPortInUse.
func (e *Engine) publishService(p *plugins.Plugin, ms []portmap.Mapping, instance int,
	id string) (*published, error) {
	pp := &published{}
	var use []portmap.Mapping
	for _, m := range ms {
		if instance > 1 && m.HostPort != 0 {
			pp.skipped = append(pp.skipped, m)
			continue
		}
		use = append(use, m)
	}
	if len(use) == 0 && len(pp.skipped) == 0 {
		return nil, nil
	}

	if len(use) > 0 {
		log := e.log.With("tool", p.Name, "container", id)
		pub, err := portmap.Publish(use, portmap.Options{Pid: pp.pid, Log: log})
		if err != nil {
			return nil, fmt.Errorf("tool %s (container %s): %w", p.Name, id, err)
		}
		pp.pub = pub
		var shown []string
		for _, m := range pub.Bound() {
			shown = append(shown, m.String())
		}
		log.Info("service ports published", "ports", shown)
	}

	l := e.lc()
	l.mu.Lock()
	if l.ports == nil {
		l.ports = map[string]*published{}
	}
	old := l.ports[id]
	l.ports[id] = pp
	l.mu.Unlock()
	old.close()
	return pp, nil
}

// unpublishService stops publishing the ports of container id, closing
// its open connections.
func (e *Engine) unpublishService(id string) {
	l := e.lc()
	l.mu.Lock()
	pp := l.ports[id]
	delete(l.ports, id)
	l.mu.Unlock()
	pp.close()
}

// close stops the publisher; pp may be nil.
func (pp *published) close() {
	if pp != nil && pp.pub != nil {
		_ = pp.pub.Close()
	}
}

// publishedPorts returns the mappings container id publishes, with their
// real host ports, and the fixed ones it left to the first instance.
func (e *Engine) publishedPorts(id string) (bound, skipped []portmap.Mapping) {
	l := e.lc()
	l.mu.Lock()
	pp := l.ports[id]
	l.mu.Unlock()
	if pp == nil {
		return nil, nil
	}
	if pp.pub != nil {
		bound = pp.pub.Bound()
	}
	return bound, pp.skipped
}

// publishedInfo fills info for a service with a network of its own: the
// URIs of its published ports and a note on the ports it does not
// publish. ports are the service's port names (servicePorts).
func (e *Engine) publishedInfo(info *ServiceInfo, p *plugins.Plugin, ports []string) {
	bound, skipped := e.publishedPorts(info.Container)
	if len(bound) > 0 {
		info.Network = "published"
		info.Published = bound
		info.URIs = publishedURIs(p.Settings.Labels, bound, e.cfg.ServicesURI)
	}

	var notes []string
	if len(skipped) > 0 {
		var names []string
		for _, m := range skipped {
			names = append(names, m.String())
		}
		notes = append(notes, strings.Join(names, ", ")+" published by the first instance only "+
			"(a fixed host port can be bound once)")
	}
	var unpublished []string
	for _, port := range ports {
		has := func(m portmap.Mapping) bool { return m.Port() == port }
		if !slices.ContainsFunc(bound, has) && !slices.ContainsFunc(skipped, has) {
			unpublished = append(unpublished, port)
		}
	}
	switch {
	case len(unpublished) == 0:
	case networkNone(p):
		notes = append(notes, "ports "+strings.Join(unpublished, ", ")+" are not published: "+
			"[docker] network_mode is none")
	default:
		notes = append(notes, "ports "+strings.Join(unpublished, ", ")+" are not published: name them in "+
			"[docker] ports or set publish_all_ports = True")
	}
	info.Note = strings.Join(notes, "; ")
}

// uriTarget is one port of a service and the host address it is reached
// at, "10.0.0.5:8080".
type uriTarget struct {
	port, addr string
}

// publishedURIs builds vent's addresses for published ports: per
// container port, in vent's order, the first host address and port it is
// published on. services_uri replaces a 0.0.0.0 host, as in vent.
func publishedURIs(labels map[string]string, bound []portmap.Mapping, servicesURI string) []ServiceURI {
	ms := slices.Clone(bound)
	slices.SortStableFunc(ms, func(a, b portmap.Mapping) int { return strings.Compare(a.Port(), b.Port()) })

	var targets []uriTarget
	for i, m := range ms {
		if i > 0 && ms[i-1].Port() == m.Port() {
			continue
		}
		addr := m.HostAddr()
		if servicesURI != "" && m.Host() == "0.0.0.0" {
			addr = servicesURI + ":" + strconv.Itoa(int(m.HostPort))
		}
		targets = append(targets, uriTarget{port: m.Port(), addr: addr})
	}
	return uriList(labels, targets)
}

// uriList applies vent's [service] labels to targets: the Nth (from 1)
// gets uri_prefixN + address + uri_postfixN, uri_userN and uri_pwN.
func uriList(labels map[string]string, targets []uriTarget) []ServiceURI {
	out := []ServiceURI{}
	for i, t := range targets {
		n := strconv.Itoa(i + 1)
		out = append(out, ServiceURI{
			Port:     t.port,
			URI:      labels["uri_prefix"+n] + t.addr + labels["uri_postfix"+n],
			User:     labels["uri_user"+n],
			Password: labels["uri_pw"+n],
		})
	}
	return out
}
