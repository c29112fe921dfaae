package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ventapp/ventapp/internal/cdptest"
	"github.com/ventapp/ventapp/internal/ctrdtest"
)

// sleeperPlugin writes a plugin folder whose container sleeps: it claims
// pcap files, so jobs pile up behind one worker.
func sleeperPlugin(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "sleeper")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Skipf("a static busybox is needed for the sleeping plugin: %v", err)
	}
	files := map[string]string{
		"vent.template": "[info]\nname = sleeper\ngroups = pcap\n\n" +
			"[settings]\next_types = pcap\nprocess_base = yes\n",
		"Dockerfile": "FROM scratch\nLABEL vent=\"\" vent.name=\"sleeper\" vent.groups=\"pcap\"\n" +
			"COPY busybox /busybox\nENTRYPOINT [\"/busybox\", \"sh\", \"-c\", \"sleep 600\", \"sleeper\"]\n",
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "busybox"), bb, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// unixClient talks HTTP to the API's Unix socket.
func unixClient(socket string) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
		MaxIdleConnsPerHost: 4,
	}}
}

// latencies times n sequential GETs of path and returns them sorted.
func latencies(t *testing.T, c *http.Client, path string, n int) []time.Duration {
	t.Helper()
	out := make([]time.Duration, 0, n)
	for range n {
		start := time.Now()
		resp, err := c.Get("http://ventapp" + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s", path, resp.Status)
		}
		out = append(out, time.Since(start))
	}
	slices.Sort(out)
	return out
}

func pct(sorted []time.Duration, p float64) time.Duration {
	i := int(float64(len(sorted))*p+0.5) - 1
	i = max(0, min(i, len(sorted)-1))
	return sorted[i]
}

func cpuTicks(t *testing.T, pid int) int64 {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// Fields after the command name, which ends at the last ')'.
	f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return utime + stime
}

