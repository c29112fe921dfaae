package ops

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.etcd.io/bbolt"
	"golang.org/x/sys/unix"
	"gopkg.in/ini.v1"

	"github.com/ventapp/ventapp/jobs"
	"github.com/ventapp/ventapp/plugins"
)

// RestoreOptions tune Restore.
type RestoreOptions struct {
	// Force skips the check that no daemon answers on the socket or holds
	// the job store. The caller must then make sure the daemon is stopped.
	Force bool

	// Socket is the daemon's API socket; "" means DataDir/ventapp.sock.
	Socket string

	// DiscardOld deletes the previous data dir after the swap instead of
	// keeping it beside the new one.
	DiscardOld bool

	// HaveImage, when set, tells whether an image reference is present in
	// containerd, so the report can say which images are really missing.
	HaveImage func(ref string) (bool, error)

	// Progress, when set, receives one line per step.
	Progress func(string)
}

// Restore verifies the archive and puts its state into dataDir and its
// config at configPath (skipped when configPath is ""). It refuses while a
// daemon runs unless opts.Force. Nothing is changed until the whole
// archive has verified and has been extracted into a folder beside
// dataDir; that folder then replaces dataDir in one atomic exchange.
// Plugin source folders that are missing on this machine are restored
// under dataDir/plugin-src/<n>/ and the registry is pointed at them: the
// records in the restored job store's registry bucket, and the
// plugins.json of an archive made before the registry moved there (the
// daemon imports that file when it next starts).
func Restore(archive, dataDir, configPath string, opts RestoreOptions) (Report, error) {
	var rep Report
	progress := opts.Progress
	if progress == nil {
		progress = func(string) {}
	}
	if dataDir == "" {
		return rep, fmt.Errorf("%w: Restore needs a data dir", ErrBadSource)
	}
	dataDir, err := filepath.Abs(dataDir)
	if err != nil {
		return rep, err
	}
	if !opts.Force {
		if err := checkIdle(dataDir, opts.Socket); err != nil {
			return rep, err
		}
	}

	f, err := os.Open(archive)
	if err != nil {
		return rep, fmt.Errorf("backup archive: %w", err)
	}
	defer f.Close()
	progress("verifying " + archive)
	m, err := Verify(f)
	if err != nil {
		return rep, fmt.Errorf("backup %s: %w", archive, err)
	}
	if m.JobsSchema > jobs.SchemaVersion {
		return rep, fmt.Errorf("backup %s: job store schema %d (written by ventapp %s), this program supports up to %d: %w",
			archive, m.JobsSchema, m.Version, jobs.SchemaVersion, ErrSchemaTooNew)
	}

	parent := filepath.Dir(dataDir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return rep, fmt.Errorf("data dir parent %s: %w", parent, err)
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dataDir)+".restore-")
	if err != nil {
		return rep, fmt.Errorf("restore staging folder in %s: %w", parent, err)
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(tmp)
		}
	}()

	x := &extractor{m: &m, tmp: tmp, dataDir: dataDir, configPath: configPath, reloc: map[string]string{}}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return rep, err
	}
	progress("extracting into " + tmp)
	if err := walkArchive(f, x.member, &m); err != nil {
		x.dropConfigTmp()
		return rep, fmt.Errorf("backup %s changed while it was restored: %w", archive, err)
	}
	if err := x.relocatePlugins(); err != nil {
		x.dropConfigTmp()
		return rep, err
	}
	rep.Restored = append(rep.Restored, summarize(tmp, "state")...)

	progress("swapping " + tmp + " into " + dataDir)
	old, err := swapDir(tmp, dataDir)
	if err != nil {
		x.dropConfigTmp()
		return rep, err
	}
	ok = true
	if old != "" {
		if opts.DiscardOld {
			if err := os.RemoveAll(old); err != nil {
				rep.Notes = append(rep.Notes, fmt.Sprintf("could not delete the previous data dir %s: %v", old, err))
			}
		} else {
			rep.Kept = append(rep.Kept, Item{Kind: "state", Name: old, Detail: "the previous data dir; delete it when satisfied"})
		}
	}

	if err := x.installConfig(&rep); err != nil {
		return rep, err
	}
	for dir, to := range x.reloc {
		rep.Restored = append(rep.Restored, Item{Kind: "source", Name: filepath.Join(dataDir, to),
			Detail: "plugin source, originally " + dir})
	}
	rep.Images = imageNeeds(m, x.reloc, opts.HaveImage, &rep)
	rep.Notes = append(rep.Notes, restoreNotes(m, dataDir)...)
	progress("restore complete")
	return rep, nil
}

