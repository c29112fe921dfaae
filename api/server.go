// Package api is ventapp's HTTP JSON API, version 1.
//
// The daemon serves it on a Unix socket in the data dir (mode 0660); the
// command-line client in this package talks to that socket. Every route
// lives under /api/v1/. Errors come back as {"error": "..."} with a status
// code that says what kind of problem it was: 400 for bad input, 401 when a
// plugin repository wants git credentials, 404 for something that does not
// exist, 409 for a state conflict, 502 when a repository cannot be fetched,
// 503 when containerd is unreachable and 500 for everything else. Errors a
// client may act on also carry a "kind" (see Error).
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/ventapp/ventapp/containers"
	"github.com/ventapp/ventapp/engine"
	"github.com/ventapp/ventapp/index"
	"github.com/ventapp/ventapp/jobs"
	"github.com/ventapp/ventapp/ops"
	"github.com/ventapp/ventapp/plugins"
)

// Server serves the API for one engine.
type Server struct {
	e   *engine.Engine
	log *slog.Logger
	mux *http.ServeMux
}

// NewServer returns the API handler for e.
func NewServer(e *engine.Engine, log *slog.Logger) *Server {
	s := &Server{e: e, log: log, mux: http.NewServeMux()}
	s.routes()
	return s
}

func (s *Server) routes() {
	s.mux.HandleFunc("GET /api/v1/status", s.status)
	s.mux.HandleFunc("GET /api/v1/plugins", s.listPlugins)
	s.mux.HandleFunc("POST /api/v1/plugins", s.addPlugin)
	s.mux.HandleFunc("GET /api/v1/plugins/manifest", s.manifest)
	s.mux.HandleFunc("GET /api/v1/plugins/builds", s.builds)
	s.mux.HandleFunc("POST /api/v1/plugins/{name}/build", s.buildPlugin)
	s.mux.HandleFunc("POST /api/v1/plugins/{name}/enable", s.enablePlugin(true))
	s.mux.HandleFunc("POST /api/v1/plugins/{name}/disable", s.enablePlugin(false))
	s.mux.HandleFunc("GET /api/v1/images", s.listImages)
	s.mux.HandleFunc("POST /api/v1/images/import", s.importImages)
	s.mux.HandleFunc("GET /api/v1/jobs", s.listJobs)
	s.mux.HandleFunc("GET /api/v1/jobs/{id}", s.getJob)
	s.mux.HandleFunc("POST /api/v1/jobs/{id}/cancel", s.cancelJob)
	s.mux.HandleFunc("POST /api/v1/jobs/{id}/retry", s.retryJob)
	s.mux.HandleFunc("POST /api/v1/process", s.process)
	s.mux.HandleFunc("GET /api/v1/search", s.search)
	s.mux.HandleFunc("GET /metrics", s.metrics)
	s.mux.HandleFunc("GET /api/v1/gpus", s.gpus)

	s.mux.Handle("GET /api/v1/backup", ops.Handler(s.e.BackupSource))

	taps := s.e.Taps().Handler()
	s.mux.Handle("/api/v1/taps", taps)
	s.mux.Handle("/api/v1/taps/", taps)
	s.lifecycleRoutes()
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mux.ServeHTTP(w, r)
}

