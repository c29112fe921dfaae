// Package gittest serves git repositories to tests over HTTP the way a
// private git server does: Git's own http-backend behind HTTP basic auth,
// on loopback. It is imported only by tests.
package gittest

import (
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// ServeHTTP serves the bare repositories under root with git http-backend
// on 127.0.0.1 and returns the server's URL; a repository root/a/b.git is
// at URL/a/b.git. Requests for which guarded reports true (nil: every
// request) must carry the basic-auth credentials user and pass, or get
// 401. The server stops when the test ends. The test is skipped when git
// or its http-backend is not installed.
func ServeHTTP(t testing.TB, root, user, pass string, guarded func(*http.Request) bool) string {
	t.Helper()
	out, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		t.Skip("git is not installed; the test needs git http-backend")
	}
	backend := filepath.Join(strings.TrimSpace(string(out)), "git-http-backend")
	if _, err := os.Stat(backend); err != nil {
		t.Skip("git http-backend is not installed")
	}
	if guarded == nil {
		guarded = func(*http.Request) bool { return true }
	}

	h := &cgi.Handler{Path: backend, Env: []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); guarded(r) && (!ok || u != user || p != pass) {
			w.Header().Set("WWW-Authenticate", `Basic realm="ventapp test"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// Run runs git with args in dir, with a fixed identity and no user or
// system configuration, and fails the test when git fails.
func Run(t testing.TB, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=ventapp test",
		"-c", "user.email=test@ventapp.invalid", "-c", "init.defaultBranch=master"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
}
