package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/ventapp/ventapp/containers"
	"github.com/ventapp/ventapp/engine"
)

// maxTemplate bounds a template sent to PUT .../template.
const maxTemplate = 1 << 20

// logPoll is how often a followed log is checked for new output.
const logPoll = 300 * time.Millisecond

// lifecycleRoutes adds the plugin lifecycle, services, bundle and image
// routes.
func (s *Server) lifecycleRoutes() {
	for _, act := range []string{"start", "stop", "clean", "remove", "update", "rollback"} {
		s.mux.HandleFunc("POST /api/v1/plugins/{name}/"+act, s.toolAction(act))
	}
	s.mux.HandleFunc("GET /api/v1/plugins/{name}/template", s.getTemplate)
	s.mux.HandleFunc("PUT /api/v1/plugins/{name}/template", s.putTemplate)
	s.mux.HandleFunc("GET /api/v1/plugins/{name}/logs", s.toolLogs)
	s.mux.HandleFunc("GET /api/v1/services", s.services)
	s.mux.HandleFunc("GET /api/v1/plugins/export", s.exportBundle)
	s.mux.HandleFunc("POST /api/v1/plugins/import", s.importBundle)
	s.mux.HandleFunc("GET /api/v1/images/export", s.exportImages)
	s.mux.HandleFunc("DELETE /api/v1/images", s.removeImage)
	s.mux.HandleFunc("POST /api/v1/images/pull", s.pullImage)
}

// writeLifecycleErr maps the lifecycle's errors to status codes, and the
// rest as writeErr does.
func writeLifecycleErr(w http.ResponseWriter, err error) {
	code := 0
	switch {
	case errors.Is(err, engine.ErrNotService), errors.Is(err, engine.ErrBundle):
		code = http.StatusBadRequest
	case errors.Is(err, engine.ErrToolBusy), errors.Is(err, engine.ErrNoPrevious),
		errors.Is(err, engine.ErrImageInUse):
		code = http.StatusConflict
	case errors.Is(err, containers.ErrImageNotFound), errors.Is(err, engine.ErrNoLog):
		code = http.StatusNotFound
	case errors.Is(err, containers.ErrPull):
		code = http.StatusBadGateway
	case errors.Is(err, containers.ErrArchive):
		code = http.StatusBadRequest
	}
	if code == 0 {
		writeErr(w, err)
		return
	}
	writeJSON(w, code, Error{Error: err.Error()})
}

// toolAction runs one lifecycle action on the tool named in the path and
// answers with its engine.ToolResult. A result with an error is a 409
// (for start, the tool cannot run in its current state).
func (s *Server) toolAction(act string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		names := []string{name}
		var (
			res []engine.ToolResult
			err error
		)
		switch act {
		case "start":
			res, err = s.e.StartTools(r.Context(), names)
		case "stop":
			res, err = s.e.StopTools(r.Context(), names)
		case "clean":
			res, err = s.e.CleanTools(r.Context(), names)
		case "remove":
			res, err = s.e.RemoveTools(r.Context(), names)
		case "update":
			res, err = s.e.UpdateTools(r.Context(), names, nil)
		case "rollback":
			var one engine.ToolResult
			one, err = s.e.RollbackTool(r.Context(), name)
			res = []engine.ToolResult{one}
		}
		if err != nil {
			writeLifecycleErr(w, err)
			return
		}
		if len(res) != 1 {
			writeErr(w, fmt.Errorf("%s %s: no result", act, name))
			return
		}
		code := http.StatusOK
		if res[0].Error != "" {
			code = http.StatusConflict
		}
		writeJSON(w, code, res[0])
	}
}

func (s *Server) getTemplate(w http.ResponseWriter, r *http.Request) {
	text, err := s.e.ToolTemplate(r.PathValue("name"))
	if err != nil {
		writeLifecycleErr(w, err)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, text)
}

