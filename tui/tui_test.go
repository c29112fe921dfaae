package tui

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"

	"github.com/ventapp/ventapp/api"
	"github.com/ventapp/ventapp/capture"
	"github.com/ventapp/ventapp/engine"
	"github.com/ventapp/ventapp/index"
	"github.com/ventapp/ventapp/jobs"
	"github.com/ventapp/ventapp/plugins"
)

// fakeDaemon answers like the daemon's API with canned values of the real
// types, on a Unix socket, so the TUI talks to it through *api.Client.
type fakeDaemon struct {
	mu    sync.Mutex
	calls []string
	taps  bool
	srv   *httptest.Server
	sock  string

	process []api.ProcessRequest
}

func startFake(t *testing.T, taps bool) *fakeDaemon {
	t.Helper()
	f := &fakeDaemon{taps: taps, sock: filepath.Join(t.TempDir(), "api.sock")}
	f.start(t)
	t.Cleanup(func() { f.srv.Close() })
	return f
}

func (f *fakeDaemon) start(t *testing.T) {
	t.Helper()
	l, err := net.Listen("unix", f.sock)
	if err != nil {
		t.Fatal(err)
	}
	f.srv = httptest.NewUnstartedServer(f)
	f.srv.Listener = l
	f.srv.Start()
}

func (f *fakeDaemon) called() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func testJobs() []jobs.Job {
	now := time.Now().UTC()
	exit1 := 1
	return []jobs.Job{
		{ID: "000000000002", File: "/srv/drop/dns.pcap", Tool: "tcpdump-hex", State: jobs.Failed, Attempts: 1,
			CreatedAt: now.Add(-time.Hour), StartedAt: now.Add(-50 * time.Minute),
			FinishedAt: now.Add(-49 * time.Minute), ExitCode: &exit1, Reason: "exit status 1",
			LogTail: []string{"reading dns.pcap", "boom \x1b[31mred\x1b[0m"}},
		{ID: "000000000001", File: "/srv/drop/" + strings.Repeat("long-name-", 12) + ".pcap", Tool: "zeek",
			State: jobs.Queued, CreatedAt: now.Add(-2 * time.Hour)},
	}
}

func (f *fakeDaemon) ServeHTTP(w http.ResponseWriter, r *http.Request) {
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
		write(200, engine.Status{Version: "1.2.3-test", Uptime: "5m0s",
			Drop:       engine.DropStatus{Folder: "/srv/drop", FreeBytes: 3 << 30},
			Jobs:       map[string]int{"queued": 7, "running": 2, "done": 41, "failed": 3, "cancelled": 1},
			Containerd: engine.ServiceStatus{Healthy: true, Version: "v2.4.2"},
			Index:      engine.IndexStatus{Healthy: true, Docs: 12345},
			Plugins:    engine.PluginCounts{Installed: 4, Built: 3, Enabled: 3}})
	case p == "/api/v1/jobs":
		var out []jobs.Job
		for _, j := range testJobs() {
			if st := r.URL.Query().Get("state"); st == "" || string(j.State) == st {
				out = append(out, j)
			}
		}
		write(200, append([]jobs.Job{}, out...))
	case strings.HasPrefix(p, "/api/v1/jobs/"):
		id, _, _ := strings.Cut(strings.TrimPrefix(p, "/api/v1/jobs/"), "/")
		for _, j := range testJobs() {
			if j.ID == id {
				write(200, j)
				return
			}
		}
		write(404, api.Error{Error: "job " + id + ": not found"})
	case p == "/api/v1/plugins":
		zeek := &plugins.Plugin{Name: "zeek", Image: "ventapp/zeek", Built: true, Enabled: true}
		zeek.Settings.ExtTypes = []string{"pcap"}
		write(200, []*plugins.Plugin{zeek,
			{Name: "pcap-stats", Image: "ventapp/pcap-stats", BuildError: "step 3: exit 1"}})
	case p == "/api/v1/process":
		var req api.ProcessRequest
		json.NewDecoder(r.Body).Decode(&req)
		f.mu.Lock()
		f.process = append(f.process, req)
		f.mu.Unlock()
		write(200, []engine.ProcessResult{{File: "/srv/drop/old.pcap", Jobs: []jobs.Job{{ID: "000000000009"}}},
			{File: "/srv/drop/dns.pcap", Note: "already has a job from zeek for this content"}})
	case strings.HasPrefix(p, "/api/v1/plugins/"):
		write(200, map[string]string{})
	case p == "/api/v1/search":
		q := r.URL.Query().Get("q")
		if strings.Contains(q, "(") {
			write(400, api.Error{Error: `bad query: "` + q + `": syntax error: unexpected tLPAREN`})
			return
		}
		write(200, index.Result{Total: 1, Hits: []index.Hit{{JobID: "000000000002", Tool: "zeek",
			Stream: "stdout", Line: 3, Message: "query example.com <b>",
			Fragments: map[string][]string{"message": {"query <mark>example.com</mark> &lt;b&gt;"}}}}})
	case strings.HasPrefix(p, "/api/v1/taps") && f.taps:
		if r.Method != http.MethodGet {
			write(200, map[string]string{})
			return
		}
		write(200, []capture.Status{{ID: "edge", Config: capture.Tap{ID: "edge", NIC: "eth0", Filter: "tcp"},
			State: "running", Stats: capture.Stats{Packets: 1000, KernelDrops: 5, Files: 2}}})
	default:
		write(404, api.Error{Error: "no such route " + p})
	}
}

