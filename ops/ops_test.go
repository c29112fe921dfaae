package ops

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/blevesearch/bleve/v2"
	"go.etcd.io/bbolt"

	"github.com/ventapp/ventapp/jobs"
	"github.com/ventapp/ventapp/plugins"
)

func TestBackupManifest(t *testing.T) {
	common := []string{"data/jobs.db", "data/plugin_manifest.cfg", "data/status.json", "config/vent.cfg",
		"plugins/0/Dockerfile", "plugins/0/vent.template", "data/index/index_meta.json"}
	tests := []struct {
		name         string
		install      func(*testing.T) *install
		want, absent []string
	}{
		{"registry in the job store", newInstall, common, []string{"data/" + pluginsName}},
		{"plugins.json not yet migrated", newLegacyInstall,
			append(slices.Clone(common), "data/"+pluginsName), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.install(t)
			_, data := in.backup(t)

			m, err := Verify(bytes.NewReader(data))
			must(t, err)
			if m.Format != FormatVersion || m.JobsSchema != jobs.SchemaVersion || m.Version != "1.2.3-test" {
				t.Errorf("manifest header = format %d, schema %d, version %q",
					m.Format, m.JobsSchema, m.Version)
			}
			if m.IndexMethod != "files" {
				t.Errorf("IndexMethod = %q, want files", m.IndexMethod)
			}
			names := map[string]bool{}
			for _, mem := range m.Members {
				names[mem.Name] = true
			}
			for _, want := range tt.want {
				if !names[want] {
					t.Errorf("member %s missing; have %v", want, names)
				}
			}
			for _, name := range tt.absent {
				if names[name] {
					t.Errorf("member %s should not be there", name)
				}
			}
			if len(m.Plugins) != 1 || m.Plugins[0].Source != "plugins/0/" || !m.Plugins[0].Built ||
				m.Plugins[0].Dir != in.srcDir || m.Plugins[0].Tool != "pcap-summary" {
				t.Errorf("plugins = %+v", m.Plugins)
			}
			members := readArchive(t, data)
			if last := members[len(members)-1].name; last != ManifestName {
				t.Errorf("last member = %s, want %s", last, ManifestName)
			}
		})
	}
}

// asFormat1 turns an archive written from a legacy install into one as the
// previous version wrote it: the same members, manifest format 1.
func asFormat1(t *testing.T, data []byte) []byte {
	t.Helper()
	ms := readArchive(t, data)
	last := &ms[len(ms)-1]
	want := fmt.Sprintf(`"format": %d`, FormatVersion)
	if !bytes.Contains(last.body, []byte(want)) {
		t.Fatalf("manifest lacks %s", want)
	}
	last.body = bytes.Replace(last.body, []byte(want), []byte(`"format": 1`), 1)
	return writeArchive(t, ms)
}

// storedRecord returns the raw registry record of one plugin in db.
func storedRecord(t *testing.T, db *bbolt.DB, name string) map[string]any {
	t.Helper()
	var rec map[string]any
	must(t, db.View(func(tx *bbolt.Tx) error {
		root := tx.Bucket([]byte(plugins.RegistryBucket))
		if root == nil {
			return errors.New("no registry bucket")
		}
		return json.Unmarshal(root.Bucket([]byte(plugins.RegistryToolsBucket)).Get([]byte(name)), &rec)
	}))
	return rec
}

// TestRoundTrip: backup, factory reset (state, plugin source and config
// gone, as on a new machine), restore: the jobs, the search results, the
// registry and the config come back, and the report names what to rebuild.
// It runs for an archive of this version and for one of the previous
// version, whose plugins.json is relocated and migrated on the next open.
func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name    string
		install func(*testing.T) *install
		archive func(*testing.T, []byte) []byte
	}{
		{"registry in the job store", newInstall, func(_ *testing.T, b []byte) []byte { return b }},
		{"format 1 archive with plugins.json", newLegacyInstall, asFormat1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.install(t)
			wantJobs, err := in.store.List(jobs.Filter{})
			must(t, err)
			_, data := in.backup(t)
			path := filepath.Join(in.root, "archive.tar.gz")
			must(t, os.WriteFile(path, tt.archive(t, data), 0o600))
			in.closeStore()
			wantAlpha := search(t, in.dataDir, "alpha")
			if len(wantAlpha) != 10 {
				t.Fatalf("search alpha before backup: %d hits, want 10", len(wantAlpha))
			}

			rep, err := Reset(context.Background(), ResetPlan{DataDir: in.dataDir, DropDir: in.drop})
			must(t, err)
			if len(rep.Removed) < 5 || len(rep.Kept) != 1 || rep.Kept[0].Files != 1 {
				t.Errorf("reset report = %+v", rep)
			}
			must(t, os.RemoveAll(in.srcDir))
			write(t, in.config, "[main]\nfiles = /elsewhere\n")

			rep, err = Restore(path, in.dataDir, in.config, RestoreOptions{
				HaveImage: func(string) (bool, error) { return false, nil },
			})
			must(t, err)
			checkRestored(t, in, rep, wantJobs, wantAlpha)
		})
	}
}