// extractor writes archive members into the staging folder.
type extractor struct {
	m          *Manifest
	tmp        string
	dataDir    string
	configPath string
	configTmp  string            // staged config outside the data dir
	configRel  string            // config path relative to dataDir, when inside
	reloc      map[string]string // original plugin dir → plugin-src/<n>, relative to dataDir
}

func (x *extractor) member(hdr *tar.Header, body io.Reader) error {
	name := hdr.Name
	switch {
	case name == ManifestName:
		return nil
	case strings.HasPrefix(name, dataPrefix):
		return writeFile(filepath.Join(x.tmp, filepath.FromSlash(strings.TrimPrefix(name, dataPrefix))), hdr, body)
	case name == configMember:
		return x.stageConfig(hdr, body)
	case strings.HasPrefix(name, pluginsPrefix):
		return x.stageSource(hdr, body)
	}
	return nil
}

// stageConfig writes the config beside its final place, or into the
// staging folder when the config lives inside the data dir.
func (x *extractor) stageConfig(hdr *tar.Header, body io.Reader) error {
	if x.configPath == "" {
		return nil
	}
	target, err := filepath.Abs(x.configPath)
	if err != nil {
		return err
	}
	if rel, err := filepath.Rel(x.dataDir, target); err == nil && filepath.IsLocal(rel) {
		x.configRel = rel
		return writeFile(filepath.Join(x.tmp, rel), hdr, body)
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return fmt.Errorf("config folder: %w", err)
	}
	tf, err := os.CreateTemp(filepath.Dir(target), "."+filepath.Base(target)+".restore-")
	if err != nil {
		return fmt.Errorf("stage config: %w", err)
	}
	x.configTmp = tf.Name()
	tf.Close()
	return writeFile(x.configTmp, hdr, body)
}

func (x *extractor) dropConfigTmp() {
	if x.configTmp != "" {
		os.Remove(x.configTmp)
	}
}

// stageSource restores a plugin source file when its original folder is
// missing on this machine.
func (x *extractor) stageSource(hdr *tar.Header, body io.Reader) error {
	rest := strings.TrimPrefix(hdr.Name, pluginsPrefix)
	n, file, ok := strings.Cut(rest, "/")
	if !ok {
		return nil
	}
	prefix := pluginsPrefix + n + "/"
	for _, p := range x.m.Plugins {
		if p.Source != prefix {
			continue
		}
		if _, err := os.Stat(p.Dir); err == nil {
			return nil
		}
		rel := filepath.Join(pluginSrcDir, n)
		x.reloc[p.Dir] = rel
		return writeFile(filepath.Join(x.tmp, rel, filepath.FromSlash(file)), hdr, body)
	}
	return nil
}

// relocatePlugins points the restored registry at the restored source
// folders: the records in the staged job store's registry bucket and a
// staged legacy plugins.json, whichever the archive holds. Records are
// edited as generic JSON so that fields this package does not know stay.
func (x *extractor) relocatePlugins() error {
	if len(x.reloc) == 0 {
		return nil
	}

	inStore, err := x.relocateStore(filepath.Join(x.tmp, jobsDBName))
	if err != nil {
		return err
	}
	inFile, err := x.relocateLegacy(filepath.Join(x.tmp, pluginsName))
	if err != nil {
		return err
	}
	if !inStore && !inFile {
		return fmt.Errorf("restored plugin registry: the archive lists plugin sources, "+
			"but %s has no %s bucket and there is no %s", jobsDBName, plugins.RegistryBucket, pluginsName)
	}
	return nil
}

