package plugins

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	git "github.com/go-git/go-git/v5"
)

// wantMasterTools are the tools of the fixture's master tip.
const wantMasterTools = "csv_row_broadcast,multi_eval@eval,multi_eval@unspecified,p0f,pcap_stats," +
	"pcap_to_node_pcap,rq_worker,snort,subtool,tcpdump_hex_parser,tcprewrite_dot1q"

func TestFetchRepoDefaultBranch(t *testing.T) {
	f := newGitFixture(t)
	data := t.TempDir()
	log, logs := logBuffer()
	var progress bytes.Buffer

	r, err := fetch(t, data, RepoOptions{URL: f.URL(), Logger: log, Progress: &progress})
	if err != nil {
		t.Fatal(err)
	}
	wantDir := filepath.Join(data, "plugins", "cyberreboot", "vent-plugins")
	if r.Dir != wantDir || r.Branch != "master" || r.Commit != f.second.String() || r.Updated {
		t.Errorf("repo = dir %s branch %s commit %s updated %v; want %s master %s false",
			r.Dir, r.Branch, r.Commit, r.Updated, wantDir, f.second)
	}
	if !slices.Equal(r.Branches, []string{"dev", "master"}) {
		t.Errorf("branches = %v", r.Branches)
	}

	tools, err := r.Tools()
	if err != nil {
		t.Fatal(err)
	}
	if got := toolNames(tools); got != wantMasterTools {
		t.Errorf("tools = %s\nwant    %s", got, wantMasterTools)
	}
	if len(r.Skipped) != 1 || r.Skipped[0].Path != "/notemplate" ||
		!strings.Contains(r.Skipped[0].Reason, "vent.template") {
		t.Errorf("skipped = %+v, want /notemplate for its missing vent.template", r.Skipped)
	}
	if !strings.Contains(logs.String(), "plugin tool skipped") {
		t.Errorf("the skipped folder was not logged:\n%s", logs.String())
	}

	byName := map[string]*Plugin{}
	for _, p := range tools {
		byName[p.Name] = p
		if p.Repo != "file://"+strings.ToLower(f.dir) || p.RepoURL != f.URL() || p.Branch != "master" ||
			p.Commit != f.second.String() {
			t.Errorf("%s: repo %q url %q branch %q commit %q", p.Name, p.Repo, p.RepoURL, p.Branch, p.Commit)
		}
	}
	for name, want := range map[string][2]string{
		"pcap_stats": {"cyberreboot/vent-plugins-pcap-stats:master", "/pcap_stats"},
		"csv_row_broadcast": {"cyberreboot/vent-plugins-extras-csv-csv-row-broadcast:master",
			"/extras/csv/csv_row_broadcast"},
		"multi_eval@eval":        {"cyberreboot/vent-plugins-multi-eval-eval:master", "/multi_eval"},
		"multi_eval@unspecified": {"cyberreboot/vent-plugins-multi-eval-unspecified:master", "/multi_eval"},
		"subtool":                {"cyberreboot/vent-plugins-vendor-sub-subtool:master", "/vendor/sub/subtool"},
	} {
		p := byName[name]
		if p == nil {
			t.Errorf("no tool %s", name)
			continue
		}
		if p.Image != want[0] || p.RelPath != want[1] {
			t.Errorf("%s: image %q relpath %q, want %q %q", name, p.Image, p.RelPath, want[0], want[1])
		}
	}
	if p := byName["multi_eval@eval"]; p != nil && (p.LinkName != "eval tool" ||
		filepath.Base(p.Dockerfile) != "Dockerfile.eval" || filepath.Base(p.TemplatePath) != "eval.template") {
		t.Errorf("multi_eval@eval: link %q dockerfile %s template %s", p.LinkName, p.Dockerfile, p.TemplatePath)
	}
	if p := byName["pcap_to_node_pcap"]; p != nil && (p.LinkName != "pcap node splitter" ||
		!slices.Equal(p.Settings.ProcessFromTool, []string{"tcprewrite dot1q"})) {
		t.Errorf("pcap_to_node_pcap settings: %+v", p.Settings)
	}

	// The tools register, and the manifest names the repository.
	dbPath := filepath.Join(data, "jobs.db")
	db := openDB(t, dbPath)
	reg := openRegistry(t, db, "")
	for _, p := range tools {
		if err := reg.Add(p); err != nil {
			t.Fatal(err)
		}
	}
	var manifest bytes.Buffer
	if err := reg.WriteManifest(&manifest); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(manifest.String(), "[cyberreboot:vent-plugins:/pcap_stats:") {
		t.Errorf("manifest lacks the pcap_stats section:\n%s", manifest.String())
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	reopened := openRegistry(t, openDB(t, dbPath), "")
	if p, err := reopened.Get("p0f"); err != nil || p.Commit != f.second.String() || p.RelPath != "/p0f" {
		t.Errorf("reopened p0f = %+v, %v", p, err)
	}
}

func TestFetchRepoBranchAndCommit(t *testing.T) {
	f := newGitFixture(t)

	cases := []struct {
		name       string
		branch     string
		commit     string
		wantCommit string
		wantTool   string // present
		wantNo     string // absent
		wantTag    string
	}{
		{"branch dev", "dev", "", f.dev.String(), "newtool", "", ":dev"},
		{"short commit on master", "", short(f.first), f.first.String(), "p0f", "snort", ":master"},
		{"full commit on dev", "dev", f.second.String(), f.second.String(), "snort", "newtool", ":dev"},
		{"upper-case commit", "master", strings.ToUpper(f.first.String()), f.first.String(), "p0f", "subtool",
			":master"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := fetch(t, t.TempDir(), RepoOptions{URL: f.URL(), Branch: tc.branch, Commit: tc.commit})
			if err != nil {
				t.Fatal(err)
			}
			if r.Commit != tc.wantCommit {
				t.Errorf("commit = %s, want %s", r.Commit, tc.wantCommit)
			}
			tools, err := r.Tools()
			if err != nil {
				t.Fatal(err)
			}
			names := strings.Split(toolNames(tools), ",")
			if !slices.Contains(names, tc.wantTool) || tc.wantNo != "" && slices.Contains(names, tc.wantNo) {
				t.Errorf("tools = %v; want %s and not %q", names, tc.wantTool, tc.wantNo)
			}
			for _, p := range tools {
				if !strings.HasSuffix(p.Image, tc.wantTag) || p.Commit != tc.wantCommit {
					t.Errorf("%s: image %s commit %s", p.Name, p.Image, p.Commit)
				}
			}
		})
	}
}

