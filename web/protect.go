package web

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"io/fs"
	"net/http"
	"strings"
)

// Names shared with the page's script.
const (
	// SessionCookie holds the login session on a TCP listener.
	SessionCookie = "ventapp_session"
	// CSRFHeader must be present on every state-changing request that a
	// session cookie authenticates. The page's script sends it; a form or
	// a cross-site request cannot without a CORS preflight, which is never
	// granted.
	CSRFHeader = "X-Ventapp-CSRF"
)

// maxLoginBody bounds the login form.
const maxLoginBody = 4096

// Protect requires token on every request to h except the login page and
// the page's static files. A request is authenticated by the header
// "Authorization: Bearer TOKEN" or by the session cookie that a successful
// POST /login sets (HttpOnly, SameSite=Strict, Secure over TLS; its value
// is derived from the token, so changing the token ends every session).
// POST /logout clears the cookie. Cookie-authenticated requests with a
// method other than GET, HEAD or OPTIONS must carry the CSRFHeader header.
//
// A request that fails gets 401 and reaches nothing: API paths get a JSON
// error, the page gets the login form. The token never appears in a URL.
// An empty token refuses every request.
func Protect(h http.Handler, token string) http.Handler {
	p := &protector{next: h, token: token, session: sessionValue(token)}
	static, err := fs.Sub(assets, "assets")
	if err != nil {
		panic(err)
	}
	p.login = pageHeaders(serveFile(static, "login.html"))
	return crossOriginGuard(p)
}

type protector struct {
	next    http.Handler
	login   http.Handler
	token   string
	session string
}

// sessionValue is the cookie value for token: an HMAC, so that the cookie
// does not hold the token itself.
func sessionValue(token string) string {
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte("ventapp web session v1"))
	return hex.EncodeToString(m.Sum(nil))
}

func (p *protector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/login" && r.Method == http.MethodPost:
		p.doLogin(w, r)
		return
	case r.URL.Path == "/login" && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		p.login.ServeHTTP(w, r)
		return
	case r.URL.Path == "/logout" && r.Method == http.MethodPost:
		http.SetCookie(w, p.cookie(r, "", -1))
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	case strings.HasPrefix(r.URL.Path, "/assets/") && (r.Method == http.MethodGet ||
		r.Method == http.MethodHead):
		// The page's own files hold nothing secret; the login form uses them.
		p.next.ServeHTTP(w, r)
		return
	}

	if p.token != "" && p.bearerOK(r) {
		p.next.ServeHTTP(w, r)
		return
	}
	if p.token != "" && p.cookieOK(r) {
		if !safeMethod(r.Method) && r.Header.Get(CSRFHeader) == "" {
			writeError(w, http.StatusForbidden,
				"missing the "+CSRFHeader+" header on a state-changing request")
			return
		}
		p.next.ServeHTTP(w, r)
		return
	}
	p.refuse(w, r)
}

// refuse answers 401: JSON for API calls, the login form for the page.
func (p *protector) refuse(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="ventapp"`)
	if r.Method == http.MethodGet && !strings.HasPrefix(r.URL.Path, "/api/") && r.URL.Path != "/metrics" {
		rec := &statusWriter{ResponseWriter: w, code: http.StatusUnauthorized}
		p.login.ServeHTTP(rec, r)
		return
	}
	writeError(w, http.StatusUnauthorized,
		"authentication required: send Authorization: Bearer TOKEN or log in")
}

func (p *protector) bearerOK(r *http.Request) bool {
	auth := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(auth, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(strings.TrimSpace(tok)), []byte(p.token)) == 1
}

func (p *protector) cookieOK(r *http.Request) bool {
	c, err := r.Cookie(SessionCookie)
	if err != nil {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(c.Value), []byte(p.session)) == 1
}

// doLogin checks the form's token and sets the session cookie.
func (p *protector) doLogin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxLoginBody)
	if err := r.ParseForm(); err != nil {
		writeError(w, http.StatusBadRequest, "login form: "+err.Error())
		return
	}
	given := r.PostForm.Get("token")
	if p.token == "" || subtle.ConstantTimeCompare([]byte(given), []byte(p.token)) != 1 {
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, "/login#failed", http.StatusSeeOther)
		return
	}
	http.SetCookie(w, p.cookie(r, p.session, 0))
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (p *protector) cookie(r *http.Request, value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name:     SessionCookie,
		Value:    value,
		Path:     "/",
		MaxAge:   maxAge,
		HttpOnly: true,
		Secure:   r.TLS != nil,
		SameSite: http.SameSiteStrictMode,
	}
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// statusWriter replaces the status code of the response it wraps.
type statusWriter struct {
	http.ResponseWriter
	code  int
	wrote bool
}

func (s *statusWriter) WriteHeader(int) {
	if !s.wrote {
		s.wrote = true
		s.ResponseWriter.WriteHeader(s.code)
	}
}

func (s *statusWriter) Write(b []byte) (int, error) {
	s.WriteHeader(s.code)
	return s.ResponseWriter.Write(b)
}
