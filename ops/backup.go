package ops

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	"github.com/blevesearch/bleve/v2"
	"go.etcd.io/bbolt"

	"github.com/ventapp/ventapp/plugins"
)

// File names inside the data dir (the same as config.Config's helpers).
const (
	jobsDBName   = "jobs.db"
	indexName    = "index"
	logsName     = "logs"
	pluginsName  = "plugins.json" // the registry of versions before it moved into jobs.db
	manifestCfg  = "plugin_manifest.cfg"
	statusName   = "status.json"
	socketName   = "ventapp.sock"
	pluginSrcDir = "plugin-src"
)

// BackupSource is what Backup reads.
type BackupSource struct {
	// DB is the open job store (jobs.Store.DB(), or a read-only bbolt
	// handle when no daemon runs). Required.
	DB *bbolt.DB

	// DataDir is the data dir holding the manifest and status files.
	// Required.
	DataDir string

	// ConfigPath is the config file to include; "" or a missing file is
	// skipped.
	ConfigPath string

	// IndexDir is the bleve index folder; "" means DataDir/index.
	IndexDir string

	// IndexSnapshot, when set, writes a consistent copy of the live index
	// into the empty folder dst (see the package doc). When nil the files
	// in IndexDir are read as they are.
	IndexSnapshot func(dst string) error

	// IncludeLogs adds the raw plugin logs under DataDir/logs.
	IncludeLogs bool

	// Version is the ventapp version recorded in the manifest.
	Version string

	// Progress, when set, receives one line per step.
	Progress func(string)
}

// archiveWriter writes members and remembers their checksums.
type archiveWriter struct {
	ctx     context.Context
	tw      *tar.Writer
	members []Member
	mtime   time.Time
}

// hashWriter counts and hashes what goes through it.
type hashWriter struct {
	w io.Writer
	h hash.Hash
	n int64
}

func (hw *hashWriter) Write(p []byte) (int, error) {
	n, err := hw.w.Write(p)
	hw.h.Write(p[:n])
	hw.n += int64(n)
	return n, err
}

// add writes one member of exactly size bytes produced by fill.
func (a *archiveWriter) add(name string, size int64, mode fs.FileMode, fill func(io.Writer) error) error {
	if err := a.ctx.Err(); err != nil {
		return err
	}
	hdr := &tar.Header{
		Typeflag: tar.TypeReg, Name: name, Size: size, Mode: int64(mode.Perm()),
		ModTime: a.mtime, Format: tar.FormatPAX,
	}
	if err := a.tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("archive member %s: %w", name, err)
	}
	hw := &hashWriter{w: a.tw, h: sha256.New()}
	if err := fill(hw); err != nil {
		return fmt.Errorf("archive member %s: %w", name, err)
	}
	if hw.n != size {
		return fmt.Errorf("archive member %s: wrote %d bytes, expected %d", name, hw.n, size)
	}
	a.members = append(a.members, Member{Name: name, Size: size, Mode: int64(mode.Perm()),
		SHA256: hex.EncodeToString(hw.h.Sum(nil))})
	return nil
}

// addFile copies the file at path as member name. A file that grows while
// it is read is cut at the size it had when opened (status.json is only
// appended to); one that shrinks is an error.
func (a *archiveWriter) addFile(name, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return nil
	}
	return a.add(name, fi.Size(), fi.Mode(), func(w io.Writer) error {
		n, err := io.Copy(w, io.LimitReader(f, fi.Size()))
		if err == nil && n != fi.Size() {
			err = fmt.Errorf("%s shrank from %d to %d bytes while being read", path, fi.Size(), n)
		}
		return err
	})
}

// addTree adds every regular file under dir as prefix + its relative
// path, in lexical order. Symbolic links and special files are skipped.
func (a *archiveWriter) addTree(prefix, dir string) (int, error) {
	count := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		count++
		return a.addFile(prefix+filepath.ToSlash(rel), p)
	})
	return count, err
}