// checkRestored checks the state TestRoundTrip restored.
func checkRestored(t *testing.T, in *install, rep Report, wantJobs []jobs.Job, wantAlpha []string) {
	t.Helper()
	if got := search(t, in.dataDir, "alpha"); !slices.Equal(got, wantAlpha) {
		t.Errorf("search alpha after restore = %v, want %v", got, wantAlpha)
	}
	cfg, _ := os.ReadFile(in.config)
	if !strings.Contains(string(cfg), in.drop) {
		t.Errorf("config not restored: %q", cfg)
	}
	if old, _ := os.ReadFile(in.config + ".pre-restore"); !strings.Contains(string(old), "/elsewhere") {
		t.Errorf("old config not kept: %q", old)
	}
	noted := false
	for _, n := range rep.Notes {
		noted = noted || strings.Contains(n, "drop folder") && strings.Contains(n, "/elsewhere")
	}
	if !noted {
		t.Errorf("notes %q do not say that the drop folder changed from /elsewhere", rep.Notes)
	}

	// The store opens as the daemon opens it: jobs first, then the
	// registry, which imports a restored plugins.json once.
	s, err := jobs.Open(filepath.Join(in.dataDir, jobsDBName), jobs.Options{NoSync: true})
	must(t, err)
	defer s.Close()
	gotJobs, err := s.List(jobs.Filter{})
	must(t, err)
	must(t, s.Check())
	if !reflect.DeepEqual(gotJobs, wantJobs) {
		t.Errorf("jobs after restore differ:\n got %+v\nwant %+v", gotJobs, wantJobs)
	}
	legacy := filepath.Join(in.dataDir, pluginsName)
	reg, err := plugins.OpenRegistry(s.DB(), legacy, nil)
	must(t, err)
	if _, err := os.Stat(legacy); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s is still there after the registry opened: %v", legacy, err)
	}

	// The plugin source was missing, so it is restored into the data dir
	// and the registry points there, keeping fields it does not know.
	newDir := filepath.Join(in.dataDir, pluginSrcDir, "0")
	p, err := reg.Get("pcap-summary")
	must(t, err)
	if p.Dir != newDir || p.Dockerfile != filepath.Join(newDir, "Dockerfile") ||
		p.TemplatePath != filepath.Join(newDir, "vent.template") || p.Repo != "local:"+newDir {
		t.Errorf("relocated registry entry = %+v", p)
	}
	if rec := storedRecord(t, s.DB(), "pcap-summary"); rec["future_field"] != "kept" || rec["dir"] != newDir {
		t.Errorf("stored record = %v", rec)
	}
	var state struct {
		Started  map[string]bool
		Previous map[string]struct{ Dir, Dockerfile string }
	}
	must(t, s.DB().View(func(tx *bbolt.Tx) error {
		if b := tx.Bucket([]byte(plugins.LifecycleBucket)); b != nil {
			return json.Unmarshal(b.Get([]byte(plugins.LifecycleStateKey)), &state)
		}
		return nil
	}))
	if in.lifecycle {
		prev := state.Previous["pcap-summary"]
		if !state.Started["pcap-summary"] || prev.Dir != newDir || prev.Dockerfile != filepath.Join(newDir, "Dockerfile") {
			t.Errorf("restored lifecycle state = %+v", state)
		}
	}
	if _, err := os.Stat(filepath.Join(newDir, "vent.template")); err != nil {
		t.Errorf("plugin template not restored: %v", err)
	}
	if fi, err := os.Stat(filepath.Join(newDir, "run")); err != nil || fi.Mode().Perm() != 0o775 {
		t.Errorf("plugin file mode after restore: %v, %v; want 0775", fi.Mode(), err)
	}
	want := []ImageNeed{{Tool: "pcap-summary", Image: "ventapp/pcap-summary:latest",
		Digest: "sha256:" + fmt.Sprintf("%064d", 7), Action: "rebuild"}}
	if !reflect.DeepEqual(rep.Images, want) {
		t.Errorf("images = %+v, want %+v", rep.Images, want)
	}
	if len(rep.Kept) < 2 {
		t.Errorf("kept = %+v, want the old data dir and the old config", rep.Kept)
	}
	leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(in.dataDir), ".*restore-*"))
	if len(leftovers) > 0 {
		t.Errorf("staging left behind: %v", leftovers)
	}
}