func TestFetchRepoUpdate(t *testing.T) {
	f := newGitFixture(t)
	data := t.TempDir()

	r, err := fetch(t, data, RepoOptions{URL: f.URL(), Commit: short(f.first)})
	if err != nil {
		t.Fatal(err)
	}
	// A local change in the clone is discarded by the update.
	readme := filepath.Join(r.Dir, "README.md")
	if err := os.WriteFile(readme, []byte("local edit\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	third := f.commitOnMaster(t, toolFilesFor("later_tool", "pcap_stats"), "later tool")
	r2, err := fetch(t, data, RepoOptions{URL: f.URL()})
	if err != nil {
		t.Fatal(err)
	}
	if !r2.Updated || r2.Commit != third.String() || r2.Dir != r.Dir {
		t.Errorf("update: updated %v commit %s dir %s; want true %s %s",
			r2.Updated, r2.Commit, r2.Dir, third, r.Dir)
	}
	if b, _ := os.ReadFile(readme); string(b) != "# plugins\n" {
		t.Errorf("README after update = %q", b)
	}
	tools, err := r2.Tools()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(toolNames(tools), "later_tool") || !strings.Contains(toolNames(tools), "subtool") {
		t.Errorf("tools after update = %s", toolNames(tools))
	}

	// Going back to an older commit works on the existing clone too.
	r3, err := fetch(t, data, RepoOptions{URL: f.URL(), Commit: f.first.String()})
	if err != nil || r3.Commit != f.first.String() {
		t.Fatalf("back to the first commit: %v, %+v", err, r3)
	}
	head, err := git.PlainOpen(r3.Dir)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := head.Head()
	if err != nil || ref.Hash() != f.first || ref.Name().Short() != "master" {
		t.Errorf("HEAD = %v, %v", ref, err)
	}
	if _, err := os.Stat(filepath.Join(r3.Dir, "snort")); !os.IsNotExist(err) {
		t.Errorf("snort folder still there at the first commit: %v", err)
	}
}

func TestRepoToolsSelection(t *testing.T) {
	f := newGitFixture(t)
	r, err := fetch(t, t.TempDir(), RepoOptions{URL: f.URL()})
	if err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name  string
		tools []string
		core  bool
		want  string
		err   error
	}{
		{"last component", []string{"P0F", " pcap_stats "}, false, "p0f,pcap_stats", nil},
		{"at suffix", []string{"@eval"}, false, "multi_eval@eval", nil},
		{"full multi name", []string{"multi_eval@unspecified"}, false, "multi_eval@unspecified", nil},
		{"folder of a multi tool", []string{"multi_eval"}, false, "multi_eval@eval,multi_eval@unspecified", nil},
		{"nested path", []string{"extras/csv/csv_row_broadcast"}, false, "csv_row_broadcast", nil},
		{"core", nil, true, "rq_worker", nil},
		{"core and a non-core name", []string{"p0f"}, true, "", ErrToolNotInRepo},
		{"unknown name", []string{"p0f", "nosuchtool"}, false, "", ErrToolNotInRepo},
		{"only a skipped folder", []string{"notemplate"}, false, "", ErrNoTools},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r.opts.Tools, r.opts.Core = tc.tools, tc.core
			tools, err := r.Tools()
			if !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if err != nil {
				if !strings.Contains(err.Error(), f.URL()) {
					t.Errorf("error does not name the URL: %v", err)
				}
				return
			}
			if got := toolNames(tools); got != tc.want {
				t.Errorf("tools = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestFetchRepoBadInput(t *testing.T) {
	f := newGitFixture(t)
	cases := []struct {
		name string
		o    RepoOptions
		err  error
		msg  string
	}{
		{"unsupported scheme", RepoOptions{URL: "ftp://example.org/org/repo"}, ErrRepoURL, "not supported"},
		{"no org", RepoOptions{URL: "https://example.org/repo.git"}, ErrRepoURL, "<org>/<repo>"},
		{"missing repository", RepoOptions{URL: "file://" + filepath.Join(f.base, "nobody", "nothing")},
			ErrRepoFetch, "nobody/nothing"},
		{"closed port", RepoOptions{URL: "http://127.0.0.1:" + itoa(freePort(t)) + "/org/repo.git"},
			ErrRepoFetch, "127.0.0.1"},
		{"missing branch", RepoOptions{URL: f.URL(), Branch: "nope"}, ErrBranchNotFound,
			"branch nope not found (branches: dev, master)"},
		{"branch option", RepoOptions{URL: f.URL(), Branch: "--upload-pack=x"}, ErrBranchNotFound,
			"not a valid branch name"},
		{"missing commit", RepoOptions{URL: f.URL(), Commit: "0123456789abcdef"}, ErrCommitNotFound,
			"commit 0123456789abcdef not found"},
		{"not a hash", RepoOptions{URL: f.URL(), Commit: "HEAD~1"}, ErrCommitNotFound, "not a commit hash"},
		{"commit on another branch", RepoOptions{URL: f.URL(), Commit: f.dev.String()}, ErrCommitNotInBranch,
			"commit " + f.dev.String() + " not in branch master"},
		{"traversal", RepoOptions{URL: "https://example.org/org/.."}, ErrRepoURL, "no '..'"},
		{"encoded traversal", RepoOptions{URL: "https://example.org/%2e%2e/%2E%2E"}, ErrRepoURL, "no '..'"},
		{"slash traversal", RepoOptions{URL: "file:///tmp/x/..%2f..%2fetc"}, ErrRepoURL, "no '..'"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			data := t.TempDir()
			_, err := fetch(t, data, RepoOptions{URL: tc.o.URL, Branch: tc.o.Branch, Commit: tc.o.Commit})
			if !errors.Is(err, tc.err) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("err = %v; want %v containing %q", err, tc.err, tc.msg)
			}
			// Nothing is left behind by a failed first clone.
			if entries, _ := os.ReadDir(filepath.Join(data, "plugins", "cyberreboot")); len(entries) != 0 {
				t.Errorf("a failed fetch left %v", entries)
			}
		})
	}
}

func TestFetchRepoConflict(t *testing.T) {
	f := newGitFixture(t)
	data := t.TempDir()
	if _, err := fetch(t, data, RepoOptions{URL: f.URL()}); err != nil {
		t.Fatal(err)
	}

	// Another repository with the same org/repo cannot reuse the clone.
	other := newGitFixture(t)
	_, err := fetch(t, data, RepoOptions{URL: other.URL()})
	if !errors.Is(err, ErrRepoConflict) || !strings.Contains(err.Error(), "holds a clone of") {
		t.Fatalf("err = %v, want ErrRepoConflict", err)
	}

	// A folder that is not a clone is not overwritten.
	junk := filepath.Join(data, "plugins", "someone", "junk")
	if err := os.MkdirAll(junk, 0o755); err != nil {
		t.Fatal(err)
	}
	fx := newGitFixture(t)
	renamed := filepath.Join(fx.base, "someone", "junk")
	if err := os.MkdirAll(filepath.Dir(renamed), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(fx.dir, renamed); err != nil {
		t.Fatal(err)
	}
	_, err = fetch(t, data, RepoOptions{URL: "file://" + renamed})
	if !errors.Is(err, ErrRepoConflict) || !strings.Contains(err.Error(), "not a usable clone") {
		t.Fatalf("err = %v, want ErrRepoConflict", err)
	}
}

func TestFetchRepoGitDaemon(t *testing.T) {
	f := newGitFixture(t)
	addr := startGitDaemon(t, f.base)

	url := "git://" + addr + "/cyberreboot/vent-plugins"
	r, err := fetch(t, t.TempDir(), RepoOptions{URL: url, Branch: "dev"})
	if err != nil {
		t.Fatal(err)
	}
	tools, err := r.Tools()
	if err != nil {
		t.Fatal(err)
	}
	if names := toolNames(tools); !strings.Contains(names, "newtool") || !strings.Contains(names, "subtool") {
		t.Errorf("tools over git:// = %s", names)
	}
	if tools[0].Repo != strings.ToLower(url) || r.Commit != f.dev.String() {
		t.Errorf("repo %s commit %s", tools[0].Repo, r.Commit)
	}

	_, err = fetch(t, t.TempDir(), RepoOptions{URL: "git://" + addr + "/cyberreboot/missing"})
	if !errors.Is(err, ErrRepoFetch) || !strings.Contains(err.Error(), "cyberreboot/missing") {
		t.Errorf("missing repo over git:// = %v", err)
	}
}

func TestFetchRepoCredentials(t *testing.T) {
	const secret = "s3cr3t-Pw%/@x"
	f := newGitFixture(t)
	root := f.bareCopy(t)
	srv := startGitHTTP(t, root, "alice", secret)
	repoURL := srv + "/cyberreboot/vent-plugins.git"
	withCreds := strings.Replace(repoURL, "http://", "http://alice:"+urlEscape(secret)+"@", 1)

	checkClean := func(t *testing.T, what, text string) {
		t.Helper()
		for _, s := range []string{secret, urlEscape(secret), "s3cr3t"} {
			if strings.Contains(text, s) {
				t.Errorf("%s holds the password (%q): %s", what, s, text)
			}
		}
	}

	failing := []struct {
		name string
		o    RepoOptions
	}{
		{"wrong password in URL", RepoOptions{URL: strings.Replace(withCreds, "alice", "bob", 1)}},
		{"no credentials", RepoOptions{URL: repoURL}},
		{"closed port, URL credentials", RepoOptions{
			URL: "http://alice:" + urlEscape(secret) + "@127.0.0.1:" + itoa(freePort(t)) + "/org/repo.git"}},
		{"closed port, Auth", RepoOptions{URL: "http://127.0.0.1:" + itoa(freePort(t)) + "/org/repo.git",
			Auth: Credentials{Username: "alice", Password: secret}}},
		{"bad URL with credentials", RepoOptions{URL: "http://alice:" + secret + "@host/%zz/x"}},
		{"missing branch", RepoOptions{URL: withCreds, Branch: "nope"}},
	}
	for _, tc := range failing {
		t.Run(tc.name, func(t *testing.T) {
			log, logs := logBuffer()
			tc.o.Logger = log
			_, err := fetch(t, t.TempDir(), tc.o)
			if err == nil {
				t.Fatal("fetch succeeded")
			}
			t.Logf("error: %v", err)
			checkClean(t, "error", err.Error())
			for e := errors.Unwrap(err); e != nil; e = errors.Unwrap(e) {
				checkClean(t, "wrapped error", e.Error())
			}
			if multi, ok := err.(interface{ Unwrap() []error }); ok {
				for _, e := range multi.Unwrap() {
					checkClean(t, "wrapped error", e.Error())
				}
			}
			checkClean(t, "log", logs.String())
		})
	}

	// The right credentials, in the URL or as Auth, clone; nothing stored
	// holds them.
	for name, o := range map[string]RepoOptions{
		"URL":  {URL: withCreds},
		"Auth": {URL: repoURL, Auth: Credentials{Username: "alice", Password: secret}},
	} {
		t.Run("clone with "+name, func(t *testing.T) {
			log, logs := logBuffer()
			var progress bytes.Buffer
			o.Logger, o.Progress = log, &progress
			data := t.TempDir()
			r, err := fetch(t, data, o)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(progress.String(), "objects") {
				t.Errorf("no clone progress shown: %q", progress.String())
			}
			tools, err := r.Tools()
			if err != nil {
				t.Fatal(err)
			}
			if toolNames(tools) != wantMasterTools {
				t.Errorf("tools = %s", toolNames(tools))
			}
			db := openDB(t, filepath.Join(data, "jobs.db"))
			reg := openRegistry(t, db, "")
			for _, p := range tools {
				if err := reg.Add(p); err != nil {
					t.Fatal(err)
				}
			}
			for _, file := range []string{db.Path(), filepath.Join(r.Dir, ".git", "config"),
				filepath.Join(r.Dir, ".git", "modules", "vendor", "sub", "config")} {
				b, err := os.ReadFile(file)
				if err != nil {
					t.Fatal(err)
				}
				checkClean(t, file, string(b))
			}
			checkClean(t, "log", logs.String())
			checkClean(t, "repo", r.URL+r.Canonical)

			// An update with the credentials works as well.
			if _, err := fetch(t, data, o); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestFetchRepoAuthError(t *testing.T) {
	const secret = "pw-Auth-9"
	f := newGitFixture(t)
	root := f.bareCopy(t)
	srv := startGitHTTP(t, root, "alice", secret)
	repoURL := srv + "/cyberreboot/vent-plugins.git"

	// Only the pack download asks for credentials: the clone step, not
	// the listing, meets the refusal.
	packOnly := startGitHTTPGuarded(t, root, "alice", secret, func(r *http.Request) bool {
		return r.Method == http.MethodPost
	})
	packURL := packOnly + "/cyberreboot/vent-plugins.git"

	cases := []struct {
		name     string
		o        RepoOptions
		wantAuth bool
	}{
		{"no credentials", RepoOptions{URL: repoURL}, true},
		{"wrong password", RepoOptions{URL: repoURL,
			Auth: Credentials{Username: "alice", Password: "nope"}}, true},
		{"wrong user in URL", RepoOptions{
			URL: strings.Replace(repoURL, "http://", "http://bob:x@", 1)}, true},
		{"refused at clone", RepoOptions{URL: packURL}, true},
		{"closed port", RepoOptions{URL: "http://127.0.0.1:" + itoa(freePort(t)) + "/org/repo.git",
			Auth: Credentials{Username: "alice", Password: secret}}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			data := t.TempDir()
			_, err := fetch(t, data, tc.o)
			if err == nil {
				t.Fatal("fetch succeeded")
			}
			if !errors.Is(err, ErrRepoFetch) {
				t.Errorf("error %v is not ErrRepoFetch", err)
			}
			if errors.Is(err, ErrRepoAuth) != tc.wantAuth {
				t.Errorf("errors.Is(%v, ErrRepoAuth) = %v, want %v", err, !tc.wantAuth, tc.wantAuth)
			}
			if tc.wantAuth && !strings.Contains(err.Error(), "/cyberreboot/vent-plugins.git") {
				t.Errorf("error does not name the URL: %v", err)
			}
			if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "bob:x") {
				t.Errorf("error holds credentials: %v", err)
			}
			clone := filepath.Join(data, "plugins", "cyberreboot", "vent-plugins")
			if _, serr := os.Stat(clone); serr == nil {
				t.Error("a failed clone left its folder")
			}
		})
	}

	// The right credentials pass both servers.
	for _, u := range []string{repoURL, packURL} {
		if _, err := fetch(t, t.TempDir(), RepoOptions{URL: u,
			Auth: Credentials{Username: "alice", Password: secret}}); err != nil {
			t.Errorf("%s with the right credentials: %v", u, err)
		}
	}
}

func TestCredentialsHidden(t *testing.T) {
	c := Credentials{Username: "alice", Password: "hunter2"}
	log, logs := logBuffer()
	log.Info("creds", "c", c)
	for _, s := range []string{c.String(), logs.String(), sprintf("%v %+v %#v %s", c, c, c, c)} {
		if strings.Contains(s, "hunter2") {
			t.Errorf("password shown: %s", s)
		}
	}

	t.Setenv(EnvGitUsername, "bob")
	t.Setenv(EnvGitPassword, "tok")
	if got := CredentialsFromEnv(); got != (Credentials{Username: "bob", Password: "tok"}) {
		t.Errorf("CredentialsFromEnv = %v", got)
	}
}

func TestFetchRepoCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := FetchRepo(ctx, t.TempDir(), RepoOptions{URL: "git://127.0.0.1:" + itoa(freePort(t)) + "/a/b"})
	if err == nil {
		t.Fatal("a canceled fetch succeeded")
	}
}

func TestRepoToolsNoTools(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "org", "empty")
	repo := initRepo(t, dir)
	commitFiles(t, repo, dir, map[string]string{"README.md": "nothing\n", "docs/Dockerfile-old": "x\n"}, "c")

	r, err := fetch(t, t.TempDir(), RepoOptions{URL: "file://" + dir})
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.Tools()
	if !errors.Is(err, ErrNoTools) || !strings.Contains(err.Error(), "/docs: ventapp reads only Dockerfile") {
		t.Fatalf("err = %v, want ErrNoTools naming /docs", err)
	}
}

func TestRepoToolsSymlinkOut(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "org", "links")
	repo := initRepo(t, dir)
	if err := os.MkdirAll(filepath.Join(dir, "evil"), 0o755); err != nil {
		t.Fatal(err)
	}
	out := strings.Repeat("../", 30) + "etc/hostname"
	if err := os.Symlink(out, filepath.Join(dir, "evil", "vent.template")); err != nil {
		t.Fatal(err)
	}
	wt, _ := repo.Worktree()
	if _, err := wt.Add("evil/vent.template"); err != nil {
		t.Fatal(err)
	}
	commitFiles(t, repo, dir, map[string]string{"evil/Dockerfile": "FROM scratch\n",
		"good/Dockerfile": "FROM scratch\n", "good/vent.template": "[info]\nname = good\n"}, "c")

	r, err := fetch(t, t.TempDir(), RepoOptions{URL: "file://" + dir})
	if err != nil {
		t.Fatal(err)
	}
	tools, err := r.Tools()
	if err != nil {
		t.Fatal(err)
	}
	if toolNames(tools) != "good" || len(r.Skipped) != 1 || r.Skipped[0].Path != "/evil" ||
		!strings.Contains(r.Skipped[0].Reason, "leading out of the repository") {
		t.Errorf("tools %s skipped %+v", toolNames(tools), r.Skipped)
	}
}

func TestSubmoduleAuth(t *testing.T) {
	main, err := ParseRepoURL("https://git.example.org/org/repo.git")
	if err != nil {
		t.Fatal(err)
	}
	f := &fetcher{u: main, auth: authMethod("https", Credentials{Username: "a", Password: "b"})}
	cases := []struct {
		url      string
		wantAuth bool
		wantErr  bool
	}{
		{"../other.git", true, false},
		{"./inner", true, false},
		{"https://GIT.example.org/x/y.git", true, false},
		{"https://elsewhere.example.com/x/y.git", false, false},
		{"http://git.example.org/x/y.git", false, false},
		{"file:///etc/x/y", false, true},
		{"/srv/git/x/y", false, true},
		{"ftp://h/x/y", false, true},
	}
	for _, tc := range cases {
		auth, err := f.submoduleAuth(tc.url)
		if (err != nil) != tc.wantErr || (auth != nil) != tc.wantAuth {
			t.Errorf("submoduleAuth(%q) = %v, %v; want auth %v, error %v", tc.url, auth, err, tc.wantAuth,
				tc.wantErr)
		}
	}

	// A local repository may use local submodules.
	local := &fetcher{u: RepoURL{Scheme: "file"}}
	if _, err := local.submoduleAuth("file:///srv/git/x/y"); err != nil {
		t.Errorf("local submodule of a local repository: %v", err)
	}
}
