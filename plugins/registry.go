package plugins

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
)

// registryVersion is the format version written to the registry file.
const registryVersion = 1

// registryFile is the JSON document a Registry keeps on disk:
//
//	{"version": 1, "plugins": [<Plugin>, ...]}
//
// with plugins sorted by name.
type registryFile struct {
	Version int       `json:"version"`
	Plugins []*Plugin `json:"plugins"`
}

// Registry is the set of known plugins, persisted as one JSON file. Every
// change is written to disk before the method returns, through a temporary
// file that is synced and renamed over the old one. A Registry is safe for
// concurrent use.
type Registry struct {
	path string
	log  *slog.Logger

	mu      sync.RWMutex
	plugins map[string]*Plugin
}

// OpenRegistry loads the registry at path, or starts an empty one when the
// file does not exist (it is created on the first change). The settings of
// each plugin are derived again from its stored template text, so they
// follow the current rules; a template that no longer parses keeps its
// stored settings and is logged. A nil log discards messages.
func OpenRegistry(path string, log *slog.Logger) (*Registry, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Registry{path: path, log: log, plugins: map[string]*Plugin{}}

	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return r, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open plugin registry: %w", err)
	}

	var f registryFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("plugin registry %s is not valid: %w", path, err)
	}
	if f.Version != registryVersion {
		return nil, fmt.Errorf("plugin registry %s has format version %d, this ventapp reads %d",
			path, f.Version, registryVersion)
	}

	for _, p := range f.Plugins {
		if p == nil || p.Name == "" {
			return nil, fmt.Errorf("plugin registry %s holds a plugin without a name", path)
		}
		if _, dup := r.plugins[p.Name]; dup {
			return nil, fmt.Errorf("plugin registry %s holds %s twice", path, p.Name)
		}
		r.refreshSettings(p)
		r.plugins[p.Name] = p
	}
	log.Debug("plugin registry loaded", "path", path, "plugins", len(r.plugins))
	return r, nil
}

// refreshSettings derives p.Settings, and the LinkName and Groups taken
// from them, again from p.Template.
func (r *Registry) refreshSettings(p *Plugin) {
	tpl, err := ParseTemplate(p.TemplatePath, []byte(p.Template))
	if err == nil {
		var s Settings
		if s, err = ParseSettings(tpl, filepath.Base(p.Dir)); err == nil {
			p.Settings, p.LinkName, p.Groups = s, s.Info.Name, s.Info.Groups
			return
		}
	}
	r.log.Warn("stored plugin template no longer parses; keeping its stored settings",
		"plugin", p.Name, "err", err)
}

// Path returns the registry file path.
func (r *Registry) Path() string { return r.path }

// Add registers a copy of p. It returns ErrExists when a plugin with the
// same name is registered.
func (r *Registry) Add(p *Plugin) error {
	if p == nil || p.Name == "" {
		return fmt.Errorf("add plugin: %w: the plugin has no name", ErrSetting)
	}

	r.mu.Lock()
	defer r.mu.Unlock()

	if _, ok := r.plugins[p.Name]; ok {
		return fmt.Errorf("add plugin %s: %w", p.Name, ErrExists)
	}
	r.plugins[p.Name] = p.Clone()

	if err := r.save(); err != nil {
		delete(r.plugins, p.Name)
		return fmt.Errorf("add plugin %s: %w", p.Name, err)
	}
	r.log.Info("plugin added", "plugin", p.Name, "image", p.Image)
	return nil
}

// Get returns a copy of the named plugin, or ErrNotFound.
func (r *Registry) Get(name string) (*Plugin, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()

	p, ok := r.plugins[name]
	if !ok {
		return nil, fmt.Errorf("plugin %s: %w", name, ErrNotFound)
	}
	return p.Clone(), nil
}

// List returns copies of all plugins sorted by name.
func (r *Registry) List() []*Plugin {
	r.mu.RLock()
	defer r.mu.RUnlock()

	out := make([]*Plugin, 0, len(r.plugins))
	for _, p := range r.plugins {
		out = append(out, p.Clone())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Update calls fn with a copy of the named plugin and stores the copy when
// fn returns nil. fn must not change the name. Nothing changes when fn
// fails or the registry cannot be written.
func (r *Registry) Update(name string, fn func(*Plugin) error) error {
	r.mu.Lock()
	defer r.mu.Unlock()

	old, ok := r.plugins[name]
	if !ok {
		return fmt.Errorf("update plugin %s: %w", name, ErrNotFound)
	}

	p := old.Clone()
	if err := fn(p); err != nil {
		return fmt.Errorf("update plugin %s: %w", name, err)
	}
	if p.Name != name {
		return fmt.Errorf("update plugin %s: %w: the name cannot change (to %q)", name, ErrSetting, p.Name)
	}

	r.plugins[name] = p
	if err := r.save(); err != nil {
		r.plugins[name] = old
		return fmt.Errorf("update plugin %s: %w", name, err)
	}
	return nil
}

// Remove unregisters the named plugin, or returns ErrNotFound.
func (r *Registry) Remove(name string) error {
	r.mu.Lock()
	defer r.mu.Unlock()

	old, ok := r.plugins[name]
	if !ok {
		return fmt.Errorf("remove plugin %s: %w", name, ErrNotFound)
	}

	delete(r.plugins, name)
	if err := r.save(); err != nil {
		r.plugins[name] = old
		return fmt.Errorf("remove plugin %s: %w", name, err)
	}
	r.log.Info("plugin removed", "plugin", name)
	return nil
}

// save writes the registry file. The caller holds r.mu.
func (r *Registry) save() error {
	f := registryFile{Version: registryVersion, Plugins: make([]*Plugin, 0, len(r.plugins))}
	for _, p := range r.plugins {
		f.Plugins = append(f.Plugins, p)
	}
	sort.Slice(f.Plugins, func(i, j int) bool { return f.Plugins[i].Name < f.Plugins[j].Name })

	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("encode plugin registry: %w", err)
	}
	return writeFileAtomic(r.path, append(data, '\n'), 0o600)
}

// writeFileAtomic replaces path with data: it writes a temporary file in
// the same folder, syncs it, renames it over path and syncs the folder, so
// a crash leaves either the old or the new file.
func writeFileAtomic(path string, data []byte, perm os.FileMode) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}

	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()

	if _, err = tmp.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", tmp.Name(), err)
	}
	if err = tmp.Chmod(perm); err != nil {
		return fmt.Errorf("write %s: %w", tmp.Name(), err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", tmp.Name(), err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmp.Name(), err)
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}

	// Sync the folder so that the rename itself is durable.
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	defer func() { _ = d.Close() }()
	if err = d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