// Backup writes one gzip-compressed tar archive of the installation to w:
// a snapshot of the job store (with the plugin registry) taken in one read
// transaction, the index, the manifest and status files, the config, each
// plugin's source folder and, last, MANIFEST.json with the SHA-256 of
// every member. The package doc explains how each part is kept consistent
// while the daemon runs.
func Backup(ctx context.Context, w io.Writer, src BackupSource) error {
	if src.DB == nil || src.DataDir == "" {
		return fmt.Errorf("%w: Backup needs DB and DataDir", ErrBadSource)
	}
	progress := src.Progress
	if progress == nil {
		progress = func(string) {}
	}
	indexDir := src.IndexDir
	if indexDir == "" {
		indexDir = filepath.Join(src.DataDir, indexName)
	}

	started := time.Now().UTC()
	host, _ := os.Hostname()
	m := Manifest{
		Format: FormatVersion, Created: started, Version: src.Version, Hostname: host,
		DataDir: src.DataDir, ConfigPath: src.ConfigPath,
	}
	gz, _ := gzip.NewWriterLevel(w, gzip.BestSpeed)
	a := &archiveWriter{ctx: ctx, tw: tar.NewWriter(gz), mtime: started.Truncate(time.Second)}

	progress("job store: copying a snapshot")
	entries, inStore, err := a.addStore(src.DB, &m)
	if err != nil {
		return err
	}

	if err := a.addIndex(indexDir, src.IndexSnapshot, &m, progress); err != nil {
		return err
	}

	progress("manifest and status files")
	if !inStore {
		// A data dir the new daemon has not opened yet still keeps the
		// registry in plugins.json: archive it as older versions did.
		if entries, err = a.addLegacyRegistry(src.DataDir); err != nil {
			return err
		}
	}
	for _, name := range []string{manifestCfg, statusName} {
		err := a.addFile(dataPrefix+name, filepath.Join(src.DataDir, name))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("backup %s: %w", name, err)
		}
	}
	if src.IncludeLogs {
		progress("raw plugin logs")
		_, err := a.addTree(dataPrefix+logsName+"/", filepath.Join(src.DataDir, logsName))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("backup logs: %w", err)
		}
	}

	if src.ConfigPath != "" {
		progress("config " + src.ConfigPath)
		err := a.addFile(configMember, src.ConfigPath)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("backup config: %w", err)
		}
	}

	if err := a.addPluginSources(entries, &m, progress); err != nil {
		return err
	}

	m.Members = a.members
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	err = a.add(ManifestName, int64(len(data)), 0o644, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
	a.members = a.members[:len(a.members)-1]
	if err != nil {
		return err
	}
	if err := a.tw.Close(); err != nil {
		return fmt.Errorf("finish archive: %w", err)
	}
	if err := gz.Close(); err != nil {
		return fmt.Errorf("finish archive: %w", err)
	}
	progress(fmt.Sprintf("backup complete: %d members", len(m.Members)+1))
	return nil
}

// addStore copies the job store inside one read transaction, records its
// schema version and returns the plugin registry records of the same
// snapshot. inStore is false when the store has no registry bucket yet.
func (a *archiveWriter) addStore(db *bbolt.DB, m *Manifest) (
	entries []registryEntry, inStore bool, err error) {
	err = db.View(func(tx *bbolt.Tx) error {
		schema, err := storeSchema(tx)
		if err != nil {
			return err
		}
		m.JobsSchema = schema
		if entries, inStore, err = storeRegistry(tx); err != nil {
			return err
		}
		return a.add(dataPrefix+jobsDBName, tx.Size(), 0o600, func(w io.Writer) error {
			_, err := tx.WriteTo(w)
			return err
		})
	})
	return entries, inStore, err
}

// storeRegistry reads the plugin records of package plugins' registry
// bucket, sorted by name. A store without the bucket gives inStore false.
func storeRegistry(tx *bbolt.Tx) (entries []registryEntry, inStore bool, err error) {
	root := tx.Bucket([]byte(plugins.RegistryBucket))
	if root == nil {
		return nil, false, nil
	}
	tools := root.Bucket([]byte(plugins.RegistryToolsBucket))
	if tools == nil {
		return nil, true, fmt.Errorf("job store snapshot: bucket %s/%s is missing",
			plugins.RegistryBucket, plugins.RegistryToolsBucket)
	}
	err = tools.ForEach(func(k, v []byte) error {
		var e registryEntry
		if err := json.Unmarshal(v, &e); err != nil {
			return fmt.Errorf("job store snapshot: plugin record %s/%s/%q: %v",
				plugins.RegistryBucket, plugins.RegistryToolsBucket, k, err)
		}
		entries = append(entries, e)
		return nil
	})
	return entries, true, err
}