// TestBackupRefusesBadRegistryRecord: a registry record that is not JSON
// stops the backup with an error naming it.
func TestBackupRefusesBadRegistryRecord(t *testing.T) {
	in := newInstall(t)
	must(t, in.store.DB().Update(func(tx *bbolt.Tx) error {
		tools := tx.Bucket([]byte(plugins.RegistryBucket)).Bucket([]byte(plugins.RegistryToolsBucket))
		return tools.Put([]byte("broken"), []byte("{oops"))
	}))
	var buf bytes.Buffer
	err := Backup(context.Background(), &buf, in.source())
	if err == nil || !strings.Contains(err.Error(), `plugins/tools/"broken"`) {
		t.Errorf("Backup = %v, want an error naming the record", err)
	}
}

// TestRestoreRefusesSourcesWithoutRegistry: an archive whose manifest
// lists a plugin source but which holds neither a registry bucket nor a
// plugins.json is refused before the data dir is touched.
func TestRestoreRefusesSourcesWithoutRegistry(t *testing.T) {
	in := newLegacyInstall(t)
	_, data := in.backup(t)
	in.closeStore()

	legacy := "data/" + pluginsName
	ms := slices.DeleteFunc(readArchive(t, data), func(m member) bool { return m.name == legacy })
	var m Manifest
	must(t, json.Unmarshal(ms[len(ms)-1].body, &m))
	m.Members = slices.DeleteFunc(m.Members, func(mem Member) bool { return mem.Name == legacy })
	body, err := json.Marshal(m)
	must(t, err)
	ms[len(ms)-1].body = body
	path := filepath.Join(in.root, "no-registry.tar.gz")
	must(t, os.WriteFile(path, writeArchive(t, ms), 0o600))

	must(t, os.RemoveAll(in.srcDir))
	before := snapshotDir(t, in.dataDir)
	_, err = Restore(path, in.dataDir, "", RestoreOptions{})
	if err == nil || !strings.Contains(err.Error(), "has no plugins bucket") {
		t.Errorf("Restore = %v, want an error saying the registry is missing", err)
	}
	if after := snapshotDir(t, in.dataDir); !reflect.DeepEqual(before, after) {
		t.Error("the refused restore changed the data dir")
	}
}

// TestBackupWhileWriting takes a backup while writers keep adding jobs:
// the restored store is consistent (Check passes).
func TestBackupWhileWriting(t *testing.T) {
	in := newInstall(t)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil && i < 2000; i++ {
				in.store.AddFile(jobs.FileRecord{Path: fmt.Sprintf("/drop/w%d-%d", w, i), Size: 1,
					SHA256: fmt.Sprintf("%064x", i)}, []string{"a", "b"})
			}
		}()
	}
	path, _ := in.backup(t)
	cancel()
	wg.Wait()
	in.closeStore()

	target := filepath.Join(in.root, "restored")
	_, err := Restore(path, target, "", RestoreOptions{})
	must(t, err)
	s, err := jobs.Open(filepath.Join(target, jobsDBName), jobs.Options{NoSync: true})
	must(t, err)
	defer s.Close()
	must(t, s.Check())
}

