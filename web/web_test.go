package web

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
)

func newTestHandler(t *testing.T, max int64) (http.Handler, *fakeAPI, string) {
	t.Helper()
	dir := t.TempDir()
	api := &fakeAPI{}
	return Handler(api, Options{DropDir: dir, MaxUpload: max}), api, dir
}

func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func TestRouting(t *testing.T) {
	h, _, _ := newTestHandler(t, 0)
	tests := []struct {
		name, method, path string
		code               int
		contains           string
		ctype              string
	}{
		{"page", "GET", "/", 200, `<script src="/assets/app.js"`, "text/html"},
		{"script", "GET", "/assets/app.js", 200, "function route()", "javascript"},
		{"style", "GET", "/assets/app.css", 200, "mark {", "text/css"},
		{"login form asset", "GET", "/assets/login.html", 200, `action="/login"`, "text/html"},
		{"no listing", "GET", "/assets/", 404, "", ""},
		{"missing asset", "GET", "/assets/nope.js", 404, "", ""},
		{"api passes through", "GET", "/api/v1/status", 200, `"version":"1.2.3-test"`, "application/json"},
		{"api 404 passes through", "GET", "/api/v1/gpus", 404, "no such route", ""},
		{"unknown path goes to api", "GET", "/metrics", 404, "no such route /metrics", ""},
		{"upload is POST only", "GET", "/api/v1/drop", 404, "no such route", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))
			if rec.Code != tt.code {
				t.Fatalf("%s %s: code %d, want %d; body %s", tt.method, tt.path, rec.Code, tt.code, rec.Body)
			}
			if !strings.Contains(rec.Body.String(), tt.contains) {
				t.Errorf("body does not contain %q:\n%.300s", tt.contains, rec.Body)
			}
			if ct := rec.Header().Get("Content-Type"); !strings.Contains(ct, tt.ctype) {
				t.Errorf("Content-Type %q, want %q", ct, tt.ctype)
			}
		})
	}
}

func TestPageHeaders(t *testing.T) {
	h, _, _ := newTestHandler(t, 0)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	csp := rec.Header().Get("Content-Security-Policy")
	if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe") {
		t.Errorf("Content-Security-Policy = %q", csp)
	}
	if rec.Header().Get("X-Frame-Options") != "DENY" {
		t.Errorf("X-Frame-Options = %q", rec.Header().Get("X-Frame-Options"))
	}
}

// TestAssetsSelfContained checks that the page loads nothing from elsewhere.
func TestAssetsSelfContained(t *testing.T) {
	names := []string{"assets/index.html", "assets/login.html", "assets/app.js", "assets/app.css"}
	for _, name := range names {
		data, err := assets.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		s := string(data)
		for _, bad := range []string{"http://", "https://", "//cdn", "innerHTML", "eval("} {
			if bad == "http://" && strings.Contains(s, "http://www.w3.org/2000/svg") {
				s = strings.ReplaceAll(s, "http://www.w3.org/2000/svg", "")
			}
			if strings.Contains(s, bad) {
				t.Errorf("%s contains %q", name, bad)
			}
		}
	}
}

