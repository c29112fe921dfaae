// Package web serves ventapp's status page: a single-page application
// embedded in the binary (plain HTML, CSS and JavaScript, no build step and
// nothing fetched from elsewhere) that reads the daemon's JSON API.
//
// Handler serves the page, the drop upload endpoint (POST /api/v1/drop) and
// passes every other path to the API handler. It rejects cross-origin
// browser requests that change state on every listener (see
// http.CrossOriginProtection: the Sec-Fetch-Site and Origin headers); the
// command-line client sends neither header and is not affected.
//
// Protect adds token authentication for a TCP listener: a bearer token, or
// a session cookie (HttpOnly, SameSite=Strict) set by a login form, in which
// case every state-changing request must also carry the X-Ventapp-CSRF
// header that the page's script adds and that a cross-site form cannot.
// The Unix socket is not wrapped: its file mode is its access control.
package web

import (
	"embed"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
)

// DefaultMaxUpload is the upload size limit when Options.MaxUpload is 0.
const DefaultMaxUpload int64 = 4 << 30

//go:embed assets
var assets embed.FS

// Options configure Handler.
type Options struct {
	// DropDir is the drop folder uploads go to; empty turns uploads off
	// (POST /api/v1/drop answers 404).
	DropDir string
	// MaxUpload is the largest upload in bytes; 0 means DefaultMaxUpload,
	// a negative value means no limit.
	MaxUpload int64
	// Logger receives upload events; nil discards them.
	Logger *slog.Logger
}

// Handler returns the handler for one listener: the page at "/", its files
// under /assets/, uploads at POST /api/v1/drop, and api for every other
// path.
func Handler(api http.Handler, opts Options) http.Handler {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxUpload == 0 {
		opts.MaxUpload = DefaultMaxUpload
	}
	static, err := fs.Sub(assets, "assets")
	if err != nil {
		panic(err) // the embedded tree always has the folder
	}

	mux := http.NewServeMux()
	mux.Handle("GET /{$}", pageHeaders(serveFile(static, "index.html")))
	mux.Handle("GET /assets/", pageHeaders(http.StripPrefix("/assets/", http.FileServerFS(static))))
	mux.Handle("POST /api/v1/drop", &uploader{dir: opts.DropDir, max: opts.MaxUpload, log: opts.Logger})
	mux.Handle("/", api)

	return crossOriginGuard(mux)
}

// crossOriginGuard refuses state-changing cross-origin browser requests
// with 403 and a JSON error.
func crossOriginGuard(h http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusForbidden, "cross-origin request refused")
	}))
	return cop.Handler(h)
}

// serveFile serves one embedded file.
func serveFile(fsys fs.FS, name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, fsys, name)
	})
}

// contentSecurityPolicy allows only this origin's own files: no inline
// script, no framing, no forms posting elsewhere.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; " +
	"img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; " +
	"form-action 'self'"

// pageHeaders adds the security headers every page and asset gets.
func pageHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", contentSecurityPolicy)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("Cache-Control", "no-cache")
		if strings.HasSuffix(r.URL.Path, "/") && r.URL.Path != "/" {
			// No directory listings of the embedded tree.
			http.NotFound(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}
