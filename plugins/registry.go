package plugins

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"

	"go.etcd.io/bbolt"
)

// Where the registry lives in its bbolt file. RegistryBucket is a
// top-level bucket holding two buckets:
//
//	plugins/meta/format_version   the layout version, as decimal text
//	plugins/tools/<name>          one plugin as JSON (Plugin's json tags)
//
// The names are exported so that package ops can read and relocate the
// records inside a backup without opening a Registry.
const (
	RegistryBucket      = "plugins"
	RegistryMetaBucket  = "meta"
	RegistryToolsBucket = "tools"
)

// LifecycleBucket is the top-level bucket of the same bbolt file in which
// the engine keeps the lifecycle state of tools under the key
// LifecycleStateKey, as one JSON object: the service tools that should
// run, templates set with configure, and, under "previous", the plugin
// record (Plugin's json tags) from before each tool's last update, which
// package ops relocates on restore like the registry's records.
const (
	LifecycleBucket   = "lifecycle"
	LifecycleStateKey = "state"
)

// registryFormatKey is the key of the layout version in the meta bucket.
const registryFormatKey = "format_version"

// registryVersion is the layout version of the bucket this package
// writes, and the version of the legacy JSON file it imports.
const registryVersion = 1

// ErrBadRegistry means the stored registry, or the legacy file being
// imported, cannot be read. The error text names the file or record.
var ErrBadRegistry = errors.New("plugin registry cannot be read")

// legacyFile is the JSON document older ventapp versions kept on disk:
//
//	{"version": 1, "plugins": [<Plugin>, ...]}
//
// Each plugin is kept raw so that import stores exactly what was written.
type legacyFile struct {
	Version int               `json:"version"`
	Plugins []json.RawMessage `json:"plugins"`
}

// Registry is the set of known plugins, persisted in a bucket of a bbolt
// file the caller owns (see RegistryBucket). Every change is one bbolt
// write transaction, committed before the method returns, so a crash
// leaves the old or the new state; the copy in memory changes only after
// the commit. A Registry is safe for concurrent use.
type Registry struct {
	db  *bbolt.DB
	log *slog.Logger

	// wmu serialises changes: it is held from reading the current state
	// through the commit to publishing the new map, so readers wait only
	// for the map to be swapped, never for the disk.
	wmu sync.Mutex

	mu      sync.RWMutex
	plugins map[string]*Plugin
}