// relocateStore rewrites the plugin records inside the staged bbolt file
// at path in one transaction. found is false when the file or its
// registry bucket does not exist.
func (x *extractor) relocateStore(path string) (found bool, err error) {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return false, fmt.Errorf("restored job store %s: %w", path, err)
	}
	defer func() {
		if cerr := db.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("restored job store %s: %w", path, cerr)
		}
	}()

	err = db.Update(func(tx *bbolt.Tx) error {
		root := tx.Bucket([]byte(plugins.RegistryBucket))
		if root == nil {
			return nil
		}
		found = true
		tools := root.Bucket([]byte(plugins.RegistryToolsBucket))
		if tools == nil {
			return fmt.Errorf("bucket %s/%s is missing", plugins.RegistryBucket, plugins.RegistryToolsBucket)
		}

		changed := map[string][]byte{}
		err := tools.ForEach(func(k, v []byte) error {
			p, err := decodeRecord(v)
			if err != nil {
				return fmt.Errorf("plugin record %s/%s/%q: %w",
					plugins.RegistryBucket, plugins.RegistryToolsBucket, k, err)
			}
			if !x.relocateEntry(p) {
				return nil
			}
			out, err := json.Marshal(p)
			if err != nil {
				return fmt.Errorf("plugin record %q: %w", k, err)
			}
			changed[string(k)] = out
			return nil
		})
		if err != nil {
			return err
		}
		// bbolt forbids changing a bucket while ForEach walks it.
		for k, v := range changed {
			if err := tools.Put([]byte(k), v); err != nil {
				return fmt.Errorf("plugin record %q: %w", k, err)
			}
		}
		return x.relocateLifecycle(tx)
	})
	if err != nil {
		return found, fmt.Errorf("restored job store %s: %w", path, err)
	}
	return found, nil
}

// relocateLifecycle points the plugin records the engine keeps for
// rollback (the "previous" map of its lifecycle state) at the restored
// source folders, like the registry's records.
func (x *extractor) relocateLifecycle(tx *bbolt.Tx) error {
	b := tx.Bucket([]byte(plugins.LifecycleBucket))
	if b == nil {
		return nil
	}
	data := b.Get([]byte(plugins.LifecycleStateKey))
	if data == nil {
		return nil
	}
	state, err := decodeRecord(data)
	if err != nil {
		return fmt.Errorf("lifecycle state %s/%s: %w", plugins.LifecycleBucket, plugins.LifecycleStateKey, err)
	}
	prev, _ := state["previous"].(map[string]any)
	changed := false
	for _, v := range prev {
		if p, ok := v.(map[string]any); ok && x.relocateEntry(p) {
			changed = true
		}
	}
	if !changed {
		return nil
	}
	out, err := json.Marshal(state)
	if err != nil {
		return fmt.Errorf("lifecycle state: %w", err)
	}
	return b.Put([]byte(plugins.LifecycleStateKey), out)
}

// relocateLegacy rewrites a staged plugins.json, as older versions did.
// found is false when there is no such file.
func (x *extractor) relocateLegacy(path string) (found bool, err error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("restored plugin registry: %w", err)
	}
	doc, err := decodeRecord(data)
	if err != nil {
		return true, fmt.Errorf("restored plugin registry %s: %w", path, err)
	}
	list, _ := doc["plugins"].([]any)
	for _, item := range list {
		if p, ok := item.(map[string]any); ok {
			x.relocateEntry(p)
		}
	}
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return true, err
	}
	return true, os.WriteFile(path, out, 0o640)
}

// decodeRecord decodes a JSON object keeping numbers as written.
func decodeRecord(data []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		return nil, err
	}
	if doc == nil {
		return nil, fmt.Errorf("not a JSON object")
	}
	return doc, nil
}

