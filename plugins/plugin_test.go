package plugins

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestLoadDirSingleTool(t *testing.T) {
	root := t.TempDir()
	files := map[string]string{
		"Dockerfile":    "FROM scratch\n",
		"vent.template": realTemplate(t, "pcap_stats"),
		"Dockerfile~":   "editor backup, ignored\n",
	}
	dir := writeTool(t, root, "Pcap_Stats", files)

	ps, err := LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 1 {
		t.Fatalf("got %d plugins, want 1", len(ps))
	}

	p := ps[0]
	checks := []struct{ field, got, want string }{
		{"Name", p.Name, "pcap_stats"},
		{"LinkName", p.LinkName, "pcap stats"},
		{"Dir", p.Dir, dir},
		{"Dockerfile", p.Dockerfile, filepath.Join(dir, "Dockerfile")},
		{"TemplatePath", p.TemplatePath, filepath.Join(dir, "vent.template")},
		{"Template", p.Template, realTemplate(t, "pcap_stats")},
		{"Repo", p.Repo, "local:" + dir},
		{"Image", p.Image, "ventapp-local/pcap-stats:latest"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.field, c.got, c.want)
		}
	}
	if !p.Enabled || p.Built || p.AddedAt.IsZero() || !reflect.DeepEqual(p.Groups, []string{"pcap"}) {
		t.Errorf("Enabled %v Built %v AddedAt %v Groups %q", p.Enabled, p.Built, p.AddedAt, p.Groups)
	}
	if !reflect.DeepEqual(p.Settings.ExtTypes, []string{"pcap"}) {
		t.Errorf("settings not parsed: %+v", p.Settings)
	}
}

func TestLoadDirMultiTool(t *testing.T) {
	dir := writeTool(t, t.TempDir(), "multi_tool", map[string]string{
		"Dockerfile":           "FROM scratch\n",
		"Dockerfile.eval":      "FROM scratch\n",
		"Dockerfile.Train":     "FROM scratch\n",
		"eval.template":        "[info]\nname = evaluator\n[settings]\next_types = csv\n",
		"Train.template":       "[info]\nname = trainer\n",
		"unspecified.template": "[info]\nname = default one\n",
		"vent.template":        "[info]\nname = not used when unspecified.template exists\n",
	})

	ps, err := LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}

	type row struct{ name, link, dockerfile, template, image string }
	var got []row
	for _, p := range ps {
		got = append(got, row{p.Name, p.LinkName, filepath.Base(p.Dockerfile),
			filepath.Base(p.TemplatePath), p.Image})
	}
	want := []row{
		{"multi_tool@eval", "evaluator", "Dockerfile.eval", "eval.template",
			"ventapp-local/multi-tool-eval:latest"},
		{"multi_tool@train", "trainer", "Dockerfile.Train", "Train.template",
			"ventapp-local/multi-tool-train:latest"},
		{"multi_tool@unspecified", "default one", "Dockerfile", "unspecified.template",
			"ventapp-local/multi-tool-unspecified:latest"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("tools:\n got %+v\nwant %+v", got, want)
	}

	// Without unspecified.template the plain Dockerfile uses vent.template.
	if err := os.Remove(filepath.Join(dir, "unspecified.template")); err != nil {
		t.Fatal(err)
	}
	ps, err = LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if last := ps[len(ps)-1]; filepath.Base(last.TemplatePath) != "vent.template" {
		t.Errorf("plain Dockerfile template = %s, want vent.template", last.TemplatePath)
	}
}

func TestLoadDirErrors(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		is    error
		msg   string
	}{
		{"no dockerfile", map[string]string{"vent.template": "[info]\n"}, ErrNoDockerfile, "no Dockerfile"},
		{"no template", map[string]string{"Dockerfile": ""}, fs.ErrNotExist, "needs vent.template"},
		{"multi without template", map[string]string{
			"Dockerfile.a": "", "Dockerfile.b": "", "a.template": "[info]\n",
		}, ErrTemplate, "Dockerfile.b needs b.template"},
		{"syntax error", map[string]string{
			"Dockerfile": "", "vent.template": "[info]\nname = x\n\nbroken line\n",
		}, ErrTemplate, "vent.template:4"},
		{"bad value", map[string]string{
			"Dockerfile": "", "vent.template": "[settings]\ninstances = -2\n",
		}, ErrSetting, "[settings] instances"},
		{"name clash", map[string]string{
			"Dockerfile.a": "", "Dockerfile.A": "", "a.template": "", "A.template": "",
		}, ErrSetting, "both give the tool name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeTool(t, t.TempDir(), "tool", tt.files)
			_, err := LoadDir(dir)
			if !errors.Is(err, tt.is) {
				t.Fatalf("err = %v, want %v", err, tt.is)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("err = %v, want it to contain %q", err, tt.msg)
			}
			if !strings.Contains(err.Error(), dir) {
				t.Errorf("err = %v does not name the folder %s", err, dir)
			}
		})
	}

	if _, err := LoadDir(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing folder: err = %v", err)
	}
}

