package web

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/ventapp/ventapp/engine"
	"github.com/ventapp/ventapp/index"
	"github.com/ventapp/ventapp/jobs"
	"github.com/ventapp/ventapp/plugins"
)

// fakeAPI answers like the daemon's API, from canned values of the real
// types, and records the state-changing calls it gets.
type fakeAPI struct {
	mu    sync.Mutex
	calls []string
	taps  bool // whether /api/v1/taps exists

	process [][]string // the paths and tools of each POST /api/v1/process
}

func (f *fakeAPI) called() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func fakeStatus() engine.Status {
	return engine.Status{
		Version: "1.2.3-test", StartedAt: time.Now().Add(-time.Hour), Uptime: "1h0m0s",
		Drop:       engine.DropStatus{Folder: "/srv/drop", FreeBytes: 5 << 30},
		Jobs:       map[string]int{"queued": 7, "running": 2, "done": 41, "failed": 3, "cancelled": 1},
		Running:    map[string]int{"zeek": 2},
		Counters:   map[string]int64{"files_seen": 12},
		Containerd: engine.ServiceStatus{Address: "/run/c.sock", Healthy: true, Version: "v2.4.2"},
		Index:      engine.IndexStatus{Dir: "/srv/index", Docs: 12345, Healthy: true},
		Plugins:    engine.PluginCounts{Installed: 4, Built: 3, Enabled: 3},
	}
}

func fakeJobs() []jobs.Job {
	now := time.Now().UTC()
	exit0, exit1 := 0, 1
	return []jobs.Job{
		{ID: "000000000003", File: "/srv/drop/http.pcap", Tool: "zeek", State: jobs.Running,
			Attempts: 1, CreatedAt: now.Add(-2 * time.Minute), StartedAt: now.Add(-time.Minute)},
		{ID: "000000000002", File: "/srv/drop/dns.pcap", Tool: "tcpdump-hex", State: jobs.Failed,
			Attempts: 1, CreatedAt: now.Add(-20 * time.Minute), StartedAt: now.Add(-19 * time.Minute),
			FinishedAt: now.Add(-18 * time.Minute), ExitCode: &exit1, Reason: "exit status 1",
			LogTail: []string{"reading dns.pcap", "boom: <bad> packet"}},
		{ID: "000000000001", File: "/srv/drop/dns.pcap", Tool: "zeek", State: jobs.Done,
			Attempts: 1, CreatedAt: now.Add(-30 * time.Minute), StartedAt: now.Add(-29 * time.Minute),
			FinishedAt: now.Add(-10 * time.Minute), ExitCode: &exit0},
	}
}

func fakeSearch() index.Result {
	return index.Result{Total: 1, Took: time.Millisecond, Hits: []index.Hit{{
		ID: "000000000001/stdout/3", Score: 1.5, JobID: "000000000001", Tool: "zeek",
		File: "/srv/drop/dns.pcap", Stream: "stdout", Line: 3, Time: time.Now().UTC(),
		Message: `query example.com <img src=x onerror=alert(1)>`,
		Fragments: map[string][]string{"message": {
			`query <mark>example.com</mark> &lt;img src=x onerror=alert(1)&gt;`}},
	}}}
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	write := func(code int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(v)
	}
	if r.Method != http.MethodGet {
		f.mu.Lock()
		f.calls = append(f.calls, r.Method+" "+r.URL.Path)
		f.mu.Unlock()
	}

	p := r.URL.Path
	switch {
	case p == "/api/v1/status":
		write(200, fakeStatus())
	case p == "/api/v1/jobs":
		var out []jobs.Job
		for _, j := range fakeJobs() {
			q := r.URL.Query()
			if (q.Get("state") == "" || string(j.State) == q.Get("state")) &&
				(q.Get("tool") == "" || j.Tool == q.Get("tool")) && strings.Contains(j.File, q.Get("file")) {
				out = append(out, j)
			}
		}
		if out == nil {
			out = []jobs.Job{}
		}
		write(200, out)
	case strings.HasPrefix(p, "/api/v1/jobs/"):
		id, act, _ := strings.Cut(strings.TrimPrefix(p, "/api/v1/jobs/"), "/")
		for _, j := range fakeJobs() {
			if j.ID == id {
				if act == "cancel" && j.State.Final() {
					write(409, map[string]string{"error": "job " + id + " is already " + string(j.State)})
					return
				}
				write(200, j)
				return
			}
		}
		write(404, map[string]string{"error": "job " + id + ": not found"})
	case p == "/api/v1/plugins":
		zeek := &plugins.Plugin{Name: "zeek", LinkName: "zeek", Image: "ventapp/zeek:latest",
			Enabled: true, Built: true}
		zeek.Settings.ExtTypes = []string{"pcap", "pcapng"}
		write(200, []*plugins.Plugin{zeek, {Name: "kibana", LinkName: "kibana", Image: "ventapp/kibana:latest",
			Enabled: true, Built: true}})
	case p == "/api/v1/process":
		var req struct{ Paths, Tools []string }
		json.NewDecoder(r.Body).Decode(&req)
		f.mu.Lock()
		f.process = append(f.process, req.Paths, req.Tools)
		f.mu.Unlock()
		write(200, []engine.ProcessResult{
			{File: "/srv/drop/old.pcap", Jobs: []jobs.Job{{ID: "000000000010", Tool: "zeek"}}},
			{File: "/srv/drop/older.pcap", Jobs: []jobs.Job{{ID: "000000000011", Tool: "zeek"}}},
			{File: "/srv/drop/dns.pcap", Note: "already has a job from zeek for this content"},
		})
	case strings.HasPrefix(p, "/api/v1/plugins/"):
		write(200, map[string]string{"name": "zeek"})
	case p == "/api/v1/search":
		q := r.URL.Query().Get("q")
		if strings.Contains(q, "(") {
			write(400, map[string]string{"error": `bad query: "` + q +
				`": parse error: syntax error: unexpected tLPAREN`})
			return
		}
		write(200, fakeSearch())
	case p == "/api/v1/taps" && f.taps:
		write(200, []map[string]any{})
	default:
		write(404, map[string]string{"error": "no such route " + p})
	}
}
