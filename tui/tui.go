// Package tui is ventapp's terminal user interface: the overview, jobs,
// plugins, taps and search screens of the daemon, refreshed by polling its
// API, in the spirit of vent's menus. Keys: tab and shift+tab (or ←/→, or
// 1–5) switch screens, ↑/↓ move, enter opens, q goes back (and quits from
// the overview), ^X opens the action menu, ^C quits. It fits an 80×24
// terminal, follows resizes, honours NO_COLOR through Options.NoColor and
// shows "reconnecting…" while the daemon does not answer.
package tui

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"

	"github.com/ventapp/ventapp/capture"
	"github.com/ventapp/ventapp/engine"
	"github.com/ventapp/ventapp/gpu"
	"github.com/ventapp/ventapp/index"
	"github.com/ventapp/ventapp/jobs"
	"github.com/ventapp/ventapp/plugins"
)

// DefaultInterval is how often the screens refresh.
const DefaultInterval = 2 * time.Second

// Options configure the TUI.
type Options struct {
	// NoColor turns every colour and text attribute off (NO_COLOR).
	NoColor bool
	// Interval is the refresh period; 0 means DefaultInterval.
	Interval time.Duration
	// Output is the terminal, used to pick the colour profile; nil means
	// standard output.
	Output io.Writer
}

type screen int

const (
	scrOverview screen = iota
	scrJobs
	scrPlugins
	scrTaps
	scrSearch
	scrJob // one job, opened from jobs or search
)

var tabs = []struct {
	s    screen
	name string
}{
	{scrOverview, "Overview"}, {scrJobs, "Jobs"}, {scrPlugins, "Plugins"}, {scrTaps, "Taps"},
	{scrSearch, "Search"},
}

// stateFilters are the job states the jobs screen cycles through with f.
var stateFilters = []string{"", "queued", "running", "done", "failed", "cancelled"}

// menuItem is one line of the ^X action menu.
type menuItem struct {
	label string
	run   func(m *Model) tea.Cmd
}

// Model is the bubbletea model of the TUI.
type Model struct {
	c        Client
	interval time.Duration
	st       styles

	width, height int
	screen        screen
	back          screen // where q goes from the job screen
	gen           int    // bumps when the screen changes; older refreshes are dropped
	cursor        map[screen]int

	offline  bool
	everOK   bool
	lastErr  string
	flash    string
	flashBad bool

	status     *engine.Status
	jobList    []jobs.Job
	jobsErr    string
	stateIdx   int
	job        *jobs.Job
	jobID      string
	jobErr     string
	pluginList []*plugins.Plugin
	pluginErr  string
	taps       []capture.Status
	tapsErr    string
	tapsNA     bool
	gpus       []gpu.Device
	gpusNA     bool

	query     string
	editing   bool
	result    *index.Result
	searchErr string
	offset    int

	menu       []menuItem
	menuCursor int
}

// New returns the model for a daemon reached through c.
func New(c Client, opts Options) *Model {
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	return &Model{
		c: c, interval: opts.Interval, st: newStyles(opts),
		width: 80, height: 24, cursor: map[screen]int{},
	}
}

// Run shows the TUI on the terminal until the user quits or ctx ends.
func Run(ctx context.Context, c Client, in io.Reader, out io.Writer, opts Options) error {
	if opts.Output == nil {
		opts.Output = out
	}
	// The screen changes at most every refresh or key press, so 20 frames a
	// second is plenty; bubbletea's default 60 costs CPU on an idle box.
	p := tea.NewProgram(New(c, opts), tea.WithContext(ctx), tea.WithInput(in), tea.WithOutput(out),
		tea.WithAltScreen(), tea.WithFPS(20))
	_, err := p.Run()
	if err != nil && ctx.Err() != nil {
		return nil
	}
	return err
}

// Init starts the first refresh and the refresh ticker.
func (m *Model) Init() tea.Cmd {
	return tea.Batch(m.refresh(), m.tick())
}

func (m *Model) tick() tea.Cmd {
	return tea.Tick(m.interval, func(time.Time) tea.Msg { return tickMsg{} })
}

func (m *Model) refresh() tea.Cmd {
	q := url.Values{}
	if s := stateFilters[m.stateIdx]; s != "" {
		q.Set("state", s)
	}
	return fetch(m.c, m.gen, m.screen, q, m.jobID)
}

