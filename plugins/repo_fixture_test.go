package plugins

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/format/index"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/ventapp/ventapp/internal/gittest"
)

// gitFixture is an upstream repository laid out like CyberReboot's
// vent-plugins, made with go-git under base/cyberreboot/vent-plugins, with
// a submodule repository at base/cyberreboot/sub.
type gitFixture struct {
	base string // the folder git daemon and the HTTP server export
	dir  string // the upstream working repository
	repo *git.Repository

	first, second plumbing.Hash // the commits on master
	dev           plumbing.Hash // the tip of branch dev
}

// URL returns the file:// URL of the upstream repository.
func (f *gitFixture) URL() string { return "file://" + f.dir }

// fixtureSig is the author of every fixture commit.
var fixtureSig = &object.Signature{Name: "ventapp test", Email: "test@ventapp.invalid",
	When: time.Date(2019, 12, 1, 0, 0, 0, 0, time.UTC)}

// toolFiles returns a Dockerfile and the template of a real vent-plugins
// tool under folder.
func toolFilesFor(folder, tool string) map[string]string {
	return map[string]string{
		folder + "/Dockerfile":    "FROM scratch\nCOPY . /" + tool + "\n",
		folder + "/vent.template": realTemplateText(tool),
	}
}

// realTemplateText returns the fixture template of the named tool.
func realTemplateText(dir string) string {
	for _, rt := range realTemplates {
		if rt.dir == dir {
			return rt.text
		}
	}
	panic("no fixture template " + dir)
}

// newGitFixture builds the fixture:
//
//	master, commit 1: tcprewrite_dot1q, pcap_to_node_pcap, p0f,
//	    tcpdump_hex_parser, pcap_stats, README.md
//	master, commit 2: + snort, extras/csv/csv_row_broadcast (nested),
//	    core/rq_worker, multi_eval (Dockerfile + Dockerfile.eval with
//	    eval.template and vent.template), notemplate (Dockerfile only),
//	    vendor/sub (a submodule holding subtool)
//	dev (from commit 2): + dev/newtool
//
// The remote HEAD is master.
func newGitFixture(t testing.TB) *gitFixture {
	t.Helper()
	base := t.TempDir()
	f := &gitFixture{base: base, dir: filepath.Join(base, "cyberreboot", "vent-plugins")}

	subDir := filepath.Join(base, "cyberreboot", "sub")
	sub := initRepo(t, subDir)
	subHead := commitFiles(t, sub, subDir, toolFilesFor("subtool", "snort"), "sub tool")

	f.repo = initRepo(t, f.dir)
	files := map[string]string{"README.md": "# plugins\n"}
	for _, tool := range []string{"tcprewrite_dot1q", "pcap_to_node_pcap", "p0f", "tcpdump_hex_parser",
		"pcap_stats"} {
		for k, v := range toolFilesFor(tool, tool) {
			files[k] = v
		}
	}
	f.first = commitFiles(t, f.repo, f.dir, files, "first tools")

	files = map[string]string{
		"multi_eval/Dockerfile":      "FROM scratch\n",
		"multi_eval/Dockerfile.eval": "FROM scratch\nLABEL eval=1\n",
		"multi_eval/eval.template":   "[info]\nname = eval tool\ngroups = pcap\n\n[settings]\next_types = eval\n",
		"multi_eval/vent.template":   "[info]\nname = multi default\n\n[settings]\next_types = pcap\n",
		"notemplate/Dockerfile":      "FROM scratch\n",
		".gitmodules":                "[submodule \"vendor/sub\"]\n\tpath = vendor/sub\n\turl = ../sub\n",
	}
	for tool, folder := range map[string]string{
		"snort": "snort", "csv_row_broadcast": "extras/csv/csv_row_broadcast", "rq_worker": "core/rq_worker",
	} {
		for k, v := range toolFilesFor(folder, tool) {
			files[k] = v
		}
	}
	addGitlink(t, f.repo, "vendor/sub", subHead)
	f.second = commitFiles(t, f.repo, f.dir, files, "more tools")

	f.dev = f.commitOnBranch(t, "dev", toolFilesFor("dev/newtool", "snort"), "dev tool")
	return f
}

// initRepo creates a non-bare repository with master as HEAD.
func initRepo(t testing.TB, dir string) *git.Repository {
	t.Helper()
	repo, err := git.PlainInitWithOptions(dir, &git.PlainInitOptions{
		InitOptions: git.InitOptions{DefaultBranch: plumbing.Master},
	})
	if err != nil {
		t.Fatal(err)
	}
	return repo
}

// commitFiles writes files (slash path → text) into the worktree of repo
// at dir, stages them and commits.
func commitFiles(t testing.TB, repo *git.Repository, dir string, files map[string]string,
	msg string) plumbing.Hash {
	t.Helper()
	wt, err := repo.Worktree()
	if err != nil {
		t.Fatal(err)
	}
	for name, text := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := wt.Add(name); err != nil {
			t.Fatalf("git add %s: %v", name, err)
		}
	}
	h, err := wt.Commit(msg, &git.CommitOptions{Author: fixtureSig, Committer: fixtureSig})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// addGitlink stages a submodule entry at path pointing at commit.
