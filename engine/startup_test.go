package engine

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ventapp/ventapp/plugins"
)

// gitRepo writes files (path → content) under dir and commits them on the
// branch main.
func gitRepo(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("skipping: git is not installed")
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, args := range [][]string{
		{"init", "-q", "-b", "main"},
		{"add", "."},
		{"-c", "user.email=t@example.org", "-c", "user.name=t", "commit", "-q", "-m", "tools"},
	} {
		cmd := exec.Command("git", append([]string{"-C", dir}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
}

// TestStartupFile starts a daemon with a startup file and a plugin config
// file: the listed tools are installed from git with their overrides, the
// plugin config is written into the tool's config file before the build,
// and the service marked start: yes runs with the instances it was given.
func TestStartupFile(t *testing.T) {
	home := t.TempDir()
	repo := filepath.Join(t.TempDir(), "acme", "Startup-Plugins")
	gitRepo(t, repo, map[string]string{
		"svc/Dockerfile": "FROM " + baseImage + "\nCOPY config/svc.config /svc.config\n" +
			"CMD [\"/bin/sh\", \"-c\", \"while true; do sleep 1; done\"]\n",
		"svc/vent.template":      "[info]\nname = Svc\n[settings]\ninstances = 1\n",
		"svc/config/svc.config":  "[main]\nlevel = 1\n",
		"files/fa/Dockerfile":    "FROM " + baseImage + "\nCMD [\"cat\"]\n",
		"files/fa/vent.template": "[info]\nname = FA\n[settings]\next_types = .fa\n",
		"unused/Dockerfile":      "FROM " + baseImage + "\n",
		"unused/vent.template":   "[info]\nname = unused\n",
	})
	startup := filepath.Join(home, "startup.yml")
	os.WriteFile(startup, []byte(`vent.cfg:
  build-options:
    use_existing_images: no
file://`+repo+`:
  SVC:
    start: yes
    settings:
      instances: 2
  fa:
    start: yes
    info:
      groups: [pcap, files]
`), 0o644)
	pc := filepath.Join(home, "pc.yml")
	os.WriteFile(pc, []byte("svc:\n  main:\n    level: 7\n"), 0o644)

	te := startEngine(t, "[main]\nstartup_file = "+startup+"\nplugin_config_file = "+pc+"\n")

	var svcs []ServiceInfo
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		svcs, _ = te.Services(context.Background())
		if len(svcs) == 2 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if len(svcs) != 2 || svcs[0].Tool != "svc" || svcs[0].Name != "Svc" {
		t.Fatalf("services: %+v", svcs)
	}

	fa, err := te.Registry().Get("fa")
	if err != nil || !fa.Built || strings.Join(fa.Groups, ",") != "pcap,files" {
		t.Fatalf("fa: %+v %v", fa, err)
	}
	if _, err := te.Registry().Get("unused"); err == nil {
		t.Error("a tool the startup file does not list was installed")
	}
	svc, _ := te.Registry().Get("svc")
	data, _ := os.ReadFile(filepath.Join(svc.Dir, "config", "svc.config"))
	if !strings.Contains(string(data), "level = 7") {
		t.Errorf("svc.config not filled:\n%s", data)
	}
	if raw, _ := os.ReadFile(startup); !strings.Contains(string(raw), "SVC:") {
		t.Error("the startup file was rewritten")
	}

	// The applied file is recorded; the same content is not applied again.
	deadline = time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(filepath.Join(te.Config().DataDir, startupStateFile)); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := os.Stat(filepath.Join(te.Config().DataDir, startupStateFile)); err != nil {
		t.Errorf("startup not recorded: %v", err)
	}

	// A startup file with a bad value is refused before anything happens,
	// naming the file and line.
	bad, err := plugins.ParseStartup(startup, []byte("vent.cfg:\n  main:\n    files: /x\n"))
	if err == nil || !strings.Contains(err.Error(), startup+":3:") {
		t.Errorf("bad vent.cfg value: %+v %v", bad, err)
	}
}