// OpenRegistry loads the registry kept in db. The caller owns db and
// closes it after the last use of the Registry.
//
// When db has no registry bucket yet, it is created. If legacyPath names
// an existing file (the plugins.json of older versions), every plugin in
// it is imported in the same transaction that creates the bucket and the
// file is then renamed to legacyPath + ".migrated". A legacy file that
// cannot be read is an error naming it, and nothing is imported. Once the
// bucket exists legacyPath is not read again.
//
// The settings of each plugin are derived again from its stored template
// text, so they follow the current rules; a template that no longer
// parses keeps its stored settings and is logged. A nil log discards
// messages.
func OpenRegistry(db *bbolt.DB, legacyPath string, log *slog.Logger) (*Registry, error) {
	if db == nil {
		return nil, fmt.Errorf("open plugin registry: no database given")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Registry{db: db, log: log, plugins: map[string]*Plugin{}}

	// Read an existing registry without taking the write lock; create it
	// (and import the legacy file) only when the bucket is missing.
	exists := false
	err := db.View(func(tx *bbolt.Tx) error {
		root := tx.Bucket([]byte(RegistryBucket))
		if root == nil {
			return nil
		}
		exists = true
		return r.load(root)
	})

	imported := -1 // plugins imported from legacyPath; -1 when no file was
	if err == nil && !exists {
		err = db.Update(func(tx *bbolt.Tx) error {
			if root := tx.Bucket([]byte(RegistryBucket)); root != nil {
				return r.load(root)
			}
			var err error
			imported, err = r.create(tx, legacyPath)
			return err
		})
	}
	if err != nil {
		return nil, fmt.Errorf("open plugin registry in %s: %w", db.Path(), err)
	}

	switch {
	case imported >= 0:
		r.finishMigration(legacyPath, imported)
	case legacyPath != "":
		if _, err := os.Stat(legacyPath); err == nil {
			log.Warn("old plugin registry file ignored: the registry lives in the job store",
				"file", legacyPath, "db", db.Path())
		}
	}
	log.Debug("plugin registry loaded", "db", db.Path(), "plugins", len(r.plugins))
	return r, nil
}

// load reads every record of an existing registry bucket into r.plugins.
func (r *Registry) load(root *bbolt.Bucket) error {
	meta := root.Bucket([]byte(RegistryMetaBucket))
	tools := root.Bucket([]byte(RegistryToolsBucket))
	if meta == nil || tools == nil {
		return fmt.Errorf("%w: bucket %s lacks its %s or %s bucket",
			ErrBadRegistry, RegistryBucket, RegistryMetaBucket, RegistryToolsBucket)
	}

	raw := meta.Get([]byte(registryFormatKey))
	v, err := strconv.Atoi(string(raw))
	if err != nil {
		return fmt.Errorf("%w: %s/%s/%s = %q is not a number",
			ErrBadRegistry, RegistryBucket, RegistryMetaBucket, registryFormatKey, raw)
	}
	if v != registryVersion {
		return fmt.Errorf("%w: format version %d, this ventapp reads %d", ErrBadRegistry, v, registryVersion)
	}

	return tools.ForEach(func(k, data []byte) error {
		if data == nil {
			return fmt.Errorf("%w: %s/%s/%s is a bucket, not a plugin record",
				ErrBadRegistry, RegistryBucket, RegistryToolsBucket, k)
		}
		var p Plugin
		if err := json.Unmarshal(data, &p); err != nil {
			return fmt.Errorf("%w: record %s/%s/%q: %v",
				ErrBadRegistry, RegistryBucket, RegistryToolsBucket, k, err)
		}
		if p.Name != string(k) {
			return fmt.Errorf("%w: record %s/%s/%q holds the plugin %q",
				ErrBadRegistry, RegistryBucket, RegistryToolsBucket, k, p.Name)
		}
		r.refreshSettings(&p)
		r.plugins[p.Name] = &p
		return nil
	})
}

// create makes the registry bucket and imports the legacy file when it
// exists. It returns how many plugins were imported, or -1 when there was
// no legacy file.
func (r *Registry) create(tx *bbolt.Tx, legacyPath string) (int, error) {
	root, err := tx.CreateBucket([]byte(RegistryBucket))
	if err != nil {
		return 0, fmt.Errorf("create bucket %s: %w", RegistryBucket, err)
	}
	meta, err := root.CreateBucket([]byte(RegistryMetaBucket))
	if err != nil {
		return 0, fmt.Errorf("create bucket %s/%s: %w", RegistryBucket, RegistryMetaBucket, err)
	}
	tools, err := root.CreateBucket([]byte(RegistryToolsBucket))
	if err != nil {
		return 0, fmt.Errorf("create bucket %s/%s: %w", RegistryBucket, RegistryToolsBucket, err)
	}
	if err := meta.Put([]byte(registryFormatKey), []byte(strconv.Itoa(registryVersion))); err != nil {
		return 0, fmt.Errorf("write %s/%s/%s: %w", RegistryBucket, RegistryMetaBucket, registryFormatKey, err)
	}

	if legacyPath == "" {
		return -1, nil
	}
	records, err := readLegacy(legacyPath)
	if err != nil || records == nil {
		return -1, err
	}

	for _, rec := range records {
		if err := tools.Put([]byte(rec.p.Name), rec.data); err != nil {
			return 0, fmt.Errorf("import plugin %s from %s: %w", rec.p.Name, legacyPath, err)
		}
		r.refreshSettings(rec.p)
		r.plugins[rec.p.Name] = rec.p
	}
	return len(records), nil
}

// legacyRecord is one plugin read from a legacy file: the decoded plugin
// and its JSON exactly as written (compacted), unknown fields included.
type legacyRecord struct {
	p    *Plugin
	data []byte
}

// readLegacy reads and checks the whole legacy registry file at path. A
// missing file gives nil and no error; a file without plugins gives an
// empty, non-nil slice.
func readLegacy(path string) ([]legacyRecord, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("old plugin registry: %w", err)
	}

	var f legacyFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("%w: old plugin registry %s is not valid JSON: %v", ErrBadRegistry, path, err)
	}
	if f.Version != registryVersion {
		return nil, fmt.Errorf("%w: old plugin registry %s has format version %d, this ventapp reads %d",
			ErrBadRegistry, path, f.Version, registryVersion)
	}

	seen := map[string]bool{}
	out := make([]legacyRecord, 0, len(f.Plugins))
	for i, raw := range f.Plugins {
		var p Plugin
		if err := json.Unmarshal(raw, &p); err != nil {
			return nil, fmt.Errorf("%w: old plugin registry %s, plugin %d: %v",
				ErrBadRegistry, path, i+1, err)
		}
		if p.Name == "" {
			return nil, fmt.Errorf("%w: old plugin registry %s holds a plugin without a name",
				ErrBadRegistry, path)
		}
		if seen[p.Name] {
			return nil, fmt.Errorf("%w: old plugin registry %s holds %s twice", ErrBadRegistry, path, p.Name)
		}
		seen[p.Name] = true

		var buf bytes.Buffer
		if err := json.Compact(&buf, raw); err != nil {
			return nil, fmt.Errorf("%w: old plugin registry %s, plugin %s: %v",
				ErrBadRegistry, path, p.Name, err)
		}
		out = append(out, legacyRecord{p: &p, data: buf.Bytes()})
	}
	return out, nil
}