func addGitlink(t testing.TB, repo *git.Repository, path string, commit plumbing.Hash) {
	t.Helper()
	idx, err := repo.Storer.Index()
	if err != nil {
		t.Fatal(err)
	}
	idx.Entries = append(idx.Entries, &index.Entry{Name: path, Mode: filemode.Submodule, Hash: commit})
	if err := repo.Storer.SetIndex(idx); err != nil {
		t.Fatal(err)
	}
}

// commitOnBranch creates branch from HEAD, commits files on it and goes
// back to master.
func (f *gitFixture) commitOnBranch(t testing.TB, branch string, files map[string]string,
	msg string) plumbing.Hash {
	t.Helper()
	wt, err := f.repo.Worktree()
	if err != nil {
		t.Fatal(err)
	}
	ref := plumbing.NewBranchReferenceName(branch)
	if err := wt.Checkout(&git.CheckoutOptions{Branch: ref, Create: true, Keep: true}); err != nil {
		t.Fatal(err)
	}
	h := commitFiles(t, f.repo, f.dir, files, msg)
	if err := wt.Checkout(&git.CheckoutOptions{Branch: plumbing.Master, Force: true}); err != nil {
		t.Fatal(err)
	}
	return h
}

// commitOnMaster commits files on master (HEAD) without touching the
// worktree of other branches.
func (f *gitFixture) commitOnMaster(t testing.TB, files map[string]string, msg string) plumbing.Hash {
	t.Helper()
	return commitFiles(t, f.repo, f.dir, files, msg)
}

// bareCopy clones the upstream and the submodule bare under root, as
// root/cyberreboot/vent-plugins.git and root/cyberreboot/sub, and returns
// root.
func (f *gitFixture) bareCopy(t testing.TB) string {
	t.Helper()
	root := t.TempDir()
	for src, dst := range map[string]string{
		f.dir:                                    "cyberreboot/vent-plugins.git",
		filepath.Join(f.base, "cyberreboot/sub"): "cyberreboot/sub",
	} {
		_, err := git.PlainClone(filepath.Join(root, dst), true, &git.CloneOptions{URL: src, Mirror: true})
		if err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// freePort returns a loopback TCP port nothing listens on.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	return port
}

// startGitDaemon serves base over git:// on loopback and returns its
// address; it skips the test when git is not installed.
func startGitDaemon(t testing.TB, base string) string {
	t.Helper()
	out, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		t.Skip("git is not installed; the git:// case needs git daemon")
	}
	daemon := filepath.Join(strings.TrimSpace(string(out)), "git-daemon")
	if _, err := os.Stat(daemon); err != nil {
		t.Skip("git daemon is not installed")
	}
	port := freePort(t)
	// git-daemon forks a child per connection: run it in its own process
	// group and kill the group when the test ends.
	cmd := exec.Command(daemon, "--export-all", "--base-path="+base, "--listen=127.0.0.1",
		"--port="+strconv.Itoa(port), "--reuseaddr", "--informative-errors", base)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = 5 * time.Second
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
	})

	addr := "127.0.0.1:" + strconv.Itoa(port)
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = c.Close()
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("git daemon did not listen on %s: %v; stderr: %s", addr, err, stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startGitHTTP serves root with git http-backend behind basic auth
// (user, pass) on loopback and returns the server URL; it skips the test
// when git http-backend is not installed.
func startGitHTTP(t testing.TB, root, user, pass string) string {
	t.Helper()
	return gittest.ServeHTTP(t, root, user, pass, nil)
}

// startGitHTTPGuarded is startGitHTTP asking for the credentials only on
// the requests guarded reports true for.
func startGitHTTPGuarded(t testing.TB, root, user, pass string, guarded func(*http.Request) bool) string {
	t.Helper()
	return gittest.ServeHTTP(t, root, user, pass, guarded)
}

// logBuffer returns a logger writing text records into a buffer.
func logBuffer() (*slog.Logger, *bytes.Buffer) {
	var b bytes.Buffer
	return slog.New(slog.NewTextHandler(&b, &slog.HandlerOptions{Level: slog.LevelDebug})), &b
}

// fetch runs FetchRepo with a test timeout.
func fetch(t testing.TB, dataDir string, o RepoOptions) (*Repo, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return FetchRepo(ctx, dataDir, o)
}

// toolNames returns the names of ps.
func toolNames(ps []*Plugin) string {
	var names []string
	for _, p := range ps {
		names = append(names, p.Name)
	}
	return strings.Join(names, ",")
}

// mustHash shortens h for messages.
func short(h plumbing.Hash) string { return fmt.Sprint(h)[:7] }
