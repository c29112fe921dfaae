package tui

import (
	"fmt"
	"strings"
	"time"

	"github.com/charmbracelet/x/ansi"

	"github.com/ventapp/ventapp/jobs"
)

// Smallest size the layout is computed for; a smaller terminal gets the
// layout cut to fit.
const (
	minWidth  = 40
	minHeight = 10
)

// chrome is the number of lines around the body: tabs, rule, flash, help.
const chrome = 4

// View renders the screen: exactly height lines, none wider than width.
func (m *Model) View() string {
	w, h := max(m.width, 1), max(m.height, 1)

	var body []string
	if m.menu != nil {
		body = m.viewMenu()
	} else {
		body = m.viewBody()
	}
	body = m.scroll(body)

	lines := []string{m.viewTabs(), m.st.dim.Render(strings.Repeat("─", max(w, minWidth)))}
	lines = append(lines, body...)
	for len(lines) < h-2 {
		lines = append(lines, "")
	}
	lines = lines[:max(0, h-2)]
	lines = append(lines, m.viewFlash(), m.st.dim.Render(m.helpLine()))
	if len(lines) > h {
		lines = lines[len(lines)-h:]
	}
	for i, l := range lines {
		lines[i] = ansi.Truncate(l, w, "…")
	}
	return strings.Join(lines, "\n")
}

// bodyHeight is how many body lines fit.
func (m *Model) bodyHeight() int {
	return max(1, max(m.height, minHeight)-chrome)
}

// scroll keeps the selected row (marked by a leading "›") in view.
func (m *Model) scroll(body []string) []string {
	n := m.bodyHeight()
	if len(body) <= n {
		return body
	}
	sel := 0
	for i, l := range body {
		if strings.HasPrefix(ansi.Strip(l), "›") {
			sel = i
			break
		}
	}
	start := 0
	if sel >= n-1 {
		start = sel - n + 2
	}
	if start+n > len(body) {
		start = len(body) - n
	}
	return body[start : start+n]
}

func (m *Model) viewTabs() string {
	var b strings.Builder
	b.WriteString(m.st.title.Render("ventapp"))
	active := m.tabIndex()
	for i, t := range tabs {
		b.WriteString(" ")
		label := fmt.Sprintf("%d %s", i+1, t.name)
		if i == active {
			b.WriteString(m.st.activeTab.Render("[" + label + "]"))
		} else {
			b.WriteString(m.st.tab.Render(" " + label + " "))
		}
	}
	switch {
	case m.offline:
		b.WriteString("  " + m.st.bad.Render("reconnecting…"))
	case !m.everOK:
		b.WriteString("  " + m.st.dim.Render("connecting…"))
	}
	return b.String()
}

func (m *Model) viewFlash() string {
	switch {
	case m.offline:
		return m.st.bad.Render("daemon unreachable: " + m.lastErr)
	case m.flash != "" && m.flashBad:
		return m.st.bad.Render(m.flash)
	case m.flash != "":
		return m.st.ok.Render(m.flash)
	}
	return ""
}

func (m *Model) helpLine() string {
	if m.menu != nil {
		return "↑↓ choose · enter run · q close"
	}
	if m.screen == scrSearch && m.editing {
		return "type a query · enter search · esc stop editing · ^U clear"
	}
	keys := []string{"tab screens", "↑↓ move"}
	for _, a := range m.actions() {
		if a.key == "enter" || a.key == "f" || a.key == "/" || a.key == "n" {
			keys = append(keys, a.key+" "+strings.Fields(a.label)[0])
		}
	}
	return strings.Join(append(keys, "^X menu", "q back"), " · ")
}

func (m *Model) viewMenu() []string {
	out := []string{m.st.title.Render("Actions"), ""}
	for i, it := range m.menu {
		out = append(out, m.row(i == m.menuCursor, it.label))
	}
	return out
}

// row renders one selectable line.
func (m *Model) row(selected bool, text string) string {
	if selected {
		return m.st.selected.Render("› " + text)
	}
	return "  " + text
}

func (m *Model) viewBody() []string {
	if !m.everOK && m.status == nil {
		return []string{"", "  waiting for the daemon…"}
	}
	switch m.screen {
	case scrOverview:
		return m.viewOverview()
	case scrJobs:
		return m.viewJobs()
	case scrJob:
		return m.viewJob()
	case scrPlugins:
		return m.viewPlugins()
	case scrTaps:
		return m.viewTaps()
	case scrSearch:
		return m.viewSearch()
	}
	return nil
}