func TestVerifyRefusesDamage(t *testing.T) {
	in := newInstall(t)
	_, good := in.backup(t)
	members := readArchive(t, good)

	edit := func(f func([]member) []member) []byte {
		return writeArchive(t, f(slices.Clone(members)))
	}
	tests := []struct {
		name string
		data []byte
		want string // text the error must contain
	}{
		{"truncated to half", good[:len(good)/2], "member data/"},
		{"truncated tail", good[:len(good)-5], ""},
		{"empty", nil, "not a gzip"},
		{"not gzip", []byte("hello"), "not a gzip"},
		{"changed member", edit(func(ms []member) []member {
			ms[0].body = append([]byte{}, ms[0].body...)
			ms[0].body[100] ^= 0xff
			return ms
		}), "member data/jobs.db: SHA-256"},
		{"missing member", edit(func(ms []member) []member {
			return slices.DeleteFunc(ms, func(m member) bool { return m.name == "data/plugin_manifest.cfg" })
		}), "member data/plugin_manifest.cfg is listed"},
		{"extra member", edit(func(ms []member) []member {
			return slices.Insert(ms, 1, member{name: "data/extra", body: []byte("x")})
		}), "member data/extra is not listed"},
		{"no manifest", edit(func(ms []member) []member { return ms[:len(ms)-1] }), "no MANIFEST.json"},
		{"manifest not last", edit(func(ms []member) []member {
			return append(ms, member{name: "data/late", body: []byte("x")})
		}), "must be last"},
		{"path escape", edit(func(ms []member) []member {
			return slices.Insert(ms, 0, member{name: "data/../../etc/passwd", body: []byte("x")})
		}), "not a clean relative path"},
		{"outside known folders", edit(func(ms []member) []member {
			return slices.Insert(ms, 0, member{name: "etc/passwd", body: []byte("x")})
		}), "outside data/"},
		{"format too new", edit(func(ms []member) []member {
			last := &ms[len(ms)-1]
			last.body = bytes.Replace(last.body, fmt.Appendf(nil, `"format": %d`, FormatVersion),
				[]byte(`"format": 99`), 1)
			return ms
		}), "format 99"},
		{"bad manifest json", edit(func(ms []member) []member {
			ms[len(ms)-1].body = []byte("{")
			return ms
		}), "member MANIFEST.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Verify(bytes.NewReader(tt.data))
			if err == nil {
				t.Fatal("damaged archive accepted")
			}
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrFormatTooNew) {
				t.Errorf("error %v wraps neither ErrCorrupt nor ErrFormatTooNew", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}

			// Restore refuses it before touching anything.
			path := filepath.Join(t.TempDir(), "bad.tar.gz")
			must(t, os.WriteFile(path, tt.data, 0o600))
			before := snapshotDir(t, in.dataDir)
			if _, err := Restore(path, in.dataDir, in.config, RestoreOptions{Force: true}); err == nil {
				t.Fatal("Restore accepted a damaged archive")
			}
			if after := snapshotDir(t, in.dataDir); !reflect.DeepEqual(before, after) {
				t.Error("Restore changed the data dir")
			}
			left, _ := filepath.Glob(filepath.Join(filepath.Dir(in.dataDir), ".*restore-*"))
			left2, _ := filepath.Glob(filepath.Join(filepath.Dir(in.config), ".*restore-*"))
			if len(left)+len(left2) > 0 {
				t.Errorf("staging left behind: %v %v", left, left2)
			}
		})
	}
}

func TestRestoreRefusesRunningDaemon(t *testing.T) {
	in := newInstall(t)
	path, _ := in.backup(t)

	// The open store holds bbolt's lock, as a daemon's does.
	_, err := Restore(path, in.dataDir, "", RestoreOptions{})
	if !errors.Is(err, ErrDaemonRunning) || !strings.Contains(err.Error(), "locked") {
		t.Errorf("with the store open: %v, want ErrDaemonRunning (locked)", err)
	}
	in.closeStore()

	sock := filepath.Join(in.dataDir, socketName)
	l, err := net.Listen("unix", sock)
	must(t, err)
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	before := snapshotDir(t, in.dataDir)
	_, err = Restore(path, in.dataDir, "", RestoreOptions{})
	if !errors.Is(err, ErrDaemonRunning) || !strings.Contains(err.Error(), sock) {
		t.Errorf("with a listener: %v, want ErrDaemonRunning naming %s", err, sock)
	}
	if _, err := Reset(context.Background(), ResetPlan{DataDir: in.dataDir}); !errors.Is(err, ErrDaemonRunning) {
		t.Errorf("Reset with a listener: %v, want ErrDaemonRunning", err)
	}
	delete(before, sock)
	after := snapshotDir(t, in.dataDir)
	delete(after, sock)
	if !reflect.DeepEqual(before, after) {
		t.Error("refused restore or reset changed the data dir")
	}

	rep, err := Restore(path, in.dataDir, "", RestoreOptions{Force: true, DiscardOld: true})
	must(t, err)
	if len(rep.Restored) == 0 {
		t.Error("forced restore restored nothing")
	}
}

