package capture

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/ventapp/ventapp/capture/bpf"
)

// maxBody bounds request bodies on both listeners.
const maxBody = 1 << 20

// Handler serves the tap API as JSON under /api/v1/taps. Errors come back
// as {"error": "..."}: 400 for bad input (including a filter libpcap
// refuses or a NIC that does not exist), 403 without CAP_NET_RAW, 404 for
// an unknown tap, 409 for an id in use or a state that forbids the
// request, 503 after Close.
//
//	GET    /api/v1/taps               list
//	POST   /api/v1/taps               create (body: a Tap; "start": false to only store it)
//	GET    /api/v1/taps/nics          network interfaces
//	GET    /api/v1/taps/info          version and capabilities
//	GET    /api/v1/taps/{id}          one tap
//	DELETE /api/v1/taps/{id}          stop and delete
//	POST   /api/v1/taps/{id}/start    start
//	POST   /api/v1/taps/{id}/stop     stop
//	PATCH  /api/v1/taps/{id}/metadata merge {"metadata": {...}} (POST works too)
func (m *Manager) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/taps", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, m.List())
	})
	mux.HandleFunc("POST /api/v1/taps", m.httpCreate)
	mux.HandleFunc("GET /api/v1/taps/nics", func(w http.ResponseWriter, r *http.Request) {
		nics, err := m.NICs()
		if err != nil {
			writeErr(w, err)
			return
		}
		writeJSON(w, http.StatusOK, nics)
	})
	mux.HandleFunc("GET /api/v1/taps/info", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, m.Info())
	})
	mux.HandleFunc("GET /api/v1/taps/{id}", func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusOK)(m.Get(r.PathValue("id")))
	})
	mux.HandleFunc("DELETE /api/v1/taps/{id}", func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		if err := m.Delete(id); err != nil {
			writeErr(w, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"deleted": id})
	})
	mux.HandleFunc("POST /api/v1/taps/{id}/start", func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusOK)(m.Start(r.PathValue("id")))
	})
	mux.HandleFunc("POST /api/v1/taps/{id}/stop", func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusOK)(m.Stop(r.PathValue("id")))
	})
	mux.HandleFunc("PATCH /api/v1/taps/{id}/metadata", m.httpMetadata)
	mux.HandleFunc("POST /api/v1/taps/{id}/metadata", m.httpMetadata)
	return mux
}

func (m *Manager) httpCreate(w http.ResponseWriter, r *http.Request) {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		writeErr(w, fmt.Errorf("%w: reading the request: %v", ErrBadTap, err))
		return
	}
	var t Tap
	var opt struct {
		Start *bool `json:"start"`
	}
	if err := json.Unmarshal(data, &t); err != nil {
		writeErr(w, fmt.Errorf("%w: request body is not a tap: %v", ErrBadTap, err))
		return
	}
	if err := json.Unmarshal(data, &opt); err != nil {
		writeErr(w, fmt.Errorf("%w: request body: %v", ErrBadTap, err))
		return
	}
	start := opt.Start == nil || *opt.Start
	reply(w, http.StatusCreated)(m.Create(t, start))
}

func (m *Manager) httpMetadata(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Metadata map[string]any `json:"metadata"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	if err := dec.Decode(&body); err != nil {
		writeErr(w, fmt.Errorf("%w: body must be {\"metadata\": {...}}: %v", ErrBadTap, err))
		return
	}
	if body.Metadata == nil {
		writeErr(w, fmt.Errorf("%w: body must be {\"metadata\": {...}} with an object", ErrBadTap))
		return
	}
	reply(w, http.StatusOK)(m.Update(r.PathValue("id"), body.Metadata))
}

// reply returns a function that writes a Status or the error.
func reply(w http.ResponseWriter, code int) func(Status, error) {
	return func(st Status, err error) {
		if err != nil {
			writeErr(w, err)
			return
		}
		writeJSON(w, code, st)
	}
}

// httpStatus maps this package's errors to HTTP status codes.
func httpStatus(err error) int {
	switch {
	case errors.Is(err, ErrBadTap), errors.Is(err, bpf.ErrSyntax), errors.Is(err, bpf.ErrNoCompiler),
		errors.Is(err, errVentPayload):
		return http.StatusBadRequest
	case errors.Is(err, ErrPermission):
		return http.StatusForbidden
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrExists), errors.Is(err, ErrState):
		return http.StatusConflict
	case errors.Is(err, ErrClosed):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func writeErr(w http.ResponseWriter, err error) {
	writeJSON(w, httpStatus(err), map[string]string{"error": err.Error()})
}
