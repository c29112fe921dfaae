package web

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

const testToken = "s3cret-token-for-tests"

func newProtected(t *testing.T) (http.Handler, *fakeAPI, string) {
	t.Helper()
	h, api, dir := newTestHandler(t, 0)
	return Protect(h, testToken), api, dir
}

func TestProtectRefusesWithoutToken(t *testing.T) {
	tests := []struct {
		name, method, path string
		auth               string
		code               int
		contains           string
	}{
		{"status without token", "GET", "/api/v1/status", "", 401, "authentication required"},
		{"retry without token", "POST", "/api/v1/jobs/000000000003/retry", "", 401,
			"authentication required"},
		{"upload without token", "POST", "/api/v1/drop?name=a.pcap", "", 401, "authentication required"},
		{"wrong token", "POST", "/api/v1/jobs/000000000003/retry", "Bearer nope", 401, "authentication"},
		{"token in basic auth", "GET", "/api/v1/status", "Basic " + testToken, 401, "authentication"},
		{"page shows login form", "GET", "/", "", 401, `action="/login"`},
		{"metrics without token", "GET", "/metrics", "", 401, "authentication"},
		{"assets are public", "GET", "/assets/app.css", "", 200, "mark {"},
		{"login form is public", "GET", "/login", "", 200, `name="token"`},
		{"bearer token works", "GET", "/api/v1/status", "Bearer " + testToken, 200, "1.2.3-test"},
		{"bearer token, any case", "POST", "/api/v1/jobs/000000000003/retry", "bearer " + testToken, 200,
			"zeek"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, api, dir := newProtected(t)
			req := httptest.NewRequest(tt.method, tt.path, strings.NewReader("data"))
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.code {
				t.Fatalf("code %d, want %d; %s", rec.Code, tt.code, rec.Body)
			}
			if !strings.Contains(rec.Body.String(), tt.contains) {
				t.Errorf("body does not contain %q: %.200s", tt.contains, rec.Body)
			}
			if tt.code == 401 && (len(api.called()) != 0 || len(dirEntries(t, dir)) != 0) {
				t.Errorf("a refused request changed something: calls %q, drop %q",
					api.called(), dirEntries(t, dir))
			}
		})
	}
}

func TestProtectEmptyTokenRefusesAll(t *testing.T) {
	h, _, _ := newTestHandler(t, 0)
	p := Protect(h, "")
	for _, auth := range []string{"", "Bearer ", "Bearer"} {
		req := httptest.NewRequest("GET", "/api/v1/status", nil)
		req.Header.Set("Authorization", auth)
		rec := httptest.NewRecorder()
		p.ServeHTTP(rec, req)
		if rec.Code != 401 {
			t.Fatalf("auth %q with an empty token: code %d", auth, rec.Code)
		}
	}
	rec := httptest.NewRecorder()
	p.ServeHTTP(rec, loginRequest(""))
	if c := rec.Result().Cookies(); len(c) != 0 {
		t.Fatalf("empty-token login set cookies %v", c)
	}
}

func loginRequest(token string) *http.Request {
	req := httptest.NewRequest("POST", "/login", strings.NewReader(url.Values{"token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return req
}

func TestLoginCookieAndCSRF(t *testing.T) {
	h, api, _ := newProtected(t)

	// A wrong token sets no cookie and says so on the form.
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, loginRequest("wrong"))
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/login#failed" {
		t.Fatalf("bad login: code %d, location %q", rec.Code, rec.Header().Get("Location"))
	}
	if len(rec.Result().Cookies()) != 0 {
		t.Fatal("bad login set a cookie")
	}

	// The right one sets a strict, HttpOnly cookie that is not the token.
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, loginRequest(testToken))
	cookies := rec.Result().Cookies()
	if rec.Code != http.StatusSeeOther || len(cookies) != 1 {
		t.Fatalf("login: code %d, cookies %v", rec.Code, cookies)
	}
	c := cookies[0]
	if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Name != SessionCookie || c.Path != "/" {
		t.Fatalf("cookie %+v: want HttpOnly, SameSite=Strict, path /", c)
	}
	if strings.Contains(c.Value, testToken) {
		t.Fatal("the cookie holds the token itself")
	}

	send := func(method, path string, header map[string]string) int {
		req := httptest.NewRequest(method, path, nil)
		req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
		for k, v := range header {
			req.Header.Set(k, v)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	if code := send("GET", "/api/v1/status", nil); code != 200 {
		t.Fatalf("GET with the session cookie: %d", code)
	}
	if code := send("POST", "/api/v1/jobs/000000000003/retry", nil); code != 403 {
		t.Fatalf("POST with the cookie and no CSRF header: %d, want 403", code)
	}
	if len(api.called()) != 0 {
		t.Fatalf("the refused POST reached the API: %q", api.called())
	}
	if code := send("POST", "/api/v1/jobs/000000000003/retry",
		map[string]string{CSRFHeader: "1", "Sec-Fetch-Site": "cross-site"}); code != 403 {
		t.Fatalf("cross-site POST with the cookie: %d, want 403", code)
	}
	if code := send("POST", "/api/v1/jobs/000000000003/retry",
		map[string]string{CSRFHeader: "1", "Sec-Fetch-Site": "same-origin"}); code != 200 {
		t.Fatalf("POST with the cookie and the CSRF header: %d, want 200", code)
	}

	// A forged cookie, and one from another token, are refused.
	for _, v := range []string{"forged", sessionValue("another token")} {
		req := httptest.NewRequest("GET", "/api/v1/status", nil)
		req.AddCookie(&http.Cookie{Name: SessionCookie, Value: v})
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 401 {
			t.Fatalf("cookie %q: code %d", v, rec.Code)
		}
	}

	// Logout clears the cookie.
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/logout", nil))
	if cs := rec.Result().Cookies(); len(cs) != 1 || cs[0].MaxAge >= 0 {
		t.Fatalf("logout cookies %v", cs)
	}
}