func TestUpload(t *testing.T) {
	tests := []struct {
		name    string
		query   string
		body    io.Reader
		max     int64
		code    int
		errText string
		want    string // file expected in the drop folder; "" for none
	}{
		{"ok", "name=a.pcap", strings.NewReader("pcap data"), 100, 201, "", "a.pcap"},
		{"exactly the limit", "name=b.pcap", strings.NewReader("0123456789"), 10, 201, "", "b.pcap"},
		{"over the limit, length known", "name=c.pcap", strings.NewReader("0123456789X"), 10, 413,
			"over the limit", ""},
		{"over the limit, streamed", "name=c.pcap", io.MultiReader(strings.NewReader("0123456789"),
			strings.NewReader("more")), 10, 413, "over the limit", ""},
		{"interrupted", "name=d.pcap", &brokenReader{data: "partial data"}, 100, 400, "interrupted", ""},
		{"no name", "", strings.NewReader("x"), 100, 400, "name parameter", ""},
		{"slash in name", "name=" + url.QueryEscape("../etc/passwd"), strings.NewReader("x"), 100, 400,
			"not allowed", ""},
		{"dot dot", "name=..", strings.NewReader("x"), 100, 400, "not allowed", ""},
		{"hidden temp-like name", "name=.x.part", strings.NewReader("x"), 100, 400, "not allowed", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, _, dir := newTestHandler(t, tt.max)
			req := httptest.NewRequest("POST", "/api/v1/drop?"+tt.query, tt.body)
			if _, ok := tt.body.(*strings.Reader); !ok {
				req.ContentLength = -1 // streamed: the limit must be enforced while reading
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.code {
				t.Fatalf("code %d, want %d; body %s", rec.Code, tt.code, rec.Body)
			}
			got := dirEntries(t, dir)
			if tt.want == "" {
				if len(got) != 0 {
					t.Fatalf("drop folder holds %q after a refused upload", got)
				}
				var e apiError
				err := json.Unmarshal(rec.Body.Bytes(), &e)
				if err != nil || !strings.Contains(e.Error, tt.errText) {
					t.Fatalf("error body %s, want one containing %q", rec.Body, tt.errText)
				}
				return
			}
			if len(got) != 1 || got[0] != tt.want {
				t.Fatalf("drop folder holds %q, want [%s]", got, tt.want)
			}
			var res UploadResult
			if err := json.Unmarshal(rec.Body.Bytes(), &res); err != nil || res.Name != tt.want {
				t.Fatalf("answer %s, want name %s", rec.Body, tt.want)
			}
		})
	}
}

func TestUploadCollisionAndDisabled(t *testing.T) {
	h, _, dir := newTestHandler(t, 0)
	for range 2 {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("POST", "/api/v1/drop?name=x.pcap", strings.NewReader("x")))
		if rec.Code != 201 {
			t.Fatalf("code %d: %s", rec.Code, rec.Body)
		}
	}
	if got := dirEntries(t, dir); len(got) != 2 || got[0] != "x (1).pcap" || got[1] != "x.pcap" {
		t.Fatalf("drop folder holds %q", got)
	}

	off := Handler(&fakeAPI{}, Options{})
	rec := httptest.NewRecorder()
	off.ServeHTTP(rec, httptest.NewRequest("POST", "/api/v1/drop?name=x.pcap", strings.NewReader("x")))
	if rec.Code != 404 {
		t.Fatalf("upload without a drop folder: code %d", rec.Code)
	}
}

// brokenReader yields some data and then fails, like a client that went
// away mid-upload.
type brokenReader struct {
	data string
	done bool
}

func (b *brokenReader) Read(p []byte) (int, error) {
	if !b.done {
		b.done = true
		return copy(p, b.data), nil
	}
	return 0, errors.New("connection reset by peer")
}

func TestCrossOriginRefused(t *testing.T) {
	tests := []struct {
		name    string
		headers map[string]string
		code    int
	}{
		{"cli, no browser headers", nil, 200},
		{"same origin fetch", map[string]string{"Sec-Fetch-Site": "same-origin"}, 200},
		{"cross site fetch", map[string]string{"Sec-Fetch-Site": "cross-site"}, 403},
		{"old browser, foreign origin", map[string]string{"Origin": "https://evil.example"}, 403},
		{"old browser, own origin", map[string]string{"Origin": "http://example.com"}, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, api, dir := newTestHandler(t, 0)
			for _, path := range []string{"/api/v1/jobs/000000000003/retry", "/api/v1/drop?name=a.pcap"} {
				req := httptest.NewRequest("POST", path, strings.NewReader("x"))
				for k, v := range tt.headers {
					req.Header.Set(k, v)
				}
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				want := tt.code
				if want == 200 && strings.Contains(path, "drop") {
					want = 201
				}
				if rec.Code != want {
					t.Fatalf("POST %s: code %d, want %d; %s", path, rec.Code, want, rec.Body)
				}
			}
			if tt.code == 403 && (len(api.called()) != 0 || len(dirEntries(t, dir)) != 0) {
				t.Fatalf("refused requests reached the API (%q) or the drop folder", api.called())
			}
		})
	}
}