func TestLoadDirBadImageName(t *testing.T) {
	dir := writeTool(t, t.TempDir(), "my tool", map[string]string{"Dockerfile": "", "vent.template": ""})
	_, err := LoadDir(dir)
	if !errors.Is(err, ErrSetting) || !strings.Contains(err.Error(), "not a valid image reference") {
		t.Errorf("err = %v, want an image name error", err)
	}
}

func TestImageName(t *testing.T) {
	tests := []struct {
		org, repo, subdir, branch, want string
	}{
		{"cyberreboot", "vent-plugins", "pcap_stats", "master",
			"cyberreboot/vent-plugins-pcap-stats:master"},
		{"cyberreboot", "vent-plugins", "/plugins/pcap_stats/", "master",
			"cyberreboot/vent-plugins-plugins-pcap-stats:master"},
		{"CyberReboot", "Vent", "redis", "Master", "cyberreboot/vent-redis:master"},
		{"org", "repo", "", "dev", "org/repo:dev"},
		{"org", "repo", "/", "", "org/repo:latest"},
		{"org", "repo", "tools@eval", "v1", "org/repo-tools-eval:v1"},
		{LocalImageOrg, "multi_tool@eval", "", "latest", "ventapp-local/multi-tool-eval:latest"},
	}
	for _, tt := range tests {
		if got := ImageName(tt.org, tt.repo, tt.subdir, tt.branch); got != tt.want {
			t.Errorf("ImageName(%q, %q, %q, %q) = %q, want %q",
				tt.org, tt.repo, tt.subdir, tt.branch, got, tt.want)
		}
	}
}

func TestCloneIsDeep(t *testing.T) {
	dir := writeTool(t, t.TempDir(), "kibana", map[string]string{
		"Dockerfile": "", "vent.template": realTemplate(t, "kibana"),
	})
	ps, err := LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}

	p := ps[0]
	c := p.Clone()
	c.Groups[0] = "changed"
	c.Settings.Labels["uri_prefix1"] = "changed"
	c.Settings.Priority[0] = 99
	c.Settings.Docker.Unsupported[0] = "changed"
	if p.Groups[0] == "changed" || p.Settings.Labels["uri_prefix1"] == "changed" ||
		p.Settings.Priority[0] == 99 || p.Settings.Docker.Unsupported[0] == "changed" {
		t.Error("changing the clone changed the original")
	}
}

func TestPluginLabelsAndWarnings(t *testing.T) {
	root := t.TempDir()
	kibana := writeTool(t, root, "kibana", map[string]string{
		"Dockerfile": "", "vent.template": realTemplate(t, "kibana"),
	})
	ps, err := LoadDir(kibana)
	if err != nil {
		t.Fatal(err)
	}

	p := ps[0]
	want := map[string]string{
		"vent": "", "vent.name": "kibana", "vent.groups": "visualization", "vent.repo": "local:kibana",
		"vent.type": "repository", "vent.section": "ventapp-local:kibana:/:latest:HEAD",
	}
	if got := p.ImageLabels(); !reflect.DeepEqual(got, want) {
		t.Errorf("ImageLabels = %v, want %v", got, want)
	}
	if w := strings.Join(p.Warnings(), "\n"); !strings.Contains(w, "not supported by ventapp: links") {
		t.Errorf("Warnings = %q, want the links warning", w)
	}

	p.Groups = nil
	if got := p.ImageLabels()["vent.groups"]; got != "none" {
		t.Errorf("vent.groups without groups = %q, want none", got)
	}
}