// drive runs cmd and feeds what it returns back into m, as bubbletea
// would, except for timers; it reports whether the model asked to quit.
func drive(t *testing.T, m *Model, cmd tea.Cmd) (quit bool) {
	t.Helper()
	queue := []tea.Cmd{cmd}
	for n := 0; len(queue) > 0; n++ {
		if n > 50 {
			t.Fatal("too many commands")
		}
		c := queue[0]
		queue = queue[1:]
		if c == nil {
			continue
		}
		switch msg := c().(type) {
		case tea.QuitMsg:
			return true
		case tea.BatchMsg:
			queue = append(queue, msg...)
		case nil, tickMsg:
		default:
			_, next := m.Update(msg)
			queue = append(queue, next)
		}
	}
	return false
}

// press sends keys: named keys ("tab", "enter", "ctrl+x", …) or runes.
func press(t *testing.T, m *Model, keys ...string) bool {
	t.Helper()
	named := map[string]tea.KeyType{"tab": tea.KeyTab, "shift+tab": tea.KeyShiftTab, "enter": tea.KeyEnter,
		"esc": tea.KeyEsc, "up": tea.KeyUp, "down": tea.KeyDown, "ctrl+x": tea.KeyCtrlX,
		"ctrl+c":    tea.KeyCtrlC,
		"backspace": tea.KeyBackspace}
	for _, k := range keys {
		msg := tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(k)}
		if kt, ok := named[k]; ok {
			msg = tea.KeyMsg{Type: kt}
		}
		_, cmd := m.Update(msg)
		if drive(t, m, cmd) {
			return true
		}
	}
	return false
}

// screenOf checks the 80×24 (or current size) invariants and returns the
// view with escape sequences removed.
func screenOf(t *testing.T, m *Model) string {
	t.Helper()
	v := m.View()
	lines := strings.Split(v, "\n")
	if len(lines) != m.height {
		t.Fatalf("view has %d lines, want %d:\n%s", len(lines), m.height, ansi.Strip(v))
	}
	for i, l := range lines {
		if w := ansi.StringWidth(l); w > m.width {
			t.Fatalf("line %d is %d columns wide, over %d: %q", i, w, m.width, ansi.Strip(l))
		}
	}
	return ansi.Strip(v)
}

func newModel(t *testing.T, f *fakeDaemon, opts Options) *Model {
	t.Helper()
	opts.Interval = time.Millisecond // drive runs tick commands and drops their messages
	m := New(api.NewClient(f.sock), opts)
	m.Update(tea.WindowSizeMsg{Width: 80, Height: 24})
	drive(t, m, m.refresh())
	return m
}

func mustContain(t *testing.T, screen string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(screen, w) {
			t.Fatalf("screen lacks %q:\n%s", w, screen)
		}
	}
}

func TestOverview(t *testing.T) {
	m := newModel(t, startFake(t, false), Options{NoColor: true})
	s := screenOf(t, m)
	mustContain(t, s, "[1 Overview]", "/srv/drop (3.0 GiB free)",
		"queued 7 · running 2 · done 41 · failed 3 · cancelled 1", "ok v2.4.2", "ok, 12345 documents",
		"4 installed, 3 built, 3 enabled", "Taps         not available", "GPUs         not available",
		"^X menu")
	if strings.Contains(s, "reconnecting") {
		t.Fatal("reconnecting shown while the daemon answers")
	}
}