// relocateEntry points one plugin record whose source folder was restored
// at its new place and says whether it changed.
func (x *extractor) relocateEntry(p map[string]any) bool {
	dir, _ := p["dir"].(string)
	rel, ok := x.reloc[dir]
	if !ok {
		return false
	}
	newDir := filepath.Join(x.dataDir, rel)
	for _, key := range []string{"dir", "dockerfile", "template_path"} {
		if v, ok := p[key].(string); ok && (v == dir || strings.HasPrefix(v, dir+"/")) {
			p[key] = newDir + strings.TrimPrefix(v, dir)
		}
	}
	if repo, ok := p["repo"].(string); ok && repo == "local:"+dir {
		p["repo"] = "local:" + newDir
	}
	return true
}

// installConfig moves the staged config into place, keeping the old one.
func (x *extractor) installConfig(rep *Report) error {
	switch {
	case x.configRel != "":
		rep.Restored = append(rep.Restored, Item{Kind: "config", Name: filepath.Join(x.dataDir, x.configRel)})
		return nil
	case x.configTmp == "":
		if x.configPath == "" {
			rep.Notes = append(rep.Notes, "no config path given: the config in the backup was not restored")
		}
		return nil
	}
	if _, err := os.Stat(x.configPath); err == nil {
		rep.Notes = append(rep.Notes, configChanges(x.configPath, x.configTmp)...)
		keep := x.configPath + ".pre-restore"
		if err := os.Rename(x.configPath, keep); err != nil {
			os.Remove(x.configTmp)
			return fmt.Errorf("keep old config %s: %w", x.configPath, err)
		}
		rep.Kept = append(rep.Kept, Item{Kind: "config", Name: keep, Detail: "the previous config"})
	}
	if err := os.Rename(x.configTmp, x.configPath); err != nil {
		return fmt.Errorf("install config %s: %w", x.configPath, err)
	}
	rep.Restored = append(rep.Restored, Item{Kind: "config", Name: x.configPath})
	return nil
}

// watchedSettings are the settings by which two instances on one machine
// would get in each other's way: the drop folder, the containerd
// namespace and address, the API socket.
var watchedSettings = []struct{ section, key, what string }{
	{"ventapp", "data_dir", "data dir"},
	{"main", "files", "drop folder"},
	{"containerd", "namespace", "containerd namespace"},
	{"containerd", "address", "containerd address"},
	{"api", "socket", "API socket"},
}

// configChanges returns a note for each watched setting that the restored
// config (at restored) sets otherwise than the config it replaces (at
// old): restoring into another instance's data dir brings the backed-up
// instance's drop folder and namespace with it.
func configChanges(old, restored string) []string {
	o, err1 := ini.Load(old)
	n, err2 := ini.Load(restored)
	if err1 != nil || err2 != nil {
		return nil
	}

	var notes []string
	for _, w := range watchedSettings {
		was, now := o.Section(w.section).Key(w.key).String(), n.Section(w.section).Key(w.key).String()
		if was != now {
			notes = append(notes, fmt.Sprintf("the restored config sets the %s ([%s] %s) to %q, the replaced "+
				"one had %q: check it before starting the daemon if another instance uses it",
				w.what, w.section, w.key, now, was))
		}
	}
	return notes
}

// writeFile creates path (and its folders) from body and syncs it.
func writeFile(path string, hdr *tar.Header, body io.Reader) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, fs.FileMode(hdr.Mode).Perm()|0o200)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, body); err != nil {
		f.Close()
		return fmt.Errorf("%w: member %s is cut short: %v", ErrCorrupt, hdr.Name, err)
	}
	// The archived mode exactly, whatever the umask: a plugin source's
	// modes are part of the image its rebuild makes.
	if err := f.Chmod(fs.FileMode(hdr.Mode).Perm()); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}

