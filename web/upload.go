package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"

	"github.com/ventapp/ventapp/drop"
)

// UploadResult is the answer to a successful upload.
type UploadResult struct {
	// Path is where the file landed in the drop folder; the name may have
	// gained a " (n)" suffix when the name was taken.
	Path string `json:"path"`
	// Name is the base name of Path.
	Name string `json:"name"`
}

// uploader streams POST /api/v1/drop?name=NAME bodies into the drop folder.
type uploader struct {
	dir string
	max int64
	log *slog.Logger
}

func (u *uploader) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if u.dir == "" {
		writeError(w, http.StatusNotFound, "uploads are not enabled on this daemon")
		return
	}
	name := r.URL.Query().Get("name")
	if name == "" {
		writeError(w, http.StatusBadRequest, "the name parameter (the file name) is required")
		return
	}
	if u.max > 0 && r.ContentLength > u.max {
		writeError(w, http.StatusRequestEntityTooLarge,
			fmt.Sprintf("upload %q is %d bytes, over the limit of %d", name, r.ContentLength, u.max))
		return
	}

	body := r.Body
	if u.max > 0 {
		body = http.MaxBytesReader(w, r.Body, u.max)
	}
	src := &bodyReader{r: body}
	path, err := drop.Place(src, u.dir, name)
	var tooBig *http.MaxBytesError
	switch {
	case err == nil:
	case errors.Is(err, drop.ErrBadName):
		writeError(w, http.StatusBadRequest, err.Error())
		return
	case errors.As(err, &tooBig):
		writeError(w, http.StatusRequestEntityTooLarge,
			fmt.Sprintf("upload %q is over the limit of %d bytes", name, tooBig.Limit))
		return
	case src.err != nil:
		// The client went away or sent a broken body; Place has removed
		// its temporary file.
		u.log.Warn("upload interrupted", "name", name, "bytes", src.n, "err", src.err)
		writeError(w, http.StatusBadRequest,
			fmt.Sprintf("upload %q interrupted after %d bytes: %v", name, src.n, src.err))
		return
	default:
		u.log.Warn("upload failed", "name", name, "err", err)
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}

	u.log.Info("uploaded into the drop folder", "path", path, "remote", r.RemoteAddr)
	writeJSONValue(w, http.StatusCreated, UploadResult{Path: path, Name: filepath.Base(path)})
}

// bodyReader remembers how much it read and the first read error, so that
// a broken request body can be told apart from a failing disk.
type bodyReader struct {
	r   io.Reader
	n   int64
	err error
}

func (b *bodyReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.n += int64(n)
	if err != nil && err != io.EOF && b.err == nil {
		b.err = err
	}
	return n, err
}

// apiError is the body of every failed request, as the API writes it.
type apiError struct {
	Error string `json:"error"`
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSONValue(w, code, apiError{Error: msg})
}

func writeJSONValue(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