func TestJobsNavigation(t *testing.T) {
	f := startFake(t, false)
	m := newModel(t, f, Options{NoColor: true})

	press(t, m, "tab")
	s := screenOf(t, m)
	mustContain(t, s, "[2 Jobs]", "000000000002 failed", "tcpdump-hex", "000000000001 queued", "…",
		"-long-name-.pcap")

	press(t, m, "f", "f", "f", "f") // all → queued → running → done → failed
	s = screenOf(t, m)
	mustContain(t, s, "state: failed")
	if strings.Contains(s, "000000000001") {
		t.Fatalf("the queued job shows under the failed filter:\n%s", s)
	}
	press(t, m, "f", "f") // → cancelled → all

	press(t, m, "down", "up", "enter")
	s = screenOf(t, m)
	mustContain(t, s, "Job          000000000002  failed", "Exit code    1", "Reason       exit status 1",
		"(ran 1m0s)", "boom [31mred[0m")
	if strings.Contains(m.View(), "\x1b[31m") {
		t.Fatal("an escape sequence from the log reached the terminal")
	}

	press(t, m, "r")
	mustContain(t, screenOf(t, m), "job 000000000002 queued again")
	if !slices.Contains(f.called(), "POST /api/v1/jobs/000000000002/retry") {
		t.Fatalf("calls %q", f.called())
	}

	press(t, m, "q")
	mustContain(t, screenOf(t, m), "[2 Jobs]", "JOB")
	press(t, m, "q")
	mustContain(t, screenOf(t, m), "[1 Overview]")
	if !press(t, m, "q") {
		t.Fatal("q on the overview does not quit")
	}
}

func TestMenu(t *testing.T) {
	f := startFake(t, true)
	m := newModel(t, f, Options{NoColor: true})
	press(t, m, "ctrl+x")
	s := screenOf(t, m)
	mustContain(t, s, "Actions", "› Go to Overview", "Go to Plugins", "Quit")

	press(t, m, "down", "down", "enter")
	s = screenOf(t, m)
	mustContain(t, s, "[3 Plugins]", "zeek", "pcap-stats", "build error: step 3: exit 1")

	press(t, m, "down", "ctrl+x")
	mustContain(t, screenOf(t, m), "build pcap-stats  [b]")
	press(t, m, "q")
	if m.menu != nil {
		t.Fatal("q does not close the menu")
	}
	press(t, m, "b")
	mustContain(t, screenOf(t, m), "pcap-stats: built")
	if !slices.Contains(f.called(), "POST /api/v1/plugins/pcap-stats/build") {
		t.Fatalf("calls %q", f.called())
	}
	press(t, m, "ctrl+x")
	if s := screenOf(t, m); !strings.Contains(s, "build pcap-stats") || strings.Contains(s, "run pcap-stats") {
		t.Errorf("menu of a plugin without file types:\n%s", s)
	}
	press(t, m, "q", "up", "ctrl+x")
	mustContain(t, screenOf(t, m), "run zeek on the dropped files  [p]")
	press(t, m, "q", "p")
	mustContain(t, screenOf(t, m), "zeek: 1 job queued for 1 file already in the drop folder")
	f.mu.Lock()
	sent := f.process
	f.mu.Unlock()
	if len(sent) != 1 || !slices.Equal(sent[0].Paths, []string{"/srv/drop"}) ||
		!slices.Equal(sent[0].Tools, []string{"zeek"}) {
		t.Errorf("process requests %+v, want the drop folder for zeek", sent)
	}
	if !press(t, m, "ctrl+x", "up", "enter") {
		t.Fatal("the menu's last item does not quit")
	}
}

func TestTaps(t *testing.T) {
	m := newModel(t, startFake(t, false), Options{NoColor: true})
	press(t, m, "4")
	mustContain(t, screenOf(t, m), "[4 Taps]", "taps not available on this daemon")

	f := startFake(t, true)
	m = newModel(t, f, Options{NoColor: true})
	mustContain(t, screenOf(t, m), "1 taps, 1 running · 1000 packets, 5 dropped")
	press(t, m, "4")
	mustContain(t, screenOf(t, m), "edge", "eth0", "running", "1000", "tcp")
	press(t, m, "x", "s", "D")
	want := []string{"POST /api/v1/taps/edge/stop", "POST /api/v1/taps/edge/start",
		"DELETE /api/v1/taps/edge"}
	if !slices.Equal(f.called(), want) {
		t.Fatalf("calls %q, want %q", f.called(), want)
	}
}

