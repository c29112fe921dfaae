package plugins

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseStartup(t *testing.T) {
	text := `vent.cfg:
  build-options:
    use_existing_images: yes
https://github.com/CyberReboot/Vent-Plugins:
  PCAP_Stats:
    Build: yes
    start: Yes
    image: acme/pcap-stats:v1
    settings:
      instances: 2
      ext_types: [pcap, pcapng]
    docker:
      environment: [A=1]
      privileged: false
  "@eval":
https://example.org/acme/other:
  tool:
    branch: dev
    version: 0123abc
`
	s, err := ParseStartup("st.yml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	if len(s.VentCfg) != 1 || s.VentCfg[0] != (CfgValue{"build-options", "use_existing_images", "yes", 3}) {
		t.Errorf("vent.cfg: %+v", s.VentCfg)
	}
	if len(s.Repos) != 2 {
		t.Fatalf("repos: %+v", s.Repos)
	}
	r := s.Repos[0]
	if r.URL != "https://github.com/CyberReboot/Vent-Plugins" || r.Line != 4 || len(r.Tools) != 2 {
		t.Fatalf("repo 0: %+v", r)
	}
	tool := r.Tools[0]
	if tool.Name != "pcap_stats" || !tool.Start || !tool.Build || tool.Image != "acme/pcap-stats:v1" {
		t.Errorf("tool: %+v", tool)
	}
	want := map[string]map[string]string{
		"settings": {"instances": "2", "ext_types": "pcap,pcapng"},
		"docker":   {"environment": "['A=1']", "privileged": "False"},
	}
	for sec, kv := range want {
		for k, v := range kv {
			if got := tool.Overrides[sec][k]; got != v {
				t.Errorf("[%s] %s = %q, want %q", sec, k, got, v)
			}
		}
	}
	if r.Tools[1].Name != "@eval" || r.Tools[1].Start {
		t.Errorf("tool 2: %+v", r.Tools[1])
	}
	if o := s.Repos[1]; o.Branch != "dev" || o.Version != "0123abc" {
		t.Errorf("repo 1: %+v", o)
	}
}

func TestParseStartupErrors(t *testing.T) {
	tests := []struct {
		name, text string
		line       int
		want       string
	}{
		{"bad yaml", "a:\n  b: [\n", 2, "not valid YAML"},
		{"not a mapping", "- a\n- b\n", 1, "must be a mapping"},
		{"vent.cfg not bool", "vent.cfg:\n  main:\n    files: /tmp/x\n", 3,
			`must be yes or no (a boolean), not "/tmp/x"`},
		{"vent.cfg quoted bool", "vent.cfg:\n  a:\n    b: \"yes\"\n", 3, "must be yes or no"},
		{"start not bool", "https://h/o/r:\n  t:\n    start: maybe\n", 3, "tool t: start: must be yes or no"},
		{"unknown option", "https://h/o/r:\n  t:\n    colour: red\n", 3, `unknown option "colour"`},
		{"repeated tool", "https://h/o/r:\n  t:\n  T:\n", 3, `"T" is already given on line 2`},
		{"no tools", "https://h/o/r:\n", 1, "must list its tools"},
		{"bad url", "not a url:\n  t:\n", 1, ""},
		{"map in settings", "https://h/o/r:\n  t:\n    settings:\n      x: {a: 1}\n", 4, "[settings] x"},
		{"bad image", "https://h/o/r:\n  t:\n    image: Not Valid\n", 3, "not an image reference"},
		{"two branches", "https://h/o/r:\n  a:\n    branch: x\n  b:\n    branch: y\n", 4, "share branch"},
		{"two documents", "a: {}\n---\nb: {}\n", 3, "second YAML document"},
		{"alias", "x: &a {t: }\nhttps://h/o/r: *a\n", 2, "aliases"},
		{"multi-line value", "https://h/o/r:\n  t:\n    info:\n      name: \"a\\nb\"\n", 4, "one line"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseStartup("/home/u/.vent_startup.yml", []byte(tt.text))
			var se *StartupError
			if !errors.As(err, &se) || !errors.Is(err, ErrStartup) {
				t.Fatalf("error %v is not a StartupError", err)
			}
			if se.File != "/home/u/.vent_startup.yml" || se.Line != tt.line ||
				!strings.Contains(se.Problem, tt.want) {
				t.Errorf("got %v; want line %d with %q", err, tt.line, tt.want)
			}
		})
	}
}

func TestParseStartupEmpty(t *testing.T) {
	for _, text := range []string{"", "\n# nothing\n", "~\n"} {
		s, err := ParseStartup("x", []byte(text))
		if err != nil || len(s.Repos) != 0 || len(s.VentCfg) != 0 {
			t.Errorf("%q: %+v, %v", text, s, err)
		}
	}
}