// addLegacyRegistry archives dataDir/plugins.json, when there is one, as
// data/plugins.json and returns its entries.
func (a *archiveWriter) addLegacyRegistry(dataDir string) ([]registryEntry, error) {
	path := filepath.Join(dataDir, pluginsName)
	registry, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("plugin registry: %w", err)
	}

	var file struct {
		Plugins []registryEntry `json:"plugins"`
	}
	if err := json.Unmarshal(registry, &file); err != nil {
		return nil, fmt.Errorf("plugin registry %s: %w", path, err)
	}
	sort.SliceStable(file.Plugins, func(i, j int) bool { return file.Plugins[i].Name < file.Plugins[j].Name })

	err = a.add(dataPrefix+pluginsName, int64(len(registry)), 0o640, func(w io.Writer) error {
		_, err := w.Write(registry)
		return err
	})
	return file.Plugins, err
}

// storeSchema reads jobs/meta/schema_version (see package jobs); a store
// without the jobs bucket has never been opened and counts as 0.
func storeSchema(tx *bbolt.Tx) (int, error) {
	root := tx.Bucket([]byte("jobs"))
	if root == nil {
		return 0, nil
	}
	meta := root.Bucket([]byte("meta"))
	if meta == nil {
		return 0, fmt.Errorf("job store snapshot: bucket jobs/meta is missing")
	}
	raw := meta.Get([]byte("schema_version"))
	v, err := strconv.Atoi(string(raw))
	if err != nil || v < 1 {
		return 0, fmt.Errorf("job store snapshot: schema_version %q is not a positive number", raw)
	}
	return v, nil
}

// addIndex adds the index, through a snapshot copy when one is offered.
func (a *archiveWriter) addIndex(dir string, snapshot func(string) error, m *Manifest,
	progress func(string)) error {
	if snapshot != nil {
		tmp, err := os.MkdirTemp("", "ventapp-backup-index-")
		if err != nil {
			return fmt.Errorf("index snapshot: %w", err)
		}
		defer os.RemoveAll(tmp)
		progress("index: taking an online copy")
		if err := snapshot(tmp); err != nil {
			return fmt.Errorf("index snapshot: %w", err)
		}
		dir = tmp
		m.IndexMethod = "snapshot"
	} else {
		if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
			m.IndexMethod = "none"
			progress("index: none at " + dir)
			return nil
		}
		m.IndexMethod = "files"
	}
	n, err := a.addTree(dataPrefix+indexName+"/", dir)
	if err != nil {
		return fmt.Errorf("backup index %s: %w", dir, err)
	}
	progress(fmt.Sprintf("index: %d files", n))
	return nil
}

// registryEntry is the part of a plugin record Backup needs (the same
// JSON in the registry bucket and in a legacy plugins.json).
type registryEntry struct {
	Name        string `json:"name"`
	Dir         string `json:"dir"`
	Image       string `json:"image"`
	Built       bool   `json:"built"`
	ImageDigest string `json:"image_digest"`
}

// addPluginSources adds each distinct plugin source folder once, as
// plugins/<n>/, and fills m.Plugins.
func (a *archiveWriter) addPluginSources(entries []registryEntry, m *Manifest, progress func(string)) error {
	prefixes := map[string]string{} // dir → prefix, "" when unreadable
	for _, p := range entries {
		prefix, done := prefixes[p.Dir]
		if !done && p.Dir != "" {
			prefix = fmt.Sprintf("%s%d/", pluginsPrefix, len(prefixes))
			n, err := a.addTree(prefix, p.Dir)
			if err != nil {
				progress(fmt.Sprintf("plugin %s: source %s not saved: %v", p.Name, p.Dir, err))
				prefix = ""
				if a.ctx.Err() != nil {
					return a.ctx.Err()
				}
			} else {
				progress(fmt.Sprintf("plugin %s: source %s (%d files)", p.Name, p.Dir, n))
			}
			prefixes[p.Dir] = prefix
		}
		m.Plugins = append(m.Plugins, PluginEntry{Tool: p.Name, Image: p.Image, Built: p.Built,
			Digest: p.ImageDigest, Dir: p.Dir, Source: prefix})
	}
	return nil
}

// BleveSnapshot returns an IndexSnapshot function for a live bleve index:
// bleve's online copy writes one point-in-time view of its segments into
// dst while the index keeps taking writes.
func BleveSnapshot(idx bleve.Index) func(dst string) error {
	return func(dst string) error {
		c, ok := idx.(bleve.IndexCopyable)
		if !ok {
			return fmt.Errorf("index %s cannot be copied online", idx.Name())
		}
		return c.CopyTo(bleve.FileSystemDirectory(dst))
	}
}
