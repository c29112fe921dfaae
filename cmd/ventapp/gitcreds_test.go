package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ventapp/ventapp/api"
	"github.com/ventapp/ventapp/engine"
	"github.com/ventapp/ventapp/plugins"
)

// fakeRepoDaemon answers plugin adds on a Unix socket like the daemon does
// for a repository behind basic auth: 401 with the git_credentials kind
// unless the request carries user and pass. It records what it was sent.
type fakeRepoDaemon struct {
	user, pass string

	mu   sync.Mutex
	reqs []api.AddPluginRequest
}

func startFakeRepoDaemon(t *testing.T, user, pass string) (*fakeRepoDaemon, *api.Client) {
	t.Helper()
	f := &fakeRepoDaemon{user: user, pass: pass}
	sock := filepath.Join(t.TempDir(), "api.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(f.serve)}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return f, api.NewClient(sock)
}

func (f *fakeRepoDaemon) serve(w http.ResponseWriter, r *http.Request) {
	var req api.AddPluginRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	f.reqs = append(f.reqs, req)
	f.mu.Unlock()

	w.Header().Set("Content-Type", "application/json")
	if req.Username != f.user || req.Password != f.pass {
		w.WriteHeader(http.StatusUnauthorized)
		json.NewEncoder(w).Encode(api.Error{Kind: api.KindGitCredentials,
			Error: "plugin repository http://git.test/org/tools.git: the credentials are missing or wrong"})
		return
	}
	json.NewEncoder(w).Encode(engine.RepoResult{Repo: "http://git.test/org/tools", Branch: "master",
		Commit: strings.Repeat("ab", 20), Tools: []engine.AddResult{{Tool: "hello", Image: "ventapp/hello",
			Digest: "sha256:" + strings.Repeat("cd", 32)}}})
}

func (f *fakeRepoDaemon) requests() []api.AddPluginRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]api.AddPluginRequest(nil), f.reqs...)
}

// fakeTerminal replaces the terminal checks for one test: stdin counts as
// a terminal when tty is set, and the password "typed" is password.
func fakeTerminal(t *testing.T, tty bool, password string) *int {
	t.Helper()
	calls := new(int)
	oldTTY, oldRead := stdinIsTerminal, readTermPassword
	stdinIsTerminal = func(io.Reader) bool { return tty }
	readTermPassword = func(io.Reader) (string, error) {
		*calls++
		if !tty {
			return "", errors.New("not a terminal")
		}
		return password, nil
	}
	t.Cleanup(func() { stdinIsTerminal, readTermPassword = oldTTY, oldRead })
	return calls
}