// finishMigration renames the imported legacy file out of the way. The
// plugins are already committed, so a failed rename is only logged: the
// file is never read again once the bucket exists.
func (r *Registry) finishMigration(legacyPath string, imported int) {
	done := legacyPath + ".migrated"
	if err := os.Rename(legacyPath, done); err != nil {
		r.log.Warn("plugin registry imported, but the old file could not be renamed; "+
			"it is ignored from now on", "file", legacyPath, "err", err)
		return
	}
	r.log.Info("plugin registry moved into the job store",
		"from", legacyPath, "renamed_to", done, "db", r.db.Path(), "plugins", imported)
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

// Add registers a copy of p. It returns ErrExists when a plugin with the
// same name is registered.
func (r *Registry) Add(p *Plugin) error {
	if p == nil || p.Name == "" {
		return fmt.Errorf("add plugin: %w: the plugin has no name", ErrSetting)
	}

	r.wmu.Lock()
	defer r.wmu.Unlock()

	if _, ok := r.current(p.Name); ok {
		return fmt.Errorf("add plugin %s: %w", p.Name, ErrExists)
	}

	c := p.Clone()
	if err := r.put(c); err != nil {
		return fmt.Errorf("add plugin %s: %w", p.Name, err)
	}
	r.publish(func(m map[string]*Plugin) { m[c.Name] = c })
	r.log.Info("plugin added", "plugin", p.Name, "image", p.Image)
	return nil
}

// Get returns a copy of the named plugin, or ErrNotFound.
func (r *Registry) Get(name string) (*Plugin, error) {
	p, ok := r.current(name)
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
// fails or the change cannot be committed.
func (r *Registry) Update(name string, fn func(*Plugin) error) error {
	r.wmu.Lock()
	defer r.wmu.Unlock()

	old, ok := r.current(name)
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

	if err := r.put(p); err != nil {
		return fmt.Errorf("update plugin %s: %w", name, err)
	}
	r.publish(func(m map[string]*Plugin) { m[name] = p })
	return nil
}

// Remove unregisters the named plugin, or returns ErrNotFound.
func (r *Registry) Remove(name string) error {
	r.wmu.Lock()
	defer r.wmu.Unlock()

	if _, ok := r.current(name); !ok {
		return fmt.Errorf("remove plugin %s: %w", name, ErrNotFound)
	}

	err := r.db.Update(func(tx *bbolt.Tx) error {
		tools, err := toolsBucket(tx)
		if err != nil {
			return err
		}
		return tools.Delete([]byte(name))
	})
	if err != nil {
		return fmt.Errorf("remove plugin %s: %w", name, err)
	}
	r.publish(func(m map[string]*Plugin) { delete(m, name) })
	r.log.Info("plugin removed", "plugin", name)
	return nil
}

// current returns the stored plugin itself (not a copy) under the read
// lock. Callers must not change it.
func (r *Registry) current(name string) (*Plugin, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()

	p, ok := r.plugins[name]
	return p, ok
}

// publish applies a committed change to the map under the write lock.
// The caller holds r.wmu.
func (r *Registry) publish(change func(map[string]*Plugin)) {
	r.mu.Lock()
	defer r.mu.Unlock()

	change(r.plugins)
}

// put writes p's record in one committed transaction. The caller holds
// r.wmu.
func (r *Registry) put(p *Plugin) error {
	data, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("encode plugin record: %w", err)
	}
	return r.db.Update(func(tx *bbolt.Tx) error {
		tools, err := toolsBucket(tx)
		if err != nil {
			return err
		}
		return tools.Put([]byte(p.Name), data)
	})
}

// toolsBucket returns the bucket of plugin records; OpenRegistry made it.
func toolsBucket(tx *bbolt.Tx) (*bbolt.Bucket, error) {
	root := tx.Bucket([]byte(RegistryBucket))
	if root == nil {
		return nil, fmt.Errorf("%w: bucket %s is gone", ErrBadRegistry, RegistryBucket)
	}
	tools := root.Bucket([]byte(RegistryToolsBucket))
	if tools == nil {
		return nil, fmt.Errorf("%w: bucket %s/%s is gone",
			ErrBadRegistry, RegistryBucket, RegistryToolsBucket)
	}
	return tools, nil
}

// writeFileAtomic replaces path with data: it writes a temporary file in
// the same folder, syncs it, renames it over path and syncs the folder, so
// a crash leaves either the old or the new file. The registry itself no
// longer uses it; plugin config files (startup.go) do.
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