// Update handles one message.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		return m, nil
	case tickMsg:
		return m, tea.Batch(m.refresh(), m.tick())
	case refreshMsg:
		m.apply(msg)
		return m, nil
	case searchMsg:
		m.result, m.searchErr = nil, ""
		if msg.err != nil {
			m.searchErr = msg.err.Error()
			m.noteErr(msg.err)
			return m, nil
		}
		m.result = &msg.res
		m.cursor[scrSearch] = 0
		return m, nil
	case actionMsg:
		if msg.err != nil {
			m.setFlash(msg.err.Error(), true)
			m.noteErr(msg.err)
		} else {
			m.setFlash(msg.done, false)
		}
		return m, m.refresh()
	case tea.KeyMsg:
		return m, m.key(msg)
	}
	return m, nil
}

// noteErr switches to "reconnecting" for errors that mean no answer.
func (m *Model) noteErr(err error) {
	if isUnreachable(err) {
		m.offline = true
		m.lastErr = err.Error()
	}
}

func (m *Model) setFlash(s string, bad bool) { m.flash, m.flashBad = s, bad }

// apply stores a refresh's results, if it is for the current screen.
func (m *Model) apply(r refreshMsg) {
	if r.err != nil {
		if isUnreachable(r.err) {
			m.offline = true
			m.lastErr = r.err.Error()
			return
		}
		m.lastErr = r.err.Error()
	} else {
		m.status = &r.status
	}
	m.offline = false
	m.everOK = true
	if r.gen != m.gen {
		return
	}

	switch m.screen {
	case scrOverview:
		m.taps, m.tapsNA, m.tapsErr = r.taps, isNotFound(r.tapsErr), errText(r.tapsErr)
		m.gpus, m.gpusNA = r.gpus, r.gpusErr != nil
	case scrJobs:
		m.jobList, m.jobsErr = r.jobs, errText(r.jobsErr)
	case scrJob:
		m.jobErr = errText(r.jobErr)
		if r.job != nil {
			m.job = r.job
		}
	case scrPlugins:
		m.pluginList, m.pluginErr = r.plugins, errText(r.pluginErr)
	case scrTaps:
		m.taps, m.tapsNA, m.tapsErr = r.taps, isNotFound(r.tapsErr), errText(r.tapsErr)
	}
	m.clampCursor()
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// go switches to screen s and fetches its data at once.
func (m *Model) goTo(s screen) tea.Cmd {
	if s != scrJob {
		m.back = s
	}
	m.screen = s
	m.gen++
	m.flash = ""
	m.editing = s == scrSearch && m.result == nil
	return m.refresh()
}

func (m *Model) rows() int {
	switch m.screen {
	case scrJobs:
		return len(m.jobList)
	case scrPlugins:
		return len(m.pluginList)
	case scrTaps:
		return len(m.taps)
	case scrSearch:
		if m.result != nil {
			return len(m.result.Hits)
		}
	}
	return 0
}

func (m *Model) clampCursor() {
	n := m.rows()
	c := m.cursor[m.screen]
	if c >= n {
		c = n - 1
	}
	if c < 0 {
		c = 0
	}
	m.cursor[m.screen] = c
}

func (m *Model) move(d int) {
	m.cursor[m.screen] += d
	m.clampCursor()
}

// key handles one key press.
func (m *Model) key(k tea.KeyMsg) tea.Cmd {
	if k.Type == tea.KeyCtrlC {
		return tea.Quit
	}
	if m.menu != nil {
		return m.menuKey(k)
	}
	if k.Type == tea.KeyCtrlX {
		m.openMenu()
		return nil
	}
	if m.screen == scrSearch && m.editing {
		return m.editKey(k)
	}

	switch k.String() {
	case "q", "esc":
		switch {
		case m.screen == scrJob:
			return m.goTo(m.back)
		case m.screen != scrOverview:
			return m.goTo(scrOverview)
		case k.String() == "q":
			return tea.Quit
		}
		return nil
	case "tab", "right", "l":
		return m.goTo(tabs[(m.tabIndex()+1)%len(tabs)].s)
	case "shift+tab", "left", "h":
		return m.goTo(tabs[(m.tabIndex()+len(tabs)-1)%len(tabs)].s)
	case "1", "2", "3", "4", "5":
		return m.goTo(tabs[int(k.Runes[0]-'1')].s)
	case "up", "k":
		m.move(-1)
	case "down", "j":
		m.move(1)
	case "pgup":
		m.move(-m.bodyHeight())
	case "pgdown":
		m.move(m.bodyHeight())
	case "home", "g":
		m.cursor[m.screen] = 0
	case "end", "G":
		m.move(m.rows())
	case "ctrl+r":
		return m.refresh()
	}

	for _, it := range m.actions() {
		if it.key == k.String() {
			return it.run(m)
		}
	}
	return nil
}

// tabIndex is the position of the current screen among the tabs; the job
// screen counts as the jobs tab.
func (m *Model) tabIndex() int {
	s := m.screen
	if s == scrJob {
		s = m.back
	}
	for i, t := range tabs {
		if t.s == s {
			return i
		}
	}
	return 0
}

// action is a key of the current screen that does something.
type action struct {
	key   string
	label string
	run   func(m *Model) tea.Cmd
}

// actions lists what the current screen offers for its selected row.
func (m *Model) actions() []action {
	var out []action
	switch m.screen {
	case scrJobs, scrJob:
		var j *jobs.Job
		if m.screen == scrJob {
			j = m.job
		} else if c := m.cursor[scrJobs]; c < len(m.jobList) {
			j = &m.jobList[c]
		}
		if m.screen == scrJobs {
			label := "filter by state (now: " + stateLabel(m.stateIdx) + ")"
			out = append(out, action{"f", label, func(m *Model) tea.Cmd {
				m.stateIdx = (m.stateIdx + 1) % len(stateFilters)
				m.cursor[scrJobs] = 0
				m.gen++
				return m.refresh()
			}})
		}
		if j != nil {
			id := j.ID
			if m.screen == scrJobs {
				out = append(out, action{"enter", "open job " + id, openJob(id)})
			}
			out = append(out,
				action{"r", "retry job " + id, jobAct(id, "retry", "job "+id+" queued again")},
				action{"c", "cancel job " + id, jobAct(id, "cancel", "job "+id+" cancelled")})
		}
	case scrPlugins:
		if c := m.cursor[scrPlugins]; c < len(m.pluginList) {
			name := m.pluginList[c].Name
			for _, a := range []struct{ key, verb, done string }{
				{"b", "build", "built"}, {"e", "enable", "enabled"}, {"d", "disable", "disabled"},
			} {
				path := "/api/v1/plugins/" + url.PathEscape(name) + "/" + a.verb
				done := name + ": " + a.done
				verb := a.verb
				out = append(out, action{a.key, a.verb + " " + name, func(m *Model) tea.Cmd {
					m.setFlash(verb+" "+name+"…", false)
					return act(m.c, http.MethodPost, path, done)
				}})
			}
			if len(m.pluginList[c].Settings.ExtTypes) > 0 {
				out = append(out, action{"p", "run " + name + " on the dropped files", func(m *Model) tea.Cmd {
					m.setFlash("queueing the dropped files for "+name+"…", false)
					return processDropped(m.c, name)
				}})
			}
		}
	case scrTaps:
		if c := m.cursor[scrTaps]; c < len(m.taps) {
			id := m.taps[c].ID
			base := "/api/v1/taps/" + url.PathEscape(id)
			out = append(out,
				action{"s", "start tap " + id, func(m *Model) tea.Cmd {
					return act(m.c, http.MethodPost, base+"/start", "tap "+id+" started")
				}},
				action{"x", "stop tap " + id, func(m *Model) tea.Cmd {
					return act(m.c, http.MethodPost, base+"/stop", "tap "+id+" stopped")
				}},
				action{"D", "delete tap " + id, func(m *Model) tea.Cmd {
					return act(m.c, http.MethodDelete, base, "tap "+id+" deleted")
				}})
		}
	case scrSearch:
		out = append(out, action{"/", "edit the query", func(m *Model) tea.Cmd {
			m.editing = true
			return nil
		}})
		if m.result != nil {
			if c := m.cursor[scrSearch]; c < len(m.result.Hits) {
				id := m.result.Hits[c].JobID
				out = append(out, action{"enter", "open job " + id, openJob(id)})
			}
			if m.offset+len(m.result.Hits) < int(m.result.Total) {
				out = append(out, action{"n", "next page", func(m *Model) tea.Cmd {
					m.offset += searchLimit
					return search(m.c, m.query, m.offset)
				}})
			}
			if m.offset > 0 {
				out = append(out, action{"p", "previous page", func(m *Model) tea.Cmd {
					m.offset = max(0, m.offset-searchLimit)
					return search(m.c, m.query, m.offset)
				}})
			}
		}
	}
	return out
}

func stateLabel(i int) string {
	if stateFilters[i] == "" {
		return "all"
	}
	return stateFilters[i]
}

func jobAct(id, verb, done string) func(m *Model) tea.Cmd {
	return func(m *Model) tea.Cmd {
		return act(m.c, http.MethodPost, "/api/v1/jobs/"+url.PathEscape(id)+"/"+verb, done)
	}
}

func openJob(id string) func(m *Model) tea.Cmd {
	return func(m *Model) tea.Cmd { return m.openJob(id) }
}

func (m *Model) openJob(id string) tea.Cmd {
	back := m.screen
	m.jobID, m.job, m.jobErr = id, nil, ""
	cmd := m.goTo(scrJob)
	m.back = back
	return cmd
}

// editKey handles typing into the search box.
func (m *Model) editKey(k tea.KeyMsg) tea.Cmd {
	switch k.Type {
	case tea.KeyEnter:
		if m.query == "" {
			return nil
		}
		m.editing = false
		m.offset = 0
		return search(m.c, m.query, 0)
	case tea.KeyEsc:
		m.editing = false
		if m.result == nil {
			return m.goTo(scrOverview)
		}
	case tea.KeyBackspace:
		if r := []rune(m.query); len(r) > 0 {
			m.query = string(r[:len(r)-1])
		}
	case tea.KeyCtrlU:
		m.query = ""
	case tea.KeyTab:
		m.editing = false
		return m.goTo(tabs[(m.tabIndex()+1)%len(tabs)].s)
	case tea.KeyRunes, tea.KeySpace:
		m.query += string(k.Runes)
	}
	return nil
}

// openMenu builds the ^X menu: the screens, then the current screen's
// actions, then refresh and quit.
func (m *Model) openMenu() {
	var items []menuItem
	for _, t := range tabs {
		s := t.s
		items = append(items, menuItem{"Go to " + t.name, func(m *Model) tea.Cmd { return m.goTo(s) }})
	}
	for _, a := range m.actions() {
		items = append(items, menuItem{a.label + "  [" + a.key + "]", a.run})
	}
	items = append(items,
		menuItem{"Refresh now  [^R]", func(m *Model) tea.Cmd { return m.refresh() }},
		menuItem{"Quit  [^C]", func(*Model) tea.Cmd { return tea.Quit }})
	m.menu, m.menuCursor = items, 0
}

func (m *Model) menuKey(k tea.KeyMsg) tea.Cmd {
	switch k.String() {
	case "q", "esc", "ctrl+x":
		m.menu = nil
	case "up", "k":
		m.menuCursor = (m.menuCursor + len(m.menu) - 1) % len(m.menu)
	case "down", "j":
		m.menuCursor = (m.menuCursor + 1) % len(m.menu)
	case "enter":
		it := m.menu[m.menuCursor]
		m.menu = nil
		return it.run(m)
	}
	return nil
}

// styles are the text styles of the screens; all plain under NO_COLOR.
type styles struct {
	title, tab, activeTab, selected, bad, ok, dim, mark lipgloss.Style
}

func newStyles(opts Options) styles {
	out := opts.Output
	if out == nil {
		out = io.Discard
	}
	r := lipgloss.NewRenderer(out)
	if opts.NoColor {
		r.SetColorProfile(termenv.Ascii)
		plain := r.NewStyle()
		return styles{plain, plain, plain, plain, plain, plain, plain, plain}
	}
	if _, isFile := out.(interface{ Fd() uintptr }); !isFile {
		r.SetColorProfile(termenv.ANSI256)
	}
	return styles{
		title:     r.NewStyle().Bold(true).Foreground(lipgloss.Color("75")),
		tab:       r.NewStyle().Foreground(lipgloss.Color("250")),
		activeTab: r.NewStyle().Bold(true).Reverse(true),
		selected:  r.NewStyle().Reverse(true),
		bad:       r.NewStyle().Foreground(lipgloss.Color("203")).Bold(true),
		ok:        r.NewStyle().Foreground(lipgloss.Color("78")),
		dim:       r.NewStyle().Foreground(lipgloss.Color("245")),
		mark:      r.NewStyle().Foreground(lipgloss.Color("0")).Background(lipgloss.Color("221")),
	}
}

func jsonUnmarshal(data []byte, v any) error { return json.Unmarshal(data, v) }

// compile-time check that Model is a tea.Model.
var _ tea.Model = (*Model)(nil)
