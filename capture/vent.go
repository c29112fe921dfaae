package capture

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// VentHandler serves vent's network_tap (ncontrol) routes so that existing
// callers keep working:
//
//	POST /create  {"nic","id","interval","iters","filter"?,"metadata"?}: create and start
//	POST /start   {"id": [ids]}
//	POST /stop    {"id": [ids]}
//	POST /delete  {"id": [ids]}  (a running tap is stopped first)
//	POST /update  {"id","metadata"}: merge metadata
//	GET  /list    JSON array of {"id","status","args"} plus ventapp's state
//	GET  /nics    interface names, one a line
//	GET  /info    {"version": ...}
//
// Values may be strings, as vent required, or numbers; id may be one
// string or a list. Answers keep vent's text/plain Python-tuple form,
// "(True, ...)" or "(False, '...')", but the status code tells the truth
// where vent always sent 200: 400 for a bad payload or filter, 403
// without CAP_NET_RAW, 404 for an unknown id, 405 for a wrong method, 409
// for an id in use or a tap in the wrong state, 500 otherwise. A string id
// is one id, where vent walked its characters. The listener sends no CORS
// headers (vent allowed every origin).
func (m *Manager) VentHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/create", m.ventPost(m.ventCreate))
	mux.HandleFunc("/start", m.ventPost(m.ventEach("started", func(id string) error {
		_, err := m.Start(id)
		return err
	})))
	mux.HandleFunc("/stop", m.ventPost(m.ventEach("stopped", func(id string) error {
		_, err := m.Stop(id)
		return err
	})))
	mux.HandleFunc("/delete", m.ventPost(m.ventEach("deleted", m.Delete)))
	mux.HandleFunc("/update", m.ventPost(m.ventUpdate))
	mux.HandleFunc("/list", m.ventGet(m.ventList))
	mux.HandleFunc("/nics", m.ventGet(m.ventNICs))
	mux.HandleFunc("/info", m.ventGet(func(w http.ResponseWriter, _ *http.Request) {
		info := m.Info()
		writeJSON(w, http.StatusOK, map[string]any{"version": info.Version, "capabilities": info.Capabilities})
	}))
	return mux
}

func (m *Manager) ventPost(fn func(http.ResponseWriter, []byte)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			ventText(w, http.StatusMethodNotAllowed, false, pyRepr(r.URL.Path+" takes POST"))
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
		if err != nil {
			ventText(w, http.StatusBadRequest, false, pyRepr("malformed payload: "+err.Error()))
			return
		}
		fn(w, body)
	}
}

func (m *Manager) ventGet(fn http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			ventText(w, http.StatusMethodNotAllowed, false, pyRepr(r.URL.Path+" takes GET"))
			return
		}
		fn(w, r)
	}
}

// ventText writes vent's "(True, body)" / "(False, body)" answer; body is
// already in Python repr form.
func ventText(w http.ResponseWriter, code int, ok bool, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	flag := "False"
	if ok {
		flag = "True"
	}
	fmt.Fprintf(w, "(%s, %s)", flag, body)
}

func ventErr(w http.ResponseWriter, err error) {
	ventText(w, httpStatus(err), false, pyRepr(err.Error()))
}

func (m *Manager) ventCreate(w http.ResponseWriter, body []byte) {
	t, err := parseVentCreate(body)
	if err != nil {
		ventErr(w, err)
		return
	}
	if _, err := m.Create(t, true); err != nil {
		ventErr(w, err)
		return
	}
	ventText(w, http.StatusOK, true, pyRepr(fmt.Sprintf("tap %s created and capturing on %s", t.ID, t.NIC)))
}

// ventEach applies act to every id in the payload. All succeed: (True,
// [ids]). Otherwise the first failure's status code and every failure in
// the message; the ids that did succeed are named too.
func (m *Manager) ventEach(verb string, act func(string) error) func(http.ResponseWriter, []byte) {
	return func(w http.ResponseWriter, body []byte) {
		ids, err := parseVentIDs(body)
		if err != nil {
			ventErr(w, err)
			return
		}
		var okIDs, msgs []string
		var first error
		for _, id := range ids {
			if err := act(id); err != nil {
				if first == nil {
					first = err
				}
				msgs = append(msgs, err.Error())
				continue
			}
			okIDs = append(okIDs, id)
		}
		if first == nil {
			ventText(w, http.StatusOK, true, pyList(okIDs))
			return
		}
		msg := strings.Join(msgs, "; ")
		if len(okIDs) > 0 {
			msg += "; " + verb + ": " + strings.Join(okIDs, ", ")
		}
		ventText(w, httpStatus(first), false, pyRepr(msg))
	}
}

func (m *Manager) ventUpdate(w http.ResponseWriter, body []byte) {
	id, md, err := parseVentUpdate(body)
	if err != nil {
		ventErr(w, err)
		return
	}
	if _, err := m.Update(id, md); err != nil {
		ventErr(w, err)
		return
	}
	ventText(w, http.StatusOK, true, pyRepr("updated metadata of tap "+id))
}

// ventListItem is one entry of /list: vent's fields, then ventapp's.
type ventListItem struct {
	ID     string   `json:"id"`
	Status string   `json:"status"` // Docker's word for the state
	Args   []string `json:"args"`   // what vent passed its capture script
	State  State    `json:"state"`
	Reason string   `json:"reason,omitempty"`
	Stats  Stats    `json:"stats"`
}

func (m *Manager) ventList(w http.ResponseWriter, _ *http.Request) {
	out := []ventListItem{}
	for _, st := range m.List() {
		c := st.Config
		out = append(out, ventListItem{
			ID: st.ID, Status: dockerStatus(st.State), State: st.State, Reason: st.Reason, Stats: st.Stats,
			Args: []string{c.NIC, strconv.FormatFloat(c.Interval.Seconds(), 'f', -1, 64), c.ID,
				strconv.Itoa(c.Iters), c.Filter},
		})
	}
	writeJSON(w, http.StatusOK, out)
}

// dockerStatus names a tap state the way Docker named container states.
func dockerStatus(s State) string {
	switch s {
	case StateRunning:
		return "running"
	case StateRetrying:
		return "restarting"
	case StateCreated:
		return "created"
	}
	return "exited"
}

func (m *Manager) ventNICs(w http.ResponseWriter, _ *http.Request) {
	nics, err := m.NICs()
	if err != nil {
		ventErr(w, err)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	for _, n := range nics {
		fmt.Fprintln(w, n.Name)
	}
}