// TestWebBench measures the status views under load: overview
// time-to-first-render in Chromium, API latency over the Unix socket with
// 1,000 jobs queued and a search loop running, and the TUI's CPU use while
// idle. Opt-in: VENTAPP_BENCH_WEB=1. It logs numbers; it asserts none.
func TestWebBench(t *testing.T) {
	if os.Getenv("VENTAPP_BENCH_WEB") != "1" {
		t.Skip("set VENTAPP_BENCH_WEB=1 to run the status-view benchmarks")
	}
	if _, err := exec.LookPath("chromium"); err != nil {
		t.Skip("chromium is not installed")
	}
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux is not installed")
	}
	d := ctrdtest.Start(t)
	valid, _ := captures(t)
	bin, plugin := buildBinaries(t)

	w := newWebAppliance(t, bin, d, "")
	cfg, err := os.ReadFile(w.config)
	if err != nil {
		t.Fatal(err)
	}
	one := strings.Replace(string(cfg), "workers = 2", "workers = 1", 1)
	if err := os.WriteFile(w.config, []byte(one), 0o600); err != nil {
		t.Fatal(err)
	}
	w.start()
	w.waitWeb()
	tuiIdleCPU(t, bin, w.config, "empty daemon")

	// Fill the index with real plugin output first.
	w.mustRun("plugins", "add", plugin)
	w.mustRun(append([]string{"drop"}, valid...)...)
	w.waitSettled(len(valid), 5*time.Minute)
	w.mustRun("plugins", "disable", "pcap-summary")
	w.mustRun("plugins", "add", sleeperPlugin(t))

	// 1,000 distinct small captures, renamed into the drop folder whole.
	base, err := os.ReadFile(filepath.Join(pcapDir, "dns-udp.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	stage := filepath.Join(filepath.Dir(w.drop), "stage")
	if err := os.MkdirAll(stage, 0o755); err != nil {
		t.Fatal(err)
	}
	const queued = 1000
	for i := range queued {
		name := fmt.Sprintf("bench-%04d.pcap", i)
		data := append(append([]byte(nil), base...), []byte(fmt.Sprintf("%08d", i))...)
		if err := os.WriteFile(filepath.Join(stage, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(filepath.Join(stage, name), filepath.Join(w.drop, name)); err != nil {
			t.Fatal(err)
		}
	}
	c := unixClient(w.socket)
	waitFor(t, 3*time.Minute, func() bool {
		var st struct{ Jobs map[string]int }
		resp, err := c.Get("http://ventapp/api/v1/status")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		json.NewDecoder(resp.Body).Decode(&st)
		return st.Jobs["queued"] >= queued-1
	})

	// The search loop: one client searching back to back.
	ctx, stopSearch := context.WithCancel(context.Background())
	var searches atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		sc := unixClient(w.socket)
		qs := []string{"fields.type:dns", "www.tcpdump.org", "fields.type:http", "*tcp*"}
		for i := 0; ctx.Err() == nil; i++ {
			q := url.QueryEscape(qs[i%len(qs)])
			resp, err := sc.Get("http://ventapp/api/v1/search?limit=50&highlight=1&q=" + q)
			if err != nil {
				continue
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			searches.Add(1)
		}
	}()

	searchStart := time.Now()
	for _, path := range []string{"/api/v1/status", "/api/v1/jobs?limit=100"} {
		l := latencies(t, c, path, 1000)
		t.Logf("BENCH api GET %s ×1000 (1,000 queued, search loop): p50 %v p90 %v p99 %v max %v",
			path, pct(l, 0.5), pct(l, 0.9), pct(l, 0.99), l[len(l)-1])
	}
	t.Logf("BENCH search loop meanwhile: %d searches in %v", searches.Load(),
		time.Since(searchStart).Round(time.Millisecond))

	// Overview time-to-first-render, search loop still running.
	b := cdptest.Start(t)
	b.Navigate(w.base + "/")
	b.WaitFor("the login form", `document.querySelector('form[action="/login"]')`)
	b.Eval(`document.querySelector('input[name=token]').value = '` + webToken + `';
		document.querySelector('form').submit()`)
	b.WaitFor("the overview", `document.getElementById('ov-queued')?.textContent`)
	b.Call(b.Session(), "Page.addScriptToEvaluateOnNewDocument", map[string]any{"source": `
		window.__firstData = 0;
		new MutationObserver((_m, obs) => {
			const q = document.getElementById('ov-queued');
			if (q && /^\d+$/.test(q.textContent)) { window.__firstData = performance.now(); obs.disconnect(); }
		}).observe(document, {childList: true, subtree: true, characterData: true});`}, nil)
	var fcps, datas []time.Duration
	for range 10 {
		b.Navigate("about:blank")
		b.WaitFor("blank", `location.href === 'about:blank'`)
		b.Navigate(w.base + "/")
		b.WaitFor("job counts", `window.__firstData > 0`)
		var v struct{ FCP, Data float64 }
		json.Unmarshal(b.Eval(`({
			FCP: (performance.getEntriesByName('first-contentful-paint')[0] || {}).startTime || 0,
			Data: window.__firstData})`), &v)
		fcps = append(fcps, time.Duration(v.FCP*float64(time.Millisecond)))
		datas = append(datas, time.Duration(v.Data*float64(time.Millisecond)))
	}
	slices.Sort(fcps)
	slices.Sort(datas)
	t.Logf("BENCH overview ×10 loads: first-contentful-paint median %v max %v; "+
		"job counts rendered median %v max %v (queued shown %s)",
		pct(fcps, 0.5), fcps[len(fcps)-1], pct(datas, 0.5), datas[len(datas)-1], b.Text("#ov-queued"))
	stopSearch()
	wg.Wait()

	tuiIdleCPU(t, bin, w.config, "1,000 queued")
}

// tuiIdleCPU runs `ventapp tui` in an 80x24 tmux pane on a private tmux
// server, lets it settle, and logs its CPU use over 20 s with no keys pressed.
func tuiIdleCPU(t *testing.T, bin, config, what string) {
	t.Helper()
	sock := fmt.Sprintf("ventapp-bench-%d", os.Getpid())
	tmux := func(args ...string) string {
		out, err := exec.Command("tmux", append([]string{"-L", sock}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("tmux %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	tmux("new-session", "-d", "-x", "80", "-y", "24", "exec "+bin+" --config '"+config+"' tui")
	defer exec.Command("tmux", "-L", sock, "kill-server").Run()
	pid, err := strconv.Atoi(strings.TrimSpace(tmux("list-panes", "-F", "#{pane_pid}")))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second)
	screen := tmux("capture-pane", "-p")
	if !strings.Contains(screen, "queued") {
		t.Fatalf("the TUI does not show the overview:\n%s", screen)
	}
	t0, c0 := time.Now(), cpuTicks(t, pid)
	time.Sleep(20 * time.Second)
	ticks, wall := cpuTicks(t, pid)-c0, time.Since(t0)
	t.Logf("BENCH tui idle 20s (80x24, %s): %d ticks = %.2f%% of a core", what, ticks,
		100*float64(ticks)/100/wall.Seconds())
}