func TestAddRepoCredentials(t *testing.T) {
	const (
		secret = "Tr0ub4dor-pw"
		bad    = "Bad-pw-7"
		url    = "http://git.test/org/tools.git"
	)
	tests := []struct {
		name       string
		url        string
		tty        bool   // stdin is a terminal
		typed      string // the password "typed" at the prompt
		stdin      string
		credsStdin bool
		envUser    string
		envPass    string

		wantErr      string // "" for success
		wantReqs     int
		wantPrompts  []string
		wantPassword int // calls of readTermPassword
		lastUser     string
	}{
		{name: "terminal prompt", url: url, tty: true, typed: secret, stdin: "alice\n",
			wantReqs: 2, wantPrompts: []string{"Username for http://git.test: ", "Password: "},
			wantPassword: 1, lastUser: "alice"},
		{name: "terminal prompt, user from the URL", url: "http://alice@git.test/org/tools.git", tty: true,
			typed: secret, wantReqs: 2, wantPrompts: []string{"Password: "}, wantPassword: 1,
			lastUser: "alice"},
		{name: "terminal prompt, wrong password", url: url, tty: true, typed: bad, stdin: "alice\n",
			wantErr: "refused the credentials entered", wantReqs: 2, wantPassword: 1, lastUser: "alice",
			wantPrompts: []string{"Password: "}},
		{name: "terminal, nothing entered", url: url, tty: true, stdin: "\n",
			wantErr: "no credentials entered", wantReqs: 1, wantPassword: 1,
			wantPrompts: []string{"Password: "}},
		{name: "no terminal", url: url, stdin: "alice\n" + secret + "\n",
			wantErr: plugins.EnvGitUsername, wantReqs: 1},
		{name: "stdin flag", url: url, stdin: "alice\n" + secret + "\n", credsStdin: true,
			wantReqs: 1, lastUser: "alice"},
		{name: "stdin flag, CRLF, no final newline", url: url, stdin: "alice\r\n" + secret, credsStdin: true,
			wantReqs: 1, lastUser: "alice"},
		{name: "stdin flag, wrong", url: url, tty: true, stdin: "alice\n" + bad + "\n", credsStdin: true,
			wantErr: "refused the credentials read from stdin", wantReqs: 1, lastUser: "alice"},
		{name: "stdin flag, one line", url: url, stdin: "alice\n", credsStdin: true,
			wantErr: "reading the password", wantReqs: 0},
		{name: "environment", url: url, envUser: "alice", envPass: secret, wantReqs: 1, lastUser: "alice"},
		{name: "environment wrong, terminal", url: url, tty: true, typed: secret, envUser: "alice",
			envPass: bad, wantErr: "refused the credentials from VENTAPP_GIT_USERNAME", wantReqs: 1,
			lastUser: "alice"},
		{name: "wrong password in URL", url: "http://alice:" + bad + "@git.test/org/tools.git", tty: true,
			typed: secret, wantErr: "refused the credentials in the URL", wantReqs: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(plugins.EnvGitUsername, tt.envUser)
			t.Setenv(plugins.EnvGitPassword, tt.envPass)
			calls := fakeTerminal(t, tt.tty, tt.typed)
			daemon, c := startFakeRepoDaemon(t, "alice", secret)

			var stdout, stderr bytes.Buffer
			env := &cliEnv{stdin: strings.NewReader(tt.stdin), stdout: &stdout, stderr: &stderr}
			req := api.AddPluginRequest{URL: tt.url}
			err := addRepo(context.Background(), env, c, req, false, tt.credsStdin)
			t.Logf("stderr:\n%s", stderr.String())

			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("addRepo: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("addRepo error %v, want one mentioning %q", err, tt.wantErr)
			}
			if tt.wantErr == "" && !strings.Contains(stdout.String(), "hello\tadded and built") {
				t.Errorf("stdout does not report the tool: %q", stdout.String())
			}
			if tt.name == "no terminal" {
				for _, s := range []string{plugins.EnvGitPassword, "--credentials-stdin", "terminal"} {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("hint does not name %s: %v", s, err)
					}
				}
			}

			reqs := daemon.requests()
			if len(reqs) != tt.wantReqs {
				t.Fatalf("%d requests, want %d", len(reqs), tt.wantReqs)
			}
			if len(reqs) > 0 && reqs[0].URL != tt.url {
				t.Errorf("URL sent %q, want %q", reqs[0].URL, tt.url)
			}
			if tt.lastUser != "" && reqs[len(reqs)-1].Username != tt.lastUser {
				t.Errorf("last request's user %q, want %q", reqs[len(reqs)-1].Username, tt.lastUser)
			}
			if *calls != tt.wantPassword {
				t.Errorf("password read %d times, want %d", *calls, tt.wantPassword)
			}
			for _, p := range tt.wantPrompts {
				if !strings.Contains(stderr.String(), p) {
					t.Errorf("stderr lacks the prompt %q", p)
				}
			}
			if tt.wantPrompts == nil && strings.Contains(stderr.String(), "Password: ") {
				t.Error("prompted for a password")
			}
			out := stdout.String() + stderr.String()
			if err != nil {
				out += err.Error()
			}
			for _, s := range []string{secret, bad} {
				if strings.Contains(out, s) {
					t.Errorf("output shows the password %q:\n%s", s, out)
				}
			}
		})
	}
}

func TestReadLine(t *testing.T) {
	r := strings.NewReader("one\r\ntwo\nthree")
	for _, want := range []string{"one", "two"} {
		if got, err := readLine(r); err != nil || got != want {
			t.Errorf("readLine = %q, %v; want %q", got, err, want)
		}
	}
	if got, err := readLine(r); !errors.Is(err, io.EOF) || got != "three" {
		t.Errorf("last readLine = %q, %v; want three, EOF", got, err)
	}
	if _, err := readLine(strings.NewReader(strings.Repeat("x", 5000))); err == nil {
		t.Error("a 5000-byte line was read")
	}
}
