package main

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ventapp/ventapp/internal/ctrdtest"
	"github.com/ventapp/ventapp/internal/gittest"
	"github.com/ventapp/ventapp/plugins"
)

// gitHTTPRepo makes a bare repository root/org/tools.git holding one tool,
// hello (a FROM scratch image with one file), and serves root with git
// http-backend behind basic auth (user, pass) on 127.0.0.1. It returns
// the repository's URL, or skips the test when git http-backend is not
// installed.
func gitHTTPRepo(t *testing.T, user, pass string) string {
	t.Helper()
	work, root := t.TempDir(), t.TempDir()
	files := map[string]string{
		"hello/Dockerfile":    "FROM scratch\nCOPY hello.txt /hello.txt\n",
		"hello/hello.txt":     "hello from a private plugin repository\n",
		"hello/vent.template": "[info]\nname = hello\ngroups = text\n\n[settings]\next_types = txt\n",
	}
	for name, text := range files {
		p := filepath.Join(work, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	gittest.Run(t, work, "init", "-q")
	gittest.Run(t, work, "add", ".")
	gittest.Run(t, work, "commit", "-q", "-m", "hello tool")
	gittest.Run(t, root, "clone", "-q", "--bare", work, filepath.Join(root, "org", "tools.git"))

	url := gittest.ServeHTTP(t, root, user, pass, nil)
	return url + "/org/tools.git"
}

// runStdin executes a client command with stdin as its standard input.
func (a *appliance) runStdin(stdin string, args ...string) (stdout, stderr string, err error) {
	cmd := exec.Command(a.bin, append([]string{"--config", a.config}, args...)...)
	var o, e bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = strings.NewReader(stdin), &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

func TestEndToEndGitCredentials(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping end-to-end test in -short mode")
	}
	const (
		user   = "plugin-reader"
		secret = "E2e-Pw_4kq9Z"
		bad    = "Wrong-Pw_77x"
	)
	d := ctrdtest.Start(t)
	repoURL := gitHTTPRepo(t, user, secret)
	t.Setenv(plugins.EnvGitUsername, "")
	t.Setenv(plugins.EnvGitPassword, "")
	bin, _ := buildBinaries(t)
	a := newAppliance(t, bin, d)
	a.start()

	var shown strings.Builder // every byte the CLI printed
	notInstalled := func(t *testing.T) {
		t.Helper()
		if list := a.mustRun("plugins", "list"); strings.Contains(list, "hello") {
			t.Errorf("a tool was registered after a failed add:\n%s", list)
		}
		clone := filepath.Join(filepath.Dir(a.config), "data", "plugins", "org", "tools")
		if _, err := os.Stat(clone); err == nil {
			t.Errorf("a failed add left the clone %s", clone)
		}
	}

	badURL := strings.Replace(repoURL, "://", "://"+user+":"+bad+"@", 1)
	failing := []struct {
		name    string
		stdin   string
		args    []string
		wantErr []string
	}{
		{"no credentials, stdin not a terminal", "", nil, []string{"credentials", plugins.EnvGitUsername,
			plugins.EnvGitPassword, "--credentials-stdin", "terminal"}},
		{"wrong password on stdin", user + "\n" + bad + "\n", []string{"--credentials-stdin"},
			[]string{"credentials", "refused the credentials read from stdin"}},
		{"wrong password in the URL", "", []string{badURL},
			[]string{"credentials", "refused the credentials in the URL"}},
	}
	for _, tc := range failing {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"plugins", "add"}, tc.args...)
			if len(tc.args) == 0 || tc.args[0] == "--credentials-stdin" {
				args = append(args, repoURL)
			}
			out, errOut, err := a.runStdin(tc.stdin, args...)
			shown.WriteString(out + errOut)
			t.Logf("stderr:\n%s", errOut)
			if err == nil {
				t.Fatalf("plugins add succeeded:\n%s%s", out, errOut)
			}
			for _, s := range tc.wantErr {
				if !strings.Contains(errOut, s) {
					t.Errorf("stderr does not mention %q:\n%s", s, errOut)
				}
			}
			if !strings.Contains(errOut, "127.0.0.1") {
				t.Errorf("stderr does not name the repository:\n%s", errOut)
			}
			notInstalled(t)
		})
	}

	out, errOut, err := a.runStdin(user+"\n"+secret+"\n", "plugins", "add", "--credentials-stdin", repoURL)
	shown.WriteString(out + errOut)
	if err != nil {
		t.Fatalf("plugins add --credentials-stdin: %v\nstdout: %s\nstderr: %s", err, out, errOut)
	}
	if !strings.Contains(out, "hello\tadded and built") {
		t.Fatalf("plugins add did not build hello:\n%s", out)
	}
	if list := a.mustRun("plugins", "list"); !strings.Contains(list, "hello") {
		t.Errorf("hello is not listed:\n%s", list)
	}
	shown.WriteString(a.mustRun("plugins", "list", "--json"))

	// The passwords appear in no output and in no file of the appliance:
	// the log, the job store, the index, the clone.
	for _, pw := range []string{secret, bad} {
		if strings.Contains(shown.String(), pw) {
			t.Errorf("the CLI printed the password %q:\n%s", pw, shown.String())
		}
	}
	checked := map[string]bool{}
	err = filepath.WalkDir(filepath.Dir(a.config), func(path string, e fs.DirEntry, err error) error {
		if err != nil || !e.Type().IsRegular() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, pw := range []string{secret, bad} {
			if bytes.Contains(data, []byte(pw)) {
				t.Errorf("%s holds the password %q", path, pw)
			}
		}
		switch {
		case path == a.log:
			checked["daemon log"] = true
		case strings.HasSuffix(path, filepath.Join("org", "tools", ".git", "config")):
			checked["clone's .git/config"] = true
		case strings.HasSuffix(path, ".db"):
			checked["bbolt file"] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, what := range []string{"daemon log", "clone's .git/config", "bbolt file"} {
		if !checked[what] {
			t.Errorf("the %s was not found, so not checked", what)
		}
	}
}