// TestRestoreRefusesNewerSchema: a backup of a store written by a newer
// ventapp is refused before anything is touched.
func TestRestoreRefusesNewerSchema(t *testing.T) {
	dir := t.TempDir()
	db, err := bbolt.Open(filepath.Join(dir, "jobs.db"), 0o600, nil)
	must(t, err)
	must(t, db.Update(func(tx *bbolt.Tx) error {
		root, err := tx.CreateBucket([]byte("jobs"))
		if err != nil {
			return err
		}
		meta, err := root.CreateBucket([]byte("meta"))
		if err != nil {
			return err
		}
		return meta.Put([]byte("schema_version"), []byte(strconv.Itoa(jobs.SchemaVersion+1)))
	}))
	var buf bytes.Buffer
	must(t, Backup(context.Background(), &buf, BackupSource{DB: db, DataDir: dir, Version: "9.0"}))
	db.Close()
	path := filepath.Join(dir, "new.tar.gz")
	must(t, os.WriteFile(path, buf.Bytes(), 0o600))

	target := filepath.Join(dir, "target")
	write(t, filepath.Join(target, "keep"), "x")
	_, err = Restore(path, target, "", RestoreOptions{})
	if !errors.Is(err, ErrSchemaTooNew) || !strings.Contains(err.Error(), "9.0") {
		t.Fatalf("Restore = %v, want ErrSchemaTooNew naming the version", err)
	}
	if _, err := os.Stat(filepath.Join(target, "keep")); err != nil {
		t.Error("target changed")
	}
}

func TestHandler(t *testing.T) {
	in := newInstall(t)
	srv := httptest.NewServer(Handler(in.source))
	defer srv.Close()

	resp, err := http.Get(srv.URL)
	must(t, err)
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/gzip" {
		t.Fatalf("status %d, type %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if _, err := Verify(resp.Body); err != nil {
		t.Errorf("served archive: %v", err)
	}

	bad := httptest.NewServer(Handler(func() BackupSource { return BackupSource{} }))
	defer bad.Close()
	resp2, err := http.Get(bad.URL)
	must(t, err)
	defer resp2.Body.Close()
	if resp2.StatusCode != 500 {
		t.Errorf("failing backup: status %d, want 500", resp2.StatusCode)
	}
	resp3, err := http.Post(srv.URL, "text/plain", nil)
	must(t, err)
	resp3.Body.Close()
	if resp3.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: status %d, want 405", resp3.StatusCode)
	}
}

// TestIndexSnapshot backs up a live bleve index through BleveSnapshot and
// checks that the copy opens with every document.
func TestIndexSnapshot(t *testing.T) {
	in := newInstall(t)
	dir := t.TempDir()
	idx, err := bleve.New(filepath.Join(dir, "live"), bleve.NewIndexMapping())
	must(t, err)
	defer idx.Close()
	for i := range 50 {
		must(t, idx.Index(fmt.Sprint(i), map[string]string{"msg": "hello"}))
	}

	src := in.source()
	src.IndexSnapshot = BleveSnapshot(idx)
	var buf bytes.Buffer
	must(t, Backup(context.Background(), &buf, src))
	m, err := Verify(bytes.NewReader(buf.Bytes()))
	must(t, err)
	if m.IndexMethod != "snapshot" {
		t.Errorf("IndexMethod = %q", m.IndexMethod)
	}
	in.closeStore()
	path := filepath.Join(dir, "b.tar.gz")
	must(t, os.WriteFile(path, buf.Bytes(), 0o600))
	target := filepath.Join(dir, "restored")
	_, err = Restore(path, target, "", RestoreOptions{})
	must(t, err)
	cp, err := bleve.Open(filepath.Join(target, indexName))
	must(t, err)
	defer cp.Close()
	if n, _ := cp.DocCount(); n != 50 {
		t.Errorf("restored snapshot has %d documents, want 50", n)
	}
}

func FuzzVerify(f *testing.F) {
	dir := f.TempDir()
	db, err := bbolt.Open(filepath.Join(dir, "jobs.db"), 0o600, nil)
	if err != nil {
		f.Fatal(err)
	}
	var buf bytes.Buffer
	if err := Backup(context.Background(), &buf, BackupSource{DB: db, DataDir: dir}); err != nil {
		f.Fatal(err)
	}
	db.Close()
	f.Add(buf.Bytes())
	f.Add([]byte{0x1f, 0x8b})
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Verify(bytes.NewReader(data))
		if err == nil && m.Format != FormatVersion {
			t.Errorf("accepted format %d", m.Format)
		}
	})
}