// putTemplate checks and applies a template; an invalid one is a 400
// naming the line, and nothing changes.
func (s *Server) putTemplate(w http.ResponseWriter, r *http.Request) {
	data, err := io.ReadAll(io.LimitReader(r.Body, maxTemplate+1))
	if err != nil {
		writeErr(w, fmt.Errorf("%w: %v", errBadRequest, err))
		return
	}
	if len(data) > maxTemplate {
		writeErr(w, fmt.Errorf("%w: template over %d bytes", errBadRequest, maxTemplate))
		return
	}
	p, err := s.e.ConfigureTool(r.Context(), r.PathValue("name"), string(data))
	if err != nil {
		writeLifecycleErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func (s *Server) services(w http.ResponseWriter, r *http.Request) {
	list, err := s.e.Services(r.Context())
	if err != nil {
		writeLifecycleErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, list)
}

// toolLogs streams a service tool's log files; with follow=1 it keeps
// sending new output until the client goes away, picking up instances
// whose log appears later and reading the end of a log the logging
// process moved aside before going on with the new one. With several
// instances each chunk is headed by "==> container <==", as tail does.
func (s *Server) toolLogs(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	follow := r.URL.Query().Get("follow") == "1"
	files, err := s.e.ToolLogs(name)
	if err != nil && !(follow && errors.Is(err, engine.ErrNoLog)) {
		writeLifecycleErr(w, err)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)

	var tails []*logTail
	defer func() {
		for _, lt := range tails {
			lt.closeAll()
		}
	}()
	last := ""
	for {
		for _, f := range files {
			if !slices.ContainsFunc(tails, func(lt *logTail) bool { return lt.path == f }) {
				tails = append(tails, &logTail{path: f})
			}
		}
		for _, lt := range tails {
			err := lt.send(w, func() {
				if len(tails) > 1 && last != lt.path {
					fmt.Fprintf(w, "==> %s <==\n", strings.TrimSuffix(filepath.Base(lt.path), ".log"))
					last = lt.path
				}
			})
			if err != nil {
				return
			}
		}
		if !follow {
			return
		}
		if flusher != nil {
			flusher.Flush()
		}
		select {
		case <-r.Context().Done():
			return
		case <-time.After(logPoll):
		}
		if now, err := s.e.ToolLogs(name); err == nil {
			files = now
		}
	}
}

// spool runs write into a temporary file, then sends it, so that an error
// is still a proper JSON error and not a cut-off tar.
func spool(w http.ResponseWriter, name string, write func(io.Writer) error) {
	tmp, err := os.CreateTemp("", "ventapp-export-*.tar")
	if err != nil {
		writeErr(w, err)
		return
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	if err := write(tmp); err != nil {
		writeLifecycleErr(w, err)
		return
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		writeErr(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/x-tar")
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", name))
	io.Copy(w, tmp)
}

func (s *Server) exportBundle(w http.ResponseWriter, r *http.Request) {
	tools := r.URL.Query()["tool"]
	if len(tools) == 0 {
		writeErr(w, fmt.Errorf("%w: name the tools with ?tool=NAME", errBadRequest))
		return
	}
	spool(w, "bundle.tar", func(out io.Writer) error { return s.e.ExportBundle(r.Context(), out, tools) })
}

func (s *Server) importBundle(w http.ResponseWriter, r *http.Request) {
	res, err := s.e.ImportBundle(r.Context(), r.Body)
	if err != nil {
		writeLifecycleErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (s *Server) exportImages(w http.ResponseWriter, r *http.Request) {
	refs := r.URL.Query()["ref"]
	if len(refs) == 0 {
		writeErr(w, fmt.Errorf("%w: name the images with ?ref=NAME", errBadRequest))
		return
	}
	spool(w, "images.tar", func(out io.Writer) error { return s.e.ExportImages(r.Context(), out, refs) })
}

func (s *Server) removeImage(w http.ResponseWriter, r *http.Request) {
	ref := r.URL.Query().Get("ref")
	if ref == "" {
		writeErr(w, fmt.Errorf("%w: name the image with ?ref=NAME", errBadRequest))
		return
	}
	if err := s.e.RemoveImage(r.Context(), ref); err != nil {
		writeLifecycleErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"removed": ref})
}

// PullRequest asks the daemon to pull an image from its registry.
type PullRequest struct {
	Ref string `json:"ref"`
}

func (s *Server) pullImage(w http.ResponseWriter, r *http.Request) {
	var req PullRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Ref == "" {
		writeErr(w, fmt.Errorf("%w: want {\"ref\": \"registry/name:tag\"}", errBadRequest))
		return
	}
	info, err := s.e.PullImage(r.Context(), req.Ref)
	if err != nil {
		writeLifecycleErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, info)
}