// swapDir puts staged in place of dataDir and returns where the previous
// contents went ("" when dataDir did not exist). With RENAME_EXCHANGE the
// swap is one atomic step; filesystems without it get two renames.
func swapDir(staged, dataDir string) (string, error) {
	mode := fs.FileMode(0o750)
	fi, err := os.Stat(dataDir)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.Chmod(staged, mode); err != nil {
			return "", err
		}
		if err := os.Rename(staged, dataDir); err != nil {
			return "", fmt.Errorf("move restored state into %s: %w", dataDir, err)
		}
		return "", syncDir(filepath.Dir(dataDir))
	}
	if err != nil {
		return "", fmt.Errorf("data dir %s: %w", dataDir, err)
	}
	if !fi.IsDir() {
		return "", fmt.Errorf("data dir %s is not a directory", dataDir)
	}
	if err := os.Chmod(staged, fi.Mode().Perm()); err != nil {
		return "", err
	}

	old := dataDir + ".pre-restore-" + time.Now().UTC().Format("20060102T150405Z")
	err = unix.Renameat2(unix.AT_FDCWD, staged, unix.AT_FDCWD, dataDir, unix.RENAME_EXCHANGE)
	switch {
	case err == nil:
		if err := os.Rename(staged, old); err != nil {
			return staged, nil
		}
	case errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS):
		if err := os.Rename(dataDir, old); err != nil {
			return "", fmt.Errorf("move old data dir %s aside: %w", dataDir, err)
		}
		if err := os.Rename(staged, dataDir); err != nil {
			os.Rename(old, dataDir)
			return "", fmt.Errorf("move restored state into %s: %w", dataDir, err)
		}
	default:
		return "", fmt.Errorf("swap restored state into %s: %w", dataDir, err)
	}
	return old, syncDir(filepath.Dir(dataDir))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// summarize lists the top-level entries of dir with their file counts.
func summarize(dir, kind string) []Item {
	entries, _ := os.ReadDir(dir)
	items := make([]Item, 0, len(entries))
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		files, bytes := countTree(p)
		items = append(items, Item{Kind: kind, Name: e.Name(), Files: files, Bytes: bytes})
	}
	return items
}

// countTree counts the regular files under p (or p itself) and their size.
func countTree(p string) (int, int64) {
	files, bytes := 0, int64(0)
	filepath.WalkDir(p, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		files++
		if fi, err := d.Info(); err == nil {
			bytes += fi.Size()
		}
		return nil
	})
	return files, bytes
}

// imageNeeds lists the images the restored plugins were built as and how
// to get each back.
func imageNeeds(m Manifest, reloc map[string]string, have func(string) (bool, error), rep *Report) []ImageNeed {
	var needs []ImageNeed
	for _, p := range m.Plugins {
		if !p.Built {
			continue
		}
		n := ImageNeed{Tool: p.Tool, Image: p.Image, Digest: p.Digest, Action: "import"}
		if _, moved := reloc[p.Dir]; moved {
			n.Action = "rebuild"
		} else if _, err := os.Stat(p.Dir); err == nil {
			n.Action = "rebuild"
		}
		if have != nil {
			ok, err := have(p.Image)
			if err != nil {
				rep.Notes = append(rep.Notes, fmt.Sprintf("could not check image %s: %v", p.Image, err))
			}
			n.Present = ok
		}
		needs = append(needs, n)
	}
	return needs
}

func restoreNotes(m Manifest, dataDir string) []string {
	var notes []string
	if m.DataDir != "" && filepath.Clean(m.DataDir) != dataDir {
		notes = append(notes, fmt.Sprintf("the backup came from data dir %s and was restored into %s", m.DataDir, dataDir))
	}
	if m.JobsSchema > 0 && m.JobsSchema < jobs.SchemaVersion {
		notes = append(notes, fmt.Sprintf("the job store has schema %d; the daemon migrates it to %d when it starts",
			m.JobsSchema, jobs.SchemaVersion))
	}
	if m.IndexMethod == "files" {
		notes = append(notes, "the index was copied file by file from a stopped daemon")
	}
	return notes
}
