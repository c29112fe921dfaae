package plugins

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/bbolt"
	"gopkg.in/ini.v1"
)

// loadFixture loads one fixture tool from a fresh folder.
func loadFixture(t *testing.T, root, dir string) *Plugin {
	t.Helper()
	tool := writeTool(t, root, dir, map[string]string{
		"Dockerfile": "FROM scratch\n", "vent.template": realTemplate(t, dir),
	})
	ps, err := LoadDir(tool)
	if err != nil {
		t.Fatal(err)
	}
	return ps[0]
}

// openDB opens (or creates) the bbolt file at path and closes it when the
// test ends. Closing it earlier is fine.
func openDB(t testing.TB, path string) *bbolt.DB {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// openRegistry opens the registry in db, failing the test on error.
func openRegistry(t testing.TB, db *bbolt.DB, legacy string) *Registry {
	t.Helper()
	r, err := OpenRegistry(db, legacy, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// record returns the stored JSON of one plugin, or nil.
func record(t testing.TB, db *bbolt.DB, name string) []byte {
	t.Helper()
	var out []byte
	err := db.View(func(tx *bbolt.Tx) error {
		tools, err := toolsBucket(tx)
		if err == nil {
			out = bytes.Clone(tools.Get([]byte(name)))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// putRaw stores data under plugins/<bucket>/<key>, creating the buckets.
func putRaw(t testing.TB, db *bbolt.DB, bucket, key string, data []byte) {
	t.Helper()
	err := db.Update(func(tx *bbolt.Tx) error {
		root, err := tx.CreateBucketIfNotExists([]byte(RegistryBucket))
		if err != nil {
			return err
		}
		b, err := root.CreateBucketIfNotExists([]byte(bucket))
		if err != nil {
			return err
		}
		return b.Put([]byte(key), data)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// writeLegacy writes an old-style plugins.json holding ps, each with an
// extra field a newer writer might have added.
func writeLegacy(t *testing.T, path string, ps ...*Plugin) {
	t.Helper()
	var list []map[string]any
	for _, p := range ps {
		data, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatal(err)
		}
		m["future_field"] = "kept"
		list = append(list, m)
	}
	data, err := json.MarshalIndent(map[string]any{"version": 1, "plugins": list}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestRegistryLifecycle(t *testing.T) {
	root := t.TempDir()
	dbPath := filepath.Join(root, "state", "jobs.db")
	if err := os.MkdirAll(filepath.Dir(dbPath), 0o700); err != nil {
		t.Fatal(err)
	}
	db := openDB(t, dbPath)
	legacy := filepath.Join(root, "state", "plugins.json")

	r := openRegistry(t, db, legacy)
	if len(r.List()) != 0 {
		t.Fatal("new registry is not empty")
	}

	stats := loadFixture(t, root, "pcap_stats")
	p0f := loadFixture(t, root, "p0f")
	for _, p := range []*Plugin{stats, p0f} {
		if err := r.Add(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Add(stats); !errors.Is(err, ErrExists) {
		t.Errorf("second Add: err = %v, want ErrExists", err)
	}
	if got := names(r.List()); !reflect.DeepEqual(got, []string{"p0f", "pcap_stats"}) {
		t.Errorf("List = %q, want sorted names", got)
	}

	// Changing what Add or Get handed out does not change the registry.
	stats.Groups[0] = "changed"
	got, err := r.Get("pcap_stats")
	if err != nil {
		t.Fatal(err)
	}
	got.Settings.ExtTypes[0] = "changed"
	again, _ := r.Get("pcap_stats")
	if again.Groups[0] != "pcap" || again.Settings.ExtTypes[0] != "pcap" {
		t.Error("the registry shares memory with its callers")
	}

	builtAt := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	err = r.Update("pcap_stats", func(p *Plugin) error {
		p.Built, p.ImageDigest, p.BuiltAt = true, "sha256:0123456789abcdef0123", builtAt
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	failing := errors.New("no thanks")
	err = r.Update("pcap_stats", func(p *Plugin) error { p.Built = false; return failing })
	if !errors.Is(err, failing) {
		t.Errorf("failing Update: err = %v", err)
	}
	if err := r.Update("pcap_stats", func(p *Plugin) error { p.Name = "other"; return nil }); err == nil {
		t.Error("Update that renames succeeded")
	}
	if err := r.Update("missing", func(*Plugin) error { return nil }); !errors.Is(err, ErrNotFound) {
		t.Errorf("Update missing: err = %v, want ErrNotFound", err)
	}
	if p, _ := r.Get("pcap_stats"); !p.Built {
		t.Error("a failed Update changed the plugin in memory")
	}

	if err := r.Remove("p0f"); err != nil {
		t.Fatal(err)
	}
	if err := r.Remove("p0f"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Remove: err = %v, want ErrNotFound", err)
	}
	if _, err := r.Get("p0f"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get removed: err = %v, want ErrNotFound", err)
	}
	if rec := record(t, db, "p0f"); rec != nil {
		t.Errorf("removed plugin still stored: %s", rec)
	}

	// Reopen the file after the source folder is gone: everything comes
	// from the bbolt file.
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(stats.Dir); err != nil {
		t.Fatal(err)
	}
	r2 := openRegistry(t, openDB(t, dbPath), legacy)
	p, err := r2.Get("pcap_stats")
	if err != nil {
		t.Fatal(err)
	}
	if !p.Built || p.ImageDigest != "sha256:0123456789abcdef0123" || !p.BuiltAt.Equal(builtAt) ||
		p.Template != realTemplate(t, "pcap_stats") || p.LinkName != "pcap stats" ||
		!reflect.DeepEqual(p.Settings.Docker.Environment, []string{"rabbit=true"}) {
		t.Errorf("reopened plugin = %+v", p)
	}
	if got := names(r2.List()); !reflect.DeepEqual(got, []string{"pcap_stats"}) {
		t.Errorf("reopened List = %q", got)
	}

	// The state folder holds only the bbolt file: no JSON registry.
	entries, _ := os.ReadDir(filepath.Dir(dbPath))
	if len(entries) != 1 {
		t.Errorf("state folder holds %d entries, want only the bbolt file", len(entries))
	}
}

func TestRegistryMigratesLegacyFile(t *testing.T) {
	root := t.TempDir()
	legacy := filepath.Join(root, "plugins.json")
	stats := loadFixture(t, root, "pcap_stats")
	stats.Built, stats.ImageDigest = true, "sha256:feedface"
	p0f := loadFixture(t, root, "p0f")
	writeLegacy(t, legacy, stats, p0f)

	dbPath := filepath.Join(root, "jobs.db")
	db := openDB(t, dbPath)
	log, logs := logBuffer()
	r, err := OpenRegistry(db, legacy, log)
	if err != nil {
		t.Fatal(err)
	}
	if got := names(r.List()); !reflect.DeepEqual(got, []string{"p0f", "pcap_stats"}) {
		t.Errorf("imported List = %q", got)
	}
	p, _ := r.Get("pcap_stats")
	if !p.Built || p.ImageDigest != "sha256:feedface" || p.LinkName != "pcap stats" {
		t.Errorf("imported pcap_stats = %+v", p)
	}
	if _, err := os.Stat(legacy); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("legacy file still in place: %v", err)
	}
	if _, err := os.Stat(legacy + ".migrated"); err != nil {
		t.Errorf("legacy file not renamed: %v", err)
	}
	if !strings.Contains(logs.String(), "level=INFO") || !strings.Contains(logs.String(), legacy) {
		t.Errorf("the migration was not logged at Info naming the file:\n%s", logs.String())
	}
	if rec := record(t, db, "p0f"); !bytes.Contains(rec, []byte(`"future_field":"kept"`)) {
		t.Errorf("imported record lost a field it does not know: %s", rec)
	}

	// A plugins.json appearing later is not imported a second time.
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	other := loadFixture(t, root, "snort")
	writeLegacy(t, legacy, other)
	log, logs = logBuffer()
	r2, err := OpenRegistry(openDB(t, dbPath), legacy, log)
	if err != nil {
		t.Fatal(err)
	}
	if got := names(r2.List()); !reflect.DeepEqual(got, []string{"p0f", "pcap_stats"}) {
		t.Errorf("reopened List = %q, want the migrated plugins only", got)
	}
	if _, err := os.Stat(legacy); err != nil {
		t.Errorf("a legacy file found after the migration was touched: %v", err)
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "ignored") {
		t.Errorf("the ignored legacy file was not reported:\n%s", logs.String())
	}
}

func TestRegistryWithoutLegacyFile(t *testing.T) {
	tests := []struct {
		name     string
		legacy   func(root string) string
		migrated bool // the legacy file is renamed
	}{
		{"no legacy path", func(string) string { return "" }, false},
		{"missing legacy file", func(root string) string {
			return filepath.Join(root, "plugins.json")
		}, false},
		{"empty legacy registry", func(root string) string {
			path := filepath.Join(root, "plugins.json")
			if err := os.WriteFile(path, []byte(`{"version": 1, "plugins": []}`), 0o600); err != nil {
				t.Fatal(err)
			}
			return path
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			db := openDB(t, filepath.Join(root, "jobs.db"))
			legacy := tt.legacy(root)
			r := openRegistry(t, db, legacy)
			if n := len(r.List()); n != 0 {
				t.Errorf("registry holds %d plugins, want none", n)
			}
			_, err := os.Stat(filepath.Join(root, "plugins.json.migrated"))
			if renamed := err == nil; renamed != tt.migrated {
				t.Errorf("legacy file renamed = %v, want %v", renamed, tt.migrated)
			}
			err = db.View(func(tx *bbolt.Tx) error {
				root := tx.Bucket([]byte(RegistryBucket))
				if root == nil {
					return errors.New("no registry bucket")
				}
				v := root.Bucket([]byte(RegistryMetaBucket)).Get([]byte(registryFormatKey))
				if string(v) != "1" {
					return fmt.Errorf("format version %q, want 1", v)
				}
				return nil
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
}

func TestRegistryRejectsBadLegacyFiles(t *testing.T) {
	tests := []struct {
		name, data, msg string
	}{
		{"junk", "{not json", "not valid JSON"},
		{"version", `{"version": 9, "plugins": []}`, "format version 9"},
		{"no name", `{"version": 1, "plugins": [{"name": "a"}, {"name": ""}]}`, "without a name"},
		{"twice", `{"version": 1, "plugins": [{"name": "a"}, {"name": "a"}]}`, "holds a twice"},
		{"bad field", `{"version": 1, "plugins": [{"name": "a"}, {"name": "b", "built": "yes"}]}`,
			"plugin 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			path := filepath.Join(root, "plugins.json")
			if err := os.WriteFile(path, []byte(tt.data), 0o600); err != nil {
				t.Fatal(err)
			}
			db := openDB(t, filepath.Join(root, "jobs.db"))
			_, err := OpenRegistry(db, path, nil)
			if !errors.Is(err, ErrBadRegistry) || !strings.Contains(err.Error(), tt.msg) ||
				!strings.Contains(err.Error(), path) {
				t.Fatalf("err = %v, want ErrBadRegistry naming %s and containing %q", err, path, tt.msg)
			}

			// Nothing was half imported: no bucket, the file untouched.
			_ = db.View(func(tx *bbolt.Tx) error {
				if tx.Bucket([]byte(RegistryBucket)) != nil {
					t.Error("a failed import left the registry bucket")
				}
				return nil
			})
			if data, _ := os.ReadFile(path); string(data) != tt.data {
				t.Error("a failed import changed or moved the legacy file")
			}

			// Once the file is fixed the import goes through.
			fixed := `{"version": 1, "plugins": [{"name": "a"}]}`
			if err := os.WriteFile(path, []byte(fixed), 0o600); err != nil {
				t.Fatal(err)
			}
			if r := openRegistry(t, db, path); !reflect.DeepEqual(names(r.List()), []string{"a"}) {
				t.Errorf("after the fix List = %q", names(r.List()))
			}
		})
	}
}

func TestRegistryRejectsBadRecords(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, db *bbolt.DB)
		msg   string
	}{
		{"record not JSON", func(t *testing.T, db *bbolt.DB) {
			putRaw(t, db, RegistryToolsBucket, "snort", []byte("{oops"))
		}, `record plugins/tools/"snort"`},
		{"record of another plugin", func(t *testing.T, db *bbolt.DB) {
			putRaw(t, db, RegistryToolsBucket, "snort", []byte(`{"name": "p0f"}`))
		}, `record plugins/tools/"snort" holds the plugin "p0f"`},
		{"bucket among the records", func(t *testing.T, db *bbolt.DB) {
			err := db.Update(func(tx *bbolt.Tx) error {
				_, err := tx.Bucket([]byte(RegistryBucket)).Bucket([]byte(RegistryToolsBucket)).
					CreateBucket([]byte("nested"))
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
		}, "plugins/tools/nested is a bucket"},
		{"newer format", func(t *testing.T, db *bbolt.DB) {
			putRaw(t, db, RegistryMetaBucket, registryFormatKey, []byte("2"))
		}, "format version 2"},
		{"format not a number", func(t *testing.T, db *bbolt.DB) {
			putRaw(t, db, RegistryMetaBucket, registryFormatKey, []byte("one"))
		}, `format_version = "one"`},
		{"tools bucket missing", func(t *testing.T, db *bbolt.DB) {
			err := db.Update(func(tx *bbolt.Tx) error {
				return tx.Bucket([]byte(RegistryBucket)).DeleteBucket([]byte(RegistryToolsBucket))
			})
			if err != nil {
				t.Fatal(err)
			}
		}, "lacks its meta or tools bucket"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			db := openDB(t, filepath.Join(root, "jobs.db"))
			r := openRegistry(t, db, "")
			if err := r.Add(&Plugin{Name: "good", Template: realTemplate(t, "p0f")}); err != nil {
				t.Fatal(err)
			}
			tt.setup(t, db)

			_, err := OpenRegistry(db, "", nil)
			if !errors.Is(err, ErrBadRegistry) || !strings.Contains(err.Error(), tt.msg) ||
				!strings.Contains(err.Error(), db.Path()) {
				t.Errorf("err = %v, want ErrBadRegistry naming %s and containing %q", err, db.Path(), tt.msg)
			}
		})
	}
}

func TestRegistryCommitFailureKeepsState(t *testing.T) {
	tests := []struct {
		name  string
		spoil func(t *testing.T, db *bbolt.DB, path string) *bbolt.DB
	}{
		{"closed database", func(t *testing.T, db *bbolt.DB, _ string) *bbolt.DB {
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			return db
		}},
		{"read-only database", func(t *testing.T, db *bbolt.DB, path string) *bbolt.DB {
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			ro, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true, Timeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = ro.Close() })
			return ro
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			path := filepath.Join(root, "jobs.db")
			db := openDB(t, path)
			r := openRegistry(t, db, "")
			if err := r.Add(loadFixture(t, root, "p0f")); err != nil {
				t.Fatal(err)
			}

			// The read-only case reopens the registry on the new handle; the
			// closed case keeps the registry that lost its database.
			if spoiled := tt.spoil(t, db, path); spoiled != db {
				r = openRegistry(t, spoiled, "")
			}
			if err := r.Add(loadFixture(t, root, "snort")); err == nil {
				t.Error("Add succeeded although nothing can be committed")
			}
			err := r.Update("p0f", func(p *Plugin) error { p.Enabled = false; return nil })
			if err == nil {
				t.Error("Update succeeded although nothing can be committed")
			}
			if err := r.Remove("p0f"); err == nil {
				t.Error("Remove succeeded although nothing can be committed")
			}
			if got := names(r.List()); !reflect.DeepEqual(got, []string{"p0f"}) {
				t.Errorf("after failed commits List = %q, want [p0f]", got)
			}
			if p, err := r.Get("p0f"); err != nil || !p.Enabled {
				t.Errorf("after a failed Update p0f = %+v, %v; want it enabled as before", p, err)
			}
		})
	}
}

func TestRegistryConcurrent(t *testing.T) {
	root := t.TempDir()
	path := filepath.Join(root, "jobs.db")
	db := openDB(t, path)
	r := openRegistry(t, db, "")
	base := loadFixture(t, root, "pcap_stats")

	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := base.Clone()
			p.Name = fmt.Sprintf("tool%d", i)
			if err := r.Add(p); err != nil {
				t.Error(err)
			}
			for range 5 {
				_ = r.Update(p.Name, func(p *Plugin) error { p.Enabled = !p.Enabled; return nil })
				_ = r.List()
				_, _ = r.Get(fmt.Sprintf("tool%d", (i+1)%8))
			}
			if i%2 == 1 {
				if err := r.Remove(p.Name); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()

	// Each tool was flipped five times: the odd count leaves it disabled.
	want := []string{"tool0", "tool2", "tool4", "tool6"}
	if got := names(r.List()); !reflect.DeepEqual(got, want) {
		t.Errorf("List = %q, want %q", got, want)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	r2 := openRegistry(t, openDB(t, path), "")
	got := r2.List()
	if !reflect.DeepEqual(names(got), want) {
		t.Errorf("reopened List = %q, want %q", names(got), want)
	}
	for _, p := range got {
		if p.Enabled {
			t.Errorf("%s is enabled after an odd number of flips", p.Name)
		}
	}
}

func TestRegistryRefreshesSettingsFromTemplate(t *testing.T) {
	root := t.TempDir()
	db := openDB(t, filepath.Join(root, "jobs.db"))
	r := openRegistry(t, db, "")
	if err := r.Add(loadFixture(t, root, "p0f")); err != nil {
		t.Fatal(err)
	}

	// Damage the stored settings; reopening derives them from the template.
	var p Plugin
	if err := json.Unmarshal(record(t, db, "p0f"), &p); err != nil {
		t.Fatal(err)
	}
	p.Settings = Settings{}
	data, _ := json.Marshal(&p)
	putRaw(t, db, RegistryToolsBucket, "p0f", data)

	r2 := openRegistry(t, db, "")
	got, _ := r2.Get("p0f")
	if !reflect.DeepEqual(got.Settings.ProcessFromTool, []string{"pcap node splitter"}) {
		t.Errorf("settings not derived again: %+v", got.Settings)
	}
}

func TestWriteManifest(t *testing.T) {
	root := t.TempDir()
	r := openRegistry(t, openDB(t, filepath.Join(root, "state.db")), "")
	gpu := loadFixture(t, root, "gpu_example")
	gpu.Template += "\n[custom]\nnote = a \"quoted\" <b> & é\n[name]\nx = collides with a manifest key\n"
	gpu.Built, gpu.ImageDigest = true, "sha256:abcdef0123456789"
	gpu.BuiltAt = time.Date(2019, 12, 1, 10, 20, 30, 123456000, time.UTC)
	if err := r.Add(gpu); err != nil {
		t.Fatal(err)
	}

	multi := writeTool(t, root, "multi", map[string]string{
		"Dockerfile.eval": "", "eval.template": "[info]\nname = evaluator\ngroups = a, b\n",
	})
	ps, err := LoadDir(multi)
	if err != nil {
		t.Fatal(err)
	}
	ps[0].Enabled, ps[0].BuildError = false, "exit status 1"
	if err := r.Add(ps[0]); err != nil {
		t.Fatal(err)
	}

	var buf bytes.Buffer
	if err := r.WriteManifest(&buf); err != nil {
		t.Fatal(err)
	}

	opts := ini.LoadOptions{KeyValueDelimiters: "=", IgnoreInlineComment: true}
	f, err := ini.LoadSources(opts, buf.Bytes())
	if err != nil {
		t.Fatalf("ini read-back: %v\n%s", err, buf.String())
	}
	if got, want := f.SectionStrings(), []string{
		"DEFAULT", "ventapp-local:gpu_example:/:latest:HEAD", "ventapp-local:multi:/@eval:latest:HEAD",
	}; !reflect.DeepEqual(got, want) {
		t.Fatalf("sections = %q, want %q\n%s", got, want, buf.String())
	}

	g := f.Section("ventapp-local:gpu_example:/:latest:HEAD")
	wantKeys := map[string]string{
		"name": "gpu_example", "namespace": "ventapp-local/gpu_example", "path": gpu.Dir,
		"repo": "local:" + gpu.Dir, "multi_tool": "no", "branch": "latest", "version": "HEAD",
		"last_updated": "2019-12-01 10:20:30.123456 UTC",
		"image_name":   "ventapp-local/gpu-example:latest", "type": "repository",
		"link_name": "Simple GPU Example", "groups": "gpu", "built": "yes", "image_id": "abcdef012345",
		"running": "no", "enabled": "yes",
		"gpu":    `{"enabled": "yes", "mem_mb": "1024", "dedicated": "yes", "device": "0"}`,
		"custom": `{"note": "a \"quoted\" <b> & é"}`,
	}
	for k, want := range wantKeys {
		if got := g.Key(k).Value(); got != want {
			t.Errorf("[gpu_example] %s = %q, want %q", k, got, want)
		}
	}
	if g.Key("name").Value() != "gpu_example" {
		t.Error("template section [name] overwrote the manifest key name")
	}

	var info map[string]string
	err = json.Unmarshal([]byte(g.Key("info").Value()), &info)
	if err != nil || info["name"] != "Simple GPU Example" {
		t.Errorf("info section = %q (%v)", g.Key("info").Value(), err)
	}

	m := f.Section("ventapp-local:multi:/@eval:latest:HEAD")
	for k, want := range map[string]string{
		"name": "eval", "multi_tool": "yes", "link_name": "evaluator", "groups": "a,b",
		"built": "failed", "image_id": "", "enabled": "no", "image_name": "ventapp-local/multi-eval:latest",
	} {
		if got := m.Key(k).Value(); got != want {
			t.Errorf("[multi@eval] %s = %q, want %q", k, got, want)
		}
	}
}

func BenchmarkRegistryUpdate(b *testing.B) {
	r := openRegistry(b, openDB(b, filepath.Join(b.TempDir(), "state.db")), "")
	for i := range 20 {
		p := &Plugin{Name: fmt.Sprintf("tool%02d", i), Template: realTemplate(b, "p0f")}
		if err := r.Add(p); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for b.Loop() {
		if err := r.Update("tool07", func(p *Plugin) error { p.Built = !p.Built; return nil }); err != nil {
			b.Fatal(err)
		}
	}
}