// ListenUnix serves h on a Unix socket at path (mode 0660), replacing a
// stale socket file, until ctx is cancelled. h is the API, usually wrapped
// by the web page's handler.
func ListenUnix(ctx context.Context, path string, h http.Handler) error {
	if err := removeStaleSocket(path); err != nil {
		return err
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return fmt.Errorf("api socket %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o660); err != nil {
		l.Close()
		return fmt.Errorf("api socket %s: %w", path, err)
	}

	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	err = srv.Serve(l)
	os.Remove(path)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// removeStaleSocket deletes a socket file no daemon answers on, and refuses
// to start when another daemon is using it.
func removeStaleSocket(path string) error {
	if _, err := os.Stat(path); err != nil {
		return nil
	}
	c, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		c.Close()
		return fmt.Errorf("api socket %s: another ventapp daemon is already serving it", path)
	}
	return os.Remove(path)
}

// Error is the body of every failed request.
type Error struct {
	// Error is the message, for people.
	Error string `json:"error"`

	// Kind names, for programs, a problem the client can act on; empty
	// for the others. See KindGitCredentials.
	Kind string `json:"kind,omitempty"`
}

// KindGitCredentials is the Error.Kind of a 401 answer to a plugin
// repository add or update: the repository wants credentials that were
// not given or were refused. It tells that answer apart from the 401 of
// the web listener's token check, which has no kind.
const KindGitCredentials = "git_credentials"

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// writeErr answers err with the status and kind errStatus gives it.
func writeErr(w http.ResponseWriter, err error) {
	code, kind := errStatus(err)
	writeJSON(w, code, Error{Error: err.Error(), Kind: kind})
}

// errStatus maps err to an HTTP status code and an Error.Kind.
func errStatus(err error) (code int, kind string) {
	code = http.StatusInternalServerError
	switch {
	case errors.Is(err, plugins.ErrRepoAuth):
		return http.StatusUnauthorized, KindGitCredentials
	case errors.Is(err, jobs.ErrNotFound), errors.Is(err, plugins.ErrNotFound), errors.Is(err, os.ErrNotExist):
		code = http.StatusNotFound
	case errors.Is(err, plugins.ErrRepoURL), errors.Is(err, plugins.ErrBranchNotFound),
		errors.Is(err, plugins.ErrCommitNotFound), errors.Is(err, plugins.ErrCommitNotInBranch),
		errors.Is(err, plugins.ErrToolNotInRepo), errors.Is(err, plugins.ErrNoTools):
		code = http.StatusBadRequest
	case errors.Is(err, plugins.ErrRepoFetch):
		code = http.StatusBadGateway
	case errors.Is(err, index.ErrBadQuery), errors.Is(err, jobs.ErrBadState),
		errors.Is(err, plugins.ErrTemplate), errors.Is(err, plugins.ErrSetting),
		errors.Is(err, plugins.ErrNoDockerfile), errors.Is(err, errBadRequest),
		errors.Is(err, containers.ErrArchive), errors.Is(err, engine.ErrNotInDrop):
		code = http.StatusBadRequest
	case errors.Is(err, jobs.ErrBadTransition), errors.Is(err, jobs.ErrRunning), errors.Is(err, plugins.ErrExists),
		errors.Is(err, engine.ErrToolNotReady),
		errors.Is(err, plugins.ErrRepoConflict):
		code = http.StatusConflict
	case errors.Is(err, engine.ErrContainerdDown):
		code = http.StatusServiceUnavailable
	}
	return code, ""
}

var errBadRequest = errors.New("bad request")

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.e.Status())
}

func (s *Server) listPlugins(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.e.Registry().List())
}

// AddPluginRequest asks the daemon to install the plugin folder at Path,
// or the tools of the git repository at URL. Username and Password, when
// given, are used for that fetch only: never logged or stored.
type AddPluginRequest struct {
	Path     string   `json:"path,omitempty"`
	URL      string   `json:"url,omitempty"`
	Branch   string   `json:"branch,omitempty"`
	Commit   string   `json:"commit,omitempty"`
	Tools    []string `json:"tools,omitempty"`
	Core     bool     `json:"core,omitempty"`
	Username string   `json:"username,omitempty"`
	Password string   `json:"password,omitempty"`
}

func (s *Server) addPlugin(w http.ResponseWriter, r *http.Request) {
	var req AddPluginRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || (req.Path == "") == (req.URL == "") {
		writeErr(w, fmt.Errorf("%w: want {\"path\": \"/plugin/folder\"} or {\"url\": \"https://…\"}", errBadRequest))
		return
	}
	if req.URL != "" {
		res, err := s.e.AddRepo(r.Context(), plugins.RepoOptions{
			URL: req.URL, Branch: req.Branch, Commit: req.Commit, Tools: req.Tools, Core: req.Core,
			Auth: plugins.Credentials{Username: req.Username, Password: req.Password},
		}, nil)
		if err != nil {
			writeErr(w, err)
			return
		}
		writeJSON(w, http.StatusOK, res)
		return
	}
	res, err := s.e.AddPlugins(r.Context(), req.Path, nil)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (s *Server) buildPlugin(w http.ResponseWriter, r *http.Request) {
	res, err := s.e.BuildPlugin(r.Context(), r.PathValue("name"), nil)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (s *Server) enablePlugin(on bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		if err := s.e.SetEnabled(name, on); err != nil {
			writeErr(w, err)
			return
		}
		p, err := s.e.Registry().Get(name)
		if err != nil {
			writeErr(w, err)
			return
		}
		writeJSON(w, http.StatusOK, p)
	}
}

// builds answers the step each running image build is at, by tool.
func (s *Server) builds(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.e.BuildProgress())
}

func (s *Server) manifest(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if err := s.e.Registry().WriteManifest(w); err != nil {
		s.log.Warn("write manifest", "err", err)
	}
}

func (s *Server) listImages(w http.ResponseWriter, r *http.Request) {
	imgs, err := s.e.Images(r.Context())
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, imgs)
}

func (s *Server) importImages(w http.ResponseWriter, r *http.Request) {
	names, err := s.e.ImportImages(r.Context(), r.Body)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string][]string{"images": names})
}