func TestSearch(t *testing.T) {
	m := newModel(t, startFake(t, false), Options{NoColor: true})
	press(t, m, "5")
	if !m.editing {
		t.Fatal("the search screen does not start in the query box")
	}
	press(t, m, "t", "o", "o", "l", ":", "(", "q")
	press(t, m, "enter")
	mustContain(t, screenOf(t, m), "query: tool:(q", "syntax error: unexpected tLPAREN")

	press(t, m, "/", "ctrl+u")
	m.Update(tea.KeyMsg{Type: tea.KeyCtrlU})
	press(t, m, "e", "x", "enter")
	s := screenOf(t, m)
	mustContain(t, s, "1 matching lines, showing 1–1", "000000000002 zeek stdout:3 query example.com <b>")
	if strings.Contains(s, "syntax error") {
		t.Fatal("the old error stays after a good query")
	}

	press(t, m, "enter")
	mustContain(t, screenOf(t, m), "Job          000000000002")
	press(t, m, "q")
	mustContain(t, screenOf(t, m), "[5 Search]", "example.com")
}

func TestReconnecting(t *testing.T) {
	f := startFake(t, false)
	m := newModel(t, f, Options{NoColor: true})
	f.srv.CloseClientConnections()
	f.srv.Close()

	_, cmd := m.Update(tickMsg{})
	drive(t, m, cmd)
	s := screenOf(t, m)
	mustContain(t, s, "reconnecting…", "daemon unreachable", "queued 7")

	press(t, m, "tab") // screens still work while offline
	mustContain(t, screenOf(t, m), "[2 Jobs]", "reconnecting…")

	f.start(t)
	_, cmd = m.Update(tickMsg{})
	drive(t, m, cmd)
	s = screenOf(t, m)
	if strings.Contains(s, "reconnecting") {
		t.Fatalf("still reconnecting after the daemon came back:\n%s", s)
	}
	mustContain(t, s, "000000000002")
}

func TestNeverConnected(t *testing.T) {
	m := New(api.NewClient(filepath.Join(t.TempDir(), "none.sock")), Options{NoColor: true})
	drive(t, m, m.refresh())
	mustContain(t, screenOf(t, m), "reconnecting…", "waiting for the daemon")
}

func TestNoColor(t *testing.T) {
	f := startFake(t, false)
	plain := newModel(t, f, Options{NoColor: true})
	press(t, plain, "5", "e", "x", "enter")
	if v := plain.View(); strings.Contains(v, "\x1b") {
		t.Fatalf("NO_COLOR view has escape sequences: %q", v)
	}
	if !strings.Contains(plain.View(), "› ") {
		t.Fatal("the selected row is not marked without colour")
	}

	colour := newModel(t, f, Options{})
	press(t, colour, "5", "e", "x", "enter")
	if v := colour.View(); !strings.Contains(v, "\x1b[") {
		t.Fatalf("colour view has no styling: %q", v)
	}
}

func TestResize(t *testing.T) {
	m := newModel(t, startFake(t, false), Options{})
	press(t, m, "tab")
	sizes := []tea.WindowSizeMsg{{Width: 40, Height: 10}, {Width: 200, Height: 50}, {Width: 80, Height: 24},
		{Width: 10, Height: 3}}
	for _, sz := range sizes {
		m.Update(sz)
		screenOf(t, m)
	}
}

func TestScrollKeepsSelectionVisible(t *testing.T) {
	m := newModel(t, startFake(t, false), Options{NoColor: true})
	m.Update(tea.WindowSizeMsg{Width: 80, Height: 8})
	press(t, m, "tab", "down")
	mustContain(t, screenOf(t, m), "› 000000000001")
}

func TestRunQuits(t *testing.T) {
	f := startFake(t, false)
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := Run(ctx, api.NewClient(f.sock), strings.NewReader("q"), &out, Options{NoColor: true})
	if err != nil {
		t.Fatal(err)
	}
	if ctx.Err() != nil {
		t.Fatal("q did not end the program")
	}
}
