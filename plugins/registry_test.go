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

func TestRegistryLifecycle(t *testing.T) {
	root := t.TempDir()
	path := filepath.Join(root, "state", "plugins.json")

	r, err := OpenRegistry(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.List()) != 0 {
		t.Fatal("new registry is not empty")
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("opening created the file: %v", err)
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

	if err := r.Remove("p0f"); err != nil {
		t.Fatal(err)
	}
	if err := r.Remove("p0f"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second Remove: err = %v, want ErrNotFound", err)
	}
	if _, err := r.Get("p0f"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get removed: err = %v, want ErrNotFound", err)
	}

	// Reopen after the source folder is gone: everything comes from disk.
	if err := os.RemoveAll(stats.Dir); err != nil {
		t.Fatal(err)
	}
	r2, err := OpenRegistry(path, nil)
	if err != nil {
		t.Fatal(err)
	}
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

	// No temporary files are left behind.
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("state folder holds %d entries, want only the registry", len(entries))
	}
}

func TestRegistryRejectsBadFiles(t *testing.T) {
	tests := []struct {
		name, data, msg string
	}{
		{"junk", "{not json", "not valid"},
		{"version", `{"version": 9, "plugins": []}`, "format version 9"},
		{"no name", `{"version": 1, "plugins": [{"name": ""}]}`, "without a name"},
		{"twice", `{"version": 1, "plugins": [{"name": "a"}, {"name": "a"}]}`, "holds a twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "plugins.json")
			if err := os.WriteFile(path, []byte(tt.data), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := OpenRegistry(path, nil)
			if err == nil || !strings.Contains(err.Error(), tt.msg) || !strings.Contains(err.Error(), path) {
				t.Errorf("err = %v, want one naming %s and containing %q", err, path, tt.msg)
			}
		})
	}
}

func TestRegistryWriteFailureKeepsState(t *testing.T) {
	root := t.TempDir()
	path := filepath.Join(root, "plugins.json")
	r, err := OpenRegistry(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Add(loadFixture(t, root, "p0f")); err != nil {
		t.Fatal(err)
	}

	// A directory where the temporary file should go makes writes fail.
	r.path = filepath.Join(root, "p0f", "Dockerfile", "plugins.json")
	if err := r.Add(loadFixture(t, root, "snort")); err == nil {
		t.Fatal("Add succeeded although the file cannot be written")
	}
	if err := r.Remove("p0f"); err == nil {
		t.Fatal("Remove succeeded although the file cannot be written")
	}
	if got := names(r.List()); !reflect.DeepEqual(got, []string{"p0f"}) {
		t.Errorf("after failed writes List = %q, want [p0f]", got)
	}
}

func TestRegistryConcurrent(t *testing.T) {
	root := t.TempDir()
	r, err := OpenRegistry(filepath.Join(root, "plugins.json"), nil)
	if err != nil {
		t.Fatal(err)
	}
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
			}
		}()
	}
	wg.Wait()

	r2, err := OpenRegistry(r.Path(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(r2.List()); n != 8 {
		t.Errorf("reopened registry has %d plugins, want 8", n)
	}
}

func TestRegistryRefreshesSettingsFromTemplate(t *testing.T) {
	root := t.TempDir()
	path := filepath.Join(root, "plugins.json")
	r, err := OpenRegistry(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Add(loadFixture(t, root, "p0f")); err != nil {
		t.Fatal(err)
	}

	// Damage the stored settings; reopening derives them from the template.
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var f registryFile
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	f.Plugins[0].Settings = Settings{}
	data, _ = json.Marshal(f)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}

	r2, err := OpenRegistry(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := r2.Get("p0f")
	if !reflect.DeepEqual(p.Settings.ProcessFromTool, []string{"pcap node splitter"}) {
		t.Errorf("settings not derived again: %+v", p.Settings)
	}
}

func TestWriteManifest(t *testing.T) {
	root := t.TempDir()
	r, err := OpenRegistry(filepath.Join(root, "plugins.json"), nil)
	if err != nil {
		t.Fatal(err)
	}
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
	root := b.TempDir()
	r, err := OpenRegistry(filepath.Join(root, "plugins.json"), nil)
	if err != nil {
		b.Fatal(err)
	}
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
