package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDefaults(t *testing.T) {
	c, err := Load("", "")
	if err != nil {
		t.Fatal(err)
	}

	checks := []struct {
		name      string
		got, want any
	}{
		{"files", c.Files, "/opt/vent_files"},
		{"data dir", c.DataDir, "/var/lib/ventapp"},
		{"socket", c.Socket, "/var/lib/ventapp/ventapp.sock"},
		{"containerd", c.ContainerdAddress, "/run/containerd/containerd.sock"},
		{"namespace", c.ContainerdNamespace, "ventapp"},
		{"workers", c.Workers, 2},
		{"timeout", c.JobTimeout, time.Hour},
		{"quiet", c.QuietPeriod, 2 * time.Second},
		{"use existing", c.UseExistingImages, false},
		{"warnings", len(c.Warnings), 0},
	}
	for _, tc := range checks {
		if tc.got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, tc.got, tc.want)
		}
	}
}

func TestLoadFile(t *testing.T) {
	tests := []struct {
		name    string
		text    string
		dataDir string
		check   func(t *testing.T, c *Config)
		wantErr error
		errText string
	}{
		{
			name: "vent keys and overrides",
			text: "[main]\nfiles = /srv/drop\n[jobs]\nworkers = 4\ntimeout = 90s\n",
			check: func(t *testing.T, c *Config) {
				if c.Files != "/srv/drop" || c.Workers != 4 || c.JobTimeout != 90*time.Second {
					t.Errorf("got files=%s workers=%d timeout=%s", c.Files, c.Workers, c.JobTimeout)
				}
			},
		},
		{
			name:    "data dir flag wins and moves the socket",
			text:    "[ventapp]\ndata_dir = /nowhere\n",
			dataDir: "/tmp/vd",
			check: func(t *testing.T, c *Config) {
				if c.DataDir != "/tmp/vd" || c.Socket != "/tmp/vd/ventapp.sock" {
					t.Errorf("got data dir %s socket %s", c.DataDir, c.Socket)
				}
			},
		},
		{
			name: "unknown keys and sections are warnings",
			text: "[main]\nfiles = /x\ncolour = blue\n[mystery]\na = b\n[network-mapping]\nnic1 = eth1\n",
			check: func(t *testing.T, c *Config) {
				if len(c.Warnings) != 2 {
					t.Fatalf("got warnings %q, want 2", c.Warnings)
				}
				if got := c.File.Section("network-mapping").Key("nic1").String(); got != "eth1" {
					t.Errorf("vent section lost: nic1 = %q", got)
				}
			},
		},
		{
			name: "relative paths are relative to the file",
			text: "[main]\nfiles = drop\n",
			check: func(t *testing.T, c *Config) {
				if c.Files != filepath.Join(filepath.Dir(c.Path), "drop") {
					t.Errorf("got files %s", c.Files)
				}
			},
		},
		{
			name: "tap netns by name and by path",
			text: "[taps]\nnetns = sensor\n",
			check: func(t *testing.T, c *Config) {
				if c.TapNetns != "/run/netns/sensor" {
					t.Errorf("got tap netns %q", c.TapNetns)
				}
			},
		},
		{
			name: "tap netns as a proc path",
			text: "[taps]\nnetns = /proc/1/ns/net\n",
			check: func(t *testing.T, c *Config) {
				if c.TapNetns != "/proc/1/ns/net" {
					t.Errorf("got tap netns %q", c.TapNetns)
				}
			},
		},
		{name: "relative tap netns", text: "[taps]\nnetns = a/b\n", wantErr: ErrValue, errText: "netns"},
		{name: "tap netns climbing out", text: "[taps]\nnetns = /run/netns/../x\n", wantErr: ErrValue, errText: "netns"},
		{name: "syntax error names the line", text: "[main]\nfiles = /x\nthis is not ini\n", wantErr: ErrSyntax, errText: ":3:"},
		{name: "bad section header", text: "[main\n", wantErr: ErrSyntax, errText: ":1:"},
		{name: "bad number", text: "[jobs]\nworkers = many\n", wantErr: ErrValue, errText: "workers"},
		{name: "zero workers", text: "[jobs]\nworkers = 0\n", wantErr: ErrValue, errText: "workers"},
		{name: "bad duration", text: "[jobs]\ntimeout = forever\n", wantErr: ErrValue, errText: "timeout"},
		{name: "bad bool", text: "[build-options]\nuse_existing_images = maybe\n", wantErr: ErrValue},
		{name: "bad level", text: "[ventapp]\nlog_level = loud\n", wantErr: ErrValue},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "vent.cfg")
			if err := os.WriteFile(path, []byte(tc.text), 0o600); err != nil {
				t.Fatal(err)
			}

			c, err := Load(path, tc.dataDir)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("got error %v, want %v", err, tc.wantErr)
				}
				if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tc.errText) {
					t.Errorf("error %q should name %s and %q", err, path, tc.errText)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, c)
		})
	}
}

func TestLoadLenient(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vent.cfg")
	os.WriteFile(path, []byte("[jobs]\nworkers = none\n[api]\nsocket = /run/x.sock\n"), 0o600)

	if _, err := Load(path, ""); !errors.Is(err, ErrValue) {
		t.Fatalf("Load: got %v, want ErrValue", err)
	}
	c, err := LoadLenient(path, "")
	if err != nil {
		t.Fatalf("LoadLenient: %v", err)
	}
	if c.Socket != "/run/x.sock" || len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], "workers") {
		t.Errorf("got socket %s, warnings %q", c.Socket, c.Warnings)
	}

	// Syntax errors stop Load but not LoadLenient: the broken lines are
	// ignored (a broken header with the keys under it) and named.
	os.WriteFile(path, []byte("[api]\nsocket = /run/y.sock\nthis is not ini\n[broken\nsocket = /elsewhere.sock\n"), 0o600)
	if _, err := Load(path, ""); !errors.Is(err, ErrSyntax) {
		t.Errorf("Load with a syntax error: got %v", err)
	}
	c, err = LoadLenient(path, "")
	if err != nil {
		t.Fatalf("LoadLenient with syntax errors: %v", err)
	}
	if c.Socket != "/run/y.sock" || len(c.Warnings) < 2 ||
		!strings.Contains(c.Warnings[0], ":3:") || !strings.Contains(c.Warnings[1], ":4:") {
		t.Errorf("got socket %s, warnings %q", c.Socket, c.Warnings)
	}
}

func TestLocate(t *testing.T) {
	dir := t.TempDir()

	if _, err := Locate(filepath.Join(dir, "missing.cfg"), ""); err == nil {
		t.Error("missing explicit config: got no error")
	}

	got, err := Locate("", dir)
	if err != nil || got != "" {
		t.Errorf("empty data dir: got %q, %v; want no file", got, err)
	}

	p := filepath.Join(dir, ConfigFileName)
	os.WriteFile(p, []byte("[main]\nfiles = /x\n"), 0o600)
	got, err = Locate("", dir)
	if err != nil || got != p {
		t.Errorf("data dir with vent.cfg: got %q, %v; want %s", got, err, p)
	}
}

func FuzzLoad(f *testing.F) {
	f.Add([]byte(Default()))
	f.Add([]byte("[main]\nfiles=/x\n"))
	f.Add([]byte("[jobs\nworkers=="))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "vent.cfg")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := Load(path, "")
		if err == nil && (c.Workers < 1 || c.Files == "") {
			t.Fatalf("accepted a config with workers=%d files=%q", c.Workers, c.Files)
		}
	})
}