func (s *Server) listJobs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := jobs.Filter{Tool: q.Get("tool"), File: q.Get("file"), Newest: q.Get("order") != "oldest"}
	if st := q.Get("state"); st != "" {
		state, err := jobs.ParseState(st)
		if err != nil {
			writeErr(w, err)
			return
		}
		f.State = state
	}
	var err error
	if f.Limit, err = intParam(q.Get("limit"), 100); err != nil {
		writeErr(w, err)
		return
	}
	if f.Offset, err = intParam(q.Get("offset"), 0); err != nil {
		writeErr(w, err)
		return
	}
	list, err := s.e.Store().List(f)
	if err != nil {
		writeErr(w, err)
		return
	}
	if list == nil {
		list = []jobs.Job{}
	}
	writeJSON(w, http.StatusOK, list)
}

func intParam(v string, def int) (int, error) {
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%w: %q is not a non-negative number", errBadRequest, v)
	}
	return n, nil
}

// jobID accepts a job ID with or without its leading zeros, as users type
// what they read: "42" is job 000000000042.
func jobID(s string) string {
	if len(s) > 0 && len(s) < 12 {
		if _, err := strconv.ParseUint(s, 10, 64); err == nil {
			return strings.Repeat("0", 12-len(s)) + s
		}
	}
	return s
}

func (s *Server) getJob(w http.ResponseWriter, r *http.Request) {
	j, err := s.e.Store().Get(jobID(r.PathValue("id")))
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, j)
}

func (s *Server) cancelJob(w http.ResponseWriter, r *http.Request) {
	s.jobAction(w, r, s.e.CancelJob)
}

func (s *Server) retryJob(w http.ResponseWriter, r *http.Request) {
	s.jobAction(w, r, s.e.RetryJob)
}

func (s *Server) jobAction(w http.ResponseWriter, r *http.Request, act func(string) error) {
	id := jobID(r.PathValue("id"))
	if err := act(id); err != nil {
		writeErr(w, err)
		return
	}
	j, err := s.e.Store().Get(id)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, j)
}

// ProcessRequest asks the daemon to queue files already in the drop folder
// for the plugins that claim them and have no job for their content yet.
// Paths are files or folders in the drop folder; a path whose bytes are not
// valid UTF-8 goes in RawPaths instead (base64 in JSON). Tools, when given,
// narrows the plugins.
type ProcessRequest struct {
	Paths    []string `json:"paths"`
	RawPaths [][]byte `json:"raw_paths,omitempty"`
	Tools    []string `json:"tools,omitempty"`
}

// process answers POST /api/v1/process with one engine.ProcessResult per
// file found.
func (s *Server) process(w http.ResponseWriter, r *http.Request) {
	var req ProcessRequest
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeErr(w, fmt.Errorf("%w: want {\"paths\": [\"/drop/folder/file.pcap\"], \"tools\": [\"name\"]}: %v",
			errBadRequest, err))
		return
	}
	paths := req.Paths
	for _, raw := range req.RawPaths {
		paths = append(paths, string(raw))
	}
	res, err := s.e.Process(r.Context(), paths, req.Tools)
	if err != nil {
		queued := 0
		for _, r := range res {
			queued += len(r.Jobs)
		}
		if queued > 0 {
			err = fmt.Errorf("%w (%d jobs were queued before this; `ventapp jobs --state queued` lists them)",
				err, queued)
		}
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// gpus answers the GPU scheduler's view: devices, reservations, queue.
func (s *Server) gpus(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.e.GPUSnapshot())
}

// search answers GET /api/v1/search?q=QUERY[&limit=N][&offset=N]
// [&highlight=1][&order=score|time]: one page of hits, best first or in
// output order (time, then line).
func (s *Server) search(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	text := q.Get("q")
	if strings.TrimSpace(text) == "" {
		writeErr(w, fmt.Errorf("%w: the q parameter (a query) is required and not blank", errBadRequest))
		return
	}
	limit, err := intParam(q.Get("limit"), 20)
	if err != nil {
		writeErr(w, err)
		return
	}
	offset, err := intParam(q.Get("offset"), 0)
	if err != nil {
		writeErr(w, err)
		return
	}
	byTime := false
	switch order := q.Get("order"); order {
	case "", "score":
	case "time":
		byTime = true
	default:
		writeErr(w, fmt.Errorf("%w: order %q: want score (best first) or time (output order)",
			errBadRequest, order))
		return
	}
	res, err := s.e.Index().Search(r.Context(), index.Query{
		Text: text, Limit: limit, Offset: offset, Highlight: q.Get("highlight") == "1", ByTime: byTime,
	})
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}
