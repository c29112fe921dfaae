package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/ventapp/ventapp/jobs"
	"github.com/ventapp/ventapp/plugins"
)

// repoAuthErr is an error like the one FetchRepo returns for a refused
// clone: it wraps ErrRepoAuth through another layer.
var repoAuthErr = fmt.Errorf("plugin repository http://h/o/r.git: the credentials are missing: %w",
	plugins.ErrRepoAuth)

func TestWriteErr(t *testing.T) {
	tests := []struct {
		name string
		err  error
		code int
		kind string
	}{
		{"repository wants credentials", repoAuthErr, http.StatusUnauthorized, KindGitCredentials},
		{"other fetch failure", fmt.Errorf("x: %w", plugins.ErrRepoFetch), http.StatusBadGateway, ""},
		{"bad URL", fmt.Errorf("x: %w", plugins.ErrRepoURL), http.StatusBadRequest, ""},
		{"missing job", fmt.Errorf("x: %w", jobs.ErrNotFound), http.StatusNotFound, ""},
		{"conflict", fmt.Errorf("x: %w", plugins.ErrRepoConflict), http.StatusConflict, ""},
		{"anything else", errors.New("boom"), http.StatusInternalServerError, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			writeErr(rec, tt.err)
			if rec.Code != tt.code {
				t.Errorf("status %d, want %d", rec.Code, tt.code)
			}
			var e Error
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil {
				t.Fatalf("body %q: %v", rec.Body.String(), err)
			}
			if e.Error != tt.err.Error() || e.Kind != tt.kind {
				t.Errorf("body %+v, want error %q kind %q", e, tt.err.Error(), tt.kind)
			}
			var raw map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &raw); err != nil {
				t.Fatal(err)
			}
			if _, has := raw["kind"]; has != (tt.kind != "") {
				t.Errorf("body %s: kind present = %v", rec.Body.String(), has)
			}
		})
	}
}

// TestClientStatusErrorKind checks that the client hands the answer's kind
// on, and leaves it empty for a 401 without one (the web token check's).
func TestClientStatusErrorKind(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "api.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/creds" {
			writeErr(w, repoAuthErr)
			return
		}
		http.Error(w, "token required", http.StatusUnauthorized)
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })

	c := NewClient(sock)
	for path, want := range map[string]StatusError{
		"/creds": {Code: http.StatusUnauthorized, Message: repoAuthErr.Error(), Kind: KindGitCredentials},
		"/token": {Code: http.StatusUnauthorized, Message: "token required"},
	} {
		err := c.Get(context.Background(), path, nil, nil)
		var se *StatusError
		if !errors.As(err, &se) {
			t.Fatalf("%s: error %v is not a StatusError", path, err)
		}
		if *se != want {
			t.Errorf("%s: %+v, want %+v", path, *se, want)
		}
	}
}