func (m *Model) viewOverview() []string {
	s := m.status
	if s == nil {
		return []string{"  no status yet: " + m.lastErr}
	}
	health := func(ok bool, good, bad string) string {
		if ok {
			return m.st.ok.Render(good)
		}
		return m.st.bad.Render(bad)
	}
	out := []string{
		kv("Drop folder", fmt.Sprintf("%s (%s free)", s.Drop.Folder, humanBytes(s.Drop.FreeBytes))),
		kv("Jobs", fmt.Sprintf("queued %d · running %d · done %d · failed %d · cancelled %d",
			s.Jobs["queued"], s.Jobs["running"], s.Jobs["done"], s.Jobs["failed"], s.Jobs["cancelled"])),
		kv("Containerd", health(s.Containerd.Healthy, "ok "+s.Containerd.Version,
			"UNAVAILABLE: "+s.Containerd.Error)),
		kv("Index", health(s.Index.Healthy, fmt.Sprintf("ok, %d documents", s.Index.Docs),
			"ERROR: "+s.Index.Error)),
		kv("Plugins", fmt.Sprintf("%d installed, %d built, %d enabled", s.Plugins.Installed, s.Plugins.Built,
			s.Plugins.Enabled)),
	}
	switch {
	case m.tapsNA:
		out = append(out, kv("Taps", m.st.dim.Render("not available")))
	case m.tapsErr != "":
		out = append(out, kv("Taps", m.st.bad.Render(m.tapsErr)))
	default:
		running := 0
		var pk, drops uint64
		for _, t := range m.taps {
			if t.State == "running" {
				running++
			}
			pk += t.Stats.Packets
			drops += t.Stats.KernelDrops
		}
		out = append(out, kv("Taps", fmt.Sprintf("%d taps, %d running · %d packets, %d dropped",
			len(m.taps), running, pk, drops)))
	}
	if m.gpusNA || len(m.gpus) == 0 {
		out = append(out, kv("GPUs", m.st.dim.Render("not available")))
	} else {
		for _, d := range m.gpus {
			out = append(out, kv("GPU "+fmt.Sprint(d.Index), fmt.Sprintf("%s · %d%% busy · %d / %d MiB",
				d.Name, d.UtilPercent, d.MemUsedMB, d.MemTotalMB)))
		}
	}
	out = append(out, kv("Version", fmt.Sprintf("%s, up %s", s.Version, s.Uptime)))
	for _, w := range s.Warnings {
		out = append(out, kv("Warning", m.st.bad.Render(w)))
	}
	return out
}

func kv(k, v string) string { return fmt.Sprintf("  %-12s %s", k, v) }

func (m *Model) viewJobs() []string {
	out := []string{m.st.dim.Render(fmt.Sprintf("  state: %s (f to change)", stateLabel(m.stateIdx)))}
	if m.jobsErr != "" {
		return append(out, m.st.bad.Render("  "+m.jobsErr))
	}
	if len(m.jobList) == 0 {
		return append(out, "  no jobs")
	}
	fileW := max(10, max(m.width, minWidth)-2-13-10-15)
	out = append(out, m.st.dim.Render(fmt.Sprintf("  %-12s %-9s %-14s %s", "JOB", "STATE", "TOOL", "FILE")))
	for i, j := range m.jobList {
		out = append(out, m.row(i == m.cursor[scrJobs], fmt.Sprintf("%-12s %-9s %-14s %s",
			j.ID, j.State, clip(j.Tool, 14), clipLeft(j.File, fileW))))
	}
	return out
}

func (m *Model) viewJob() []string {
	if m.jobErr != "" && m.job == nil {
		return []string{m.st.bad.Render("  " + m.jobErr)}
	}
	j := m.job
	if j == nil {
		return []string{"  loading job " + m.jobID + "…"}
	}
	exit := "—"
	if j.ExitCode != nil {
		exit = fmt.Sprint(*j.ExitCode)
	}
	out := []string{
		kv("Job", j.ID+"  "+string(j.State)),
		kv("Tool", j.Tool),
		kv("File", j.File),
		kv("Created", fmtTime(j.CreatedAt)),
		kv("Started", fmtTime(j.StartedAt)),
		kv("Finished", fmtTime(j.FinishedAt)+ranFor(j)),
		kv("Exit code", exit),
		kv("Reason", orDash(j.Reason)),
		kv("Attempts", fmt.Sprint(j.Attempts)),
		m.st.dim.Render("  log tail:"),
	}
	if len(j.LogTail) == 0 {
		out = append(out, "    (no output kept)")
	}
	// The newest lines matter most: show the end of the tail that fits.
	room := max(1, m.bodyHeight()-len(out))
	tail := j.LogTail
	if len(tail) > room {
		tail = tail[len(tail)-room:]
	}
	for _, l := range tail {
		out = append(out, "    "+sanitize(l))
	}
	return out
}

func ranFor(j *jobs.Job) string {
	if j.StartedAt.IsZero() || j.FinishedAt.IsZero() {
		return ""
	}
	return " (ran " + j.FinishedAt.Sub(j.StartedAt).Round(time.Second).String() + ")"
}