func TestStartupApply(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pcap_stats")
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "vent.template"), []byte(
		"# a comment\n[info]\nname = Pcap Stats\n[settings]\next_types = pcap\ninstances = 1\n"), 0o644)
	ps, err := LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	p := ps[0]
	p.RelPath = "/pcap_stats"

	s, err := ParseStartup("st", []byte("https://h/o/r:\n  pcap_stats:\n    info:\n      groups: [a, b]\n"+
		"    settings:\n      instances: 3\n    image: o/r-x:dev\n"))
	if err != nil {
		t.Fatal(err)
	}
	st := s.Repos[0].Tools[0]
	if !st.Selects(p, "r") {
		t.Fatal("entry does not select its tool")
	}
	if err := st.Apply(p, "st"); err != nil {
		t.Fatal(err)
	}
	if p.Settings.Instances != 3 || p.Settings.ExtTypes[0] != "pcap" || p.LinkName != "Pcap Stats" ||
		strings.Join(p.Groups, ",") != "a,b" || p.Image != "o/r-x:dev" {
		t.Errorf("applied: instances %d ext %v link %q groups %v image %s",
			p.Settings.Instances, p.Settings.ExtTypes, p.LinkName, p.Groups, p.Image)
	}

	bad, _ := ParseStartup("st", []byte(
		"https://h/o/r:\n  pcap_stats:\n    settings:\n      instances: many\n"))
	before := p.Template
	if err := bad.Repos[0].Tools[0].Apply(p, "st"); err == nil || !strings.Contains(err.Error(), "st:2") {
		t.Errorf("bad override: %v", err)
	}
	if p.Template != before {
		t.Error("a refused override changed the tool")
	}

	other := StartupTool{Name: "@eval"}
	if other.Selects(p, "r") {
		t.Error("@eval selects a single-Dockerfile tool")
	}
}

func TestPluginConfigFill(t *testing.T) {
	pc, err := ParsePluginConfig("pc.yml", []byte(
		"pcap_stats:\n  main:\n    level: 3\n    mode: fast\n  out:\n    dir: /x\nother:\n  s:\n    k: v\n"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "pcap_stats.config")
	os.WriteFile(path, []byte("# keep me\n[main]\nlevel = 1\nkeep = yes\n"), 0o600)

	env := map[string]string{"mode": "slow"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	changed, err := pc.Fill("pcap_stats", path, lookup)
	if err != nil || !changed {
		t.Fatalf("fill: %v %v", changed, err)
	}
	data, _ := os.ReadFile(path)
	for _, want := range []string{
		"# keep me", "level = 3", "keep  = yes", "mode  = slow", "[out]", "dir = /x",
	} {
		if !strings.Contains(string(data), want) {
			t.Errorf("config lacks %q:\n%s", want, data)
		}
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", fi.Mode())
	}
	if changed, err := pc.Fill("pcap_stats", path, lookup); err != nil || changed {
		t.Errorf("second fill: %v %v", changed, err)
	}
	if changed, err := pc.Fill("absent", path, nil); err != nil || changed {
		t.Errorf("unknown folder: %v %v", changed, err)
	}

	for _, bad := range []struct {
		text string
		line int
	}{
		{"t: [a]\n", 1},
		{"t:\n  s:\n    k: [1, 2]\n", 3},
		{"t:\n  s: x\n", 2},
	} {
		_, err := ParsePluginConfig("pc.yml", []byte(bad.text))
		var se *StartupError
		if !errors.As(err, &se) || se.Line != bad.line || se.File != "pc.yml" {
			t.Errorf("%q: %v", bad.text, err)
		}
	}
}

func FuzzParseStartup(f *testing.F) {
	f.Add([]byte("vent.cfg:\n  a:\n    b: yes\nhttps://h/o/r:\n  t:\n    start: yes\n    settings:\n" +
		"      instances: 2\n    docker:\n      environment: [A=1]\n"))
	f.Add([]byte("https://h/o/r:\n  '@x':\n    info: {name: x}\n"))
	f.Add([]byte("a: &x [1]\nb: *x\n"))
	f.Add([]byte("t:\n  s:\n    k: 1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, parse := range []func() error{
			func() error { _, err := ParseStartup("f", data); return err },
			func() error { _, err := ParsePluginConfig("f", data); return err },
		} {
			err := parse()
			if err != nil && !errors.Is(err, ErrStartup) {
				t.Fatalf("error %v is not ErrStartup", err)
			}
		}
		s, err := ParseStartup("f", data)
		if err != nil {
			return
		}
		for _, r := range s.Repos {
			for _, tool := range r.Tools {
				for sec, kv := range tool.Overrides {
					for k, v := range kv {
						if strings.ContainsAny(v, "\n\r") || strings.ContainsAny(k, "=[]\n") {
							t.Fatalf("[%s] %q = %q cannot be written to a template", sec, k, v)
						}
					}
				}
			}
		}
	})
}
