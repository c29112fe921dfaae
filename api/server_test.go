package api

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ventapp/ventapp/engine"
	"github.com/ventapp/ventapp/internal/cfgtest"
)

// newTestServer serves the API of an engine that was opened but not run:
// its store, registry and index work, containerd is not connected.
func newTestServer(t *testing.T) *httptest.Server {
	t.Helper()
	cfg := cfgtest.Idle(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	e, err := engine.New(cfg, log, "test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })

	srv := httptest.NewServer(NewServer(e, log))
	t.Cleanup(srv.Close)
	return srv
}

func TestStatusCodes(t *testing.T) {
	srv := newTestServer(t)
	tests := []struct {
		method, path, body string
		code               int
		errText            string
	}{
		{"GET", "/api/v1/status", "", 200, ""},
		{"GET", "/api/v1/jobs", "", 200, ""},
		{"GET", "/api/v1/jobs?state=bogus", "", 400, "bogus"},
		{"GET", "/api/v1/jobs?limit=-1", "", 400, "-1"},
		{"GET", "/api/v1/jobs/000000000999", "", 404, "000000000999"},
		{"GET", "/api/v1/jobs/999", "", 404, "000000000999"},
		{"POST", "/api/v1/jobs/000000000999/cancel", "", 404, "000000000999"},
		{"GET", "/api/v1/search", "", 400, "q parameter"},
		{"GET", "/api/v1/search?q=%20%20", "", 400, "q parameter"},
		{"GET", "/api/v1/search?q=tool%3A", "", 400, "bad query"},
		{"GET", "/api/v1/search?q=anything", "", 200, ""},
		{"GET", "/api/v1/search?q=anything&order=time", "", 200, ""},
		{"GET", "/api/v1/search?q=anything&order=newest", "", 400, "newest"},
		{"GET", "/api/v1/plugins", "", 200, ""},
		{"POST", "/api/v1/plugins", "{}", 400, "path"},
		{"POST", "/api/v1/plugins", `{"path": "/nonexistent/plugin"}`, 404, "/nonexistent/plugin"},
		{"POST", "/api/v1/plugins/nope/enable", "", 404, "nope"},
		{"POST", "/api/v1/images/import", "not a tar", 503, "containerd"},
		{"GET", "/api/v1/taps", "", 200, ""},
		{"GET", "/api/v1/gpus", "", 200, ""},
		{"GET", "/api/v1/plugins/builds", "", 200, ""},
		{"POST", "/api/v1/process", "not json", 400, "paths"},
		{"POST", "/api/v1/process", `{"paths": []}`, 400, "no path"},
		{"POST", "/api/v1/process", `{"paths": ["/etc/hostname"]}`, 400, "/etc/hostname: outside the drop folder"},
		{"POST", "/api/v1/process", `{"paths": ["/etc/hostname"], "tools": ["nope"]}`, 404, "nope"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(context.Background(), tt.method, srv.URL+tt.path,
				strings.NewReader(tt.body))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tt.code {
				data, _ := io.ReadAll(resp.Body)
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.code, data)
			}
			if tt.errText == "" {
				return
			}
			var e Error
			if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(e.Error, tt.errText) {
				t.Errorf("error %q, want it to mention %q", e.Error, tt.errText)
			}
		})
	}
}

func TestMetrics(t *testing.T) {
	srv := newTestServer(t)
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	for _, want := range []string{
		`ventapp_jobs{state="queued"} 0`,
		"ventapp_containerd_up 0",
		"# TYPE ventapp_queue_depth gauge",
		"ventapp_index_documents 0",
		"ventapp_gpu_available 0",
		"# TYPE ventapp_job_duration_seconds histogram",
		`ventapp_dispatch_wait_seconds_bucket{le="+Inf"} 0`,
	} {
		if !strings.Contains(string(data), want) {
			t.Errorf("metrics lack %q:\n%s", want, data)
		}
	}
}