func (m *Model) viewPlugins() []string {
	if m.pluginErr != "" {
		return []string{m.st.bad.Render("  " + m.pluginErr)}
	}
	if len(m.pluginList) == 0 {
		return []string{"  no plugins installed (ventapp plugins add DIR)"}
	}
	out := []string{m.st.dim.Render(fmt.Sprintf("  %-20s %-6s %-8s %s", "TOOL", "BUILT", "ENABLED", "IMAGE"))}
	for i, p := range m.pluginList {
		line := fmt.Sprintf("%-20s %-6s %-8s %s", clip(p.Name, 20), yesNo(p.Built), yesNo(p.Enabled), p.Image)
		out = append(out, m.row(i == m.cursor[scrPlugins], line))
		if p.BuildError != "" {
			out = append(out, m.st.bad.Render("    build error: "+sanitize(p.BuildError)))
		}
	}
	return out
}

func (m *Model) viewTaps() []string {
	if m.tapsNA {
		return []string{"  taps not available on this daemon"}
	}
	if m.tapsErr != "" {
		return []string{m.st.bad.Render("  " + m.tapsErr)}
	}
	if len(m.taps) == 0 {
		return []string{"  no taps (create one with ventapp tap create)"}
	}
	out := []string{m.st.dim.Render(fmt.Sprintf("  %-12s %-10s %-9s %10s %8s %6s  %s",
		"TAP", "NIC", "STATE", "PACKETS", "DROPS", "FILES", "FILTER"))}
	for i, t := range m.taps {
		line := fmt.Sprintf("%-12s %-10s %-9s %10d %8d %6d  %s", clip(t.ID, 12), clip(t.Config.NIC, 10),
			t.State, t.Stats.Packets, t.Stats.KernelDrops, t.Stats.Files, orDash(t.Config.Filter))
		out = append(out, m.row(i == m.cursor[scrTaps], line))
		if t.Reason != "" {
			out = append(out, m.st.dim.Render("    "+sanitize(t.Reason)))
		}
	}
	return out
}

func (m *Model) viewSearch() []string {
	cursor := ""
	if m.editing {
		cursor = "█"
	}
	out := []string{"  query: " + sanitize(m.query) + cursor}
	if m.searchErr != "" {
		out = append(out, m.st.bad.Render("  "+m.searchErr))
	} else if m.result == nil {
		out = append(out, m.st.dim.Render(
			"  bleve syntax: words, \"phrase\", tool:zeek, +must -not, field:>n, wild*"))
	}
	if m.result == nil {
		return out
	}
	r := m.result
	out = append(out, m.st.dim.Render(fmt.Sprintf("  %d matching lines, showing %d–%d", r.Total,
		min(int(r.Total), m.offset+1), m.offset+len(r.Hits))))
	for i, h := range r.Hits {
		head := fmt.Sprintf("%s %s %s:%d ", h.JobID, clip(h.Tool, 12), h.Stream, h.Line)
		text := head + m.highlight(h.Message, h.Fragments["message"])
		out = append(out, m.row(i == m.cursor[scrSearch], text))
	}
	return out
}

// highlight shows the first message fragment with its <mark> spans
// styled, or the plain message when there is no fragment.
func (m *Model) highlight(msg string, frags []string) string {
	if len(frags) == 0 {
		return sanitize(msg)
	}
	var b strings.Builder
	marked := false
	for _, part := range splitMarks(frags[0]) {
		switch part {
		case "<mark>":
			marked = true
		case "</mark>":
			marked = false
		default:
			text := sanitize(unescapeHTML(part))
			if marked {
				text = m.st.mark.Render(text)
			}
			b.WriteString(text)
		}
	}
	return b.String()
}

// splitMarks splits a bleve HTML fragment into text and <mark>, </mark>.
func splitMarks(s string) []string {
	var out []string
	for s != "" {
		j := -1
		for _, tag := range []string{"<mark>", "</mark>"} {
			if k := strings.Index(s, tag); k >= 0 && (j < 0 || k < j) {
				j = k
			}
		}
		if j < 0 {
			out = append(out, s)
			break
		}
		if j > 0 {
			out = append(out, s[:j])
		}
		tag := "<mark>"
		if strings.HasPrefix(s[j:], "</mark>") {
			tag = "</mark>"
		}
		out = append(out, tag)
		s = s[j+len(tag):]
	}
	return out
}

var htmlEntities = strings.NewReplacer("&lt;", "<", "&gt;", ">", "&#34;", `"`, "&#39;", "'", "&quot;", `"`,
	"&amp;", "&")

func unescapeHTML(s string) string { return htmlEntities.Replace(s) }

// sanitize drops control characters (escape sequences in plugin output
// must not reach the terminal) and keeps one line.
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\t':
			return ' '
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			return -1
		}
		return r
	}, s)
}

func clip(s string, n int) string {
	s = sanitize(s)
	if ansi.StringWidth(s) <= n {
		return s
	}
	return ansi.Truncate(s, n, "…")
}

// clipLeft keeps the end of s (the file name of a path).
func clipLeft(s string, n int) string {
	s = sanitize(s)
	if ansi.StringWidth(s) <= n {
		return s
	}
	return "…" + ansi.TruncateLeft(s, ansi.StringWidth(s)-n+1, "")
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return sanitize(s)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

func humanBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for v := n / unit; v >= unit; v /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
