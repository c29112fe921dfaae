package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/ventapp/ventapp/internal/cdptest"
	"github.com/ventapp/ventapp/internal/ctrdtest"
	"github.com/ventapp/ventapp/jobs"
)

// webToken is the TCP listener's token in the browser tests.
const webToken = "e2e-web-token-0123456789abcdef"

// webAppliance is an appliance with the opt-in TCP listener turned on.
type webAppliance struct {
	*appliance
	base   string // http://127.0.0.1:PORT
	socket string // the API's Unix socket
}

// newWebAppliance adds a [web] section (a free loopback port and a 0600
// token file) to the config newAppliance wrote, and extra lines to other
// sections through extra (appended as written).
func newWebAppliance(t *testing.T, bin string, d *ctrdtest.Daemon, extra string) *webAppliance {
	t.Helper()
	a := newAppliance(t, bin, d)
	dir := filepath.Dir(a.config)
	tokenFile := filepath.Join(dir, "web.token")
	if err := os.WriteFile(tokenFile, []byte(webToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	section := fmt.Sprintf("[web]\nlisten = 127.0.0.1:%d\ntoken_file = %s\nmax_upload_mb = 8\n%s",
		port, tokenFile, extra)
	f, err := os.OpenFile(a.config, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(section); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return &webAppliance{
		appliance: a,
		base:      fmt.Sprintf("http://127.0.0.1:%d", port),
		socket:    filepath.Join(dir, "data", "ventapp.sock"),
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// waitWeb waits for the TCP listener to answer.
func (w *webAppliance) waitWeb() {
	w.t.Helper()
	waitFor(w.t, 10*time.Second, func() bool {
		resp, err := http.Get(w.base + "/login")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// request sends one request to the TCP listener, with the token when
// withToken, and returns the status and body.
func (w *webAppliance) request(method, path string, body io.Reader, withToken bool) (int, []byte) {
	w.t.Helper()
	req, err := http.NewRequest(method, w.base+path, body)
	if err != nil {
		w.t.Fatal(err)
	}
	if withToken {
		req.Header.Set("Authorization", "Bearer "+webToken)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		w.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, data
}

// countStates counts jobs by state.
func countStates(list []jobs.Job) map[jobs.State]int {
	n := map[jobs.State]int{}
	for _, j := range list {
		n[j.State]++
	}
	return n
}

// TestWebEndToEnd drives the embedded page in headless Chromium against a
// real `ventapp serve` with a private containerd and real plugin jobs, and
// checks /metrics against the jobs that ran.
func TestWebEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping the web end-to-end test in -short mode")
	}
	if _, err := exec.LookPath("chromium"); err != nil {
		t.Skip("chromium is not installed (apt-get install -y chromium); skipping the web end-to-end test")
	}
	d := ctrdtest.Start(t)
	valid, malformed := captures(t)
	bin, plugin := buildBinaries(t)

	w := newWebAppliance(t, bin, d, "")
	w.start()
	w.waitWeb()
	if out := w.mustRun("plugins", "add", plugin); !strings.Contains(out, "built") {
		t.Fatalf("plugins add: %s", out)
	}

	// A few real captures and one malformed one, through the CLI.
	var dropped []string
	for _, p := range valid {
		switch filepath.Base(p) {
		case "dns-udp.pcap", "http-get.pcap", "tls12.pcap", "icmp-pings.pcap":
			dropped = append(dropped, p)
		}
	}
	if len(malformed) > 0 {
		dropped = append(dropped, malformed[0])
	}
	w.mustRun(append([]string{"drop"}, dropped...)...)
	list := w.waitSettled(len(dropped), 3*time.Minute)
	n := countStates(list)
	if n[jobs.Done] < 4 {
		t.Fatalf("want at least 4 done jobs before the browser part:\n%s", summarize(list))
	}

	b := cdptest.Start(t)
	t.Cleanup(func() {
		if t.Failed() {
			b.SetT(t)
			t.Logf("screenshot at the end: %s", b.Screenshot(filepath.Join(t.TempDir(), "end.png")))
		}
	})

	t.Run("login and overview", func(t *testing.T) {
		b.SetT(t)
		b.Navigate(w.base + "/")
		b.WaitFor("the login form", `document.querySelector('form[action="/login"]')`)
		b.Eval(`document.querySelector('input[name=token]').value = '` + webToken + `';
			document.querySelector('form').submit()`)
		want := fmt.Sprintf(`document.getElementById('ov-done')?.textContent === '%d' &&
			document.getElementById('ov-failed')?.textContent === '%d' &&
			document.getElementById('ov-queued')?.textContent === '0' &&
			document.getElementById('ov-running')?.textContent === '0'`, n[jobs.Done], n[jobs.Failed])
		b.WaitFor("the real job counts", want)
		if got := b.Text("#ov-containerd"); !strings.HasPrefix(got, "ok") {
			t.Errorf("containerd panel %q, want ok", got)
		}
		if string(b.Eval(`document.cookie`)) != `""` {
			t.Error("the session cookie is readable from script")
		}
	})

	t.Run("search and open a result", func(t *testing.T) {
		b.SetT(t)
		b.Navigate(w.base + "/#/search")
		b.WaitFor("the search box", `document.getElementById('q')`)
		b.Eval(`document.getElementById('q').value = '+fields.query:www.tcpdump.org';
			document.getElementById('search-form').requestSubmit()`)
		b.WaitFor("a hit from dns-udp.pcap",
			`[...document.querySelectorAll('#results .file-link')].some(a => a.textContent.endsWith('dns-udp.pcap'))`)
		// The field match is marked in the line's text by the page.
		if got := b.Text("#results mark"); got != "www.tcpdump.org" {
			t.Errorf("marked text for a fields.query match: %q, want www.tcpdump.org", got)
		}
		b.Eval(`[...document.querySelectorAll('#results .hit')].find(h =>
			h.querySelector('.file-link').textContent.endsWith('dns-udp.pcap')).querySelector('.job-link').click()`)
		b.WaitFor("the hit's job page",
			`document.getElementById('job-fields')?.textContent.includes('dns-udp.pcap')`)
		fields := b.Text("#job-fields")
		if !strings.Contains(fields, "done") || !strings.Contains(fields, "pcap-summary") {
			t.Errorf("job page fields %q lack the state or tool", fields)
		}
	})

	// A match in the message text comes highlighted by the index.
	t.Run("search highlights a message match", func(t *testing.T) {
		b.SetT(t)
		b.Navigate(w.base + "/#/search?q=" + "www.tcpdump.org")
		b.WaitFor("a highlighted hit", `document.querySelector('#results mark')`)
		if got := b.Text("#results mark"); got != "www.tcpdump.org" {
			t.Errorf("highlighted text %q, want www.tcpdump.org", got)
		}
	})

	uploadName := "uploaded-http.pcap"
	t.Run("upload and watch its job", func(t *testing.T) {
		b.SetT(t)
		data, err := os.ReadFile(filepath.Join(pcapDir, "http-get.pcap"))
		if err != nil {
			t.Fatal(err)
		}
		b.Navigate(w.base + "/#/drop")
		b.WaitFor("the drop form", `document.getElementById('drop-file')`)
		b.Eval(`(() => { const bin = atob('` + base64.StdEncoding.EncodeToString(data) + `');
			const bytes = Uint8Array.from(bin, c => c.charCodeAt(0));
			const dt = new DataTransfer();
			dt.items.add(new File([bytes], '` + uploadName + `'));
			document.getElementById('drop-file').files = dt.files;
			document.getElementById('drop-form').requestSubmit(); })()`)
		b.WaitFor("the upload answer", `document.getElementById('drop-msg').textContent.includes('Placed as')`)
		got, err := os.ReadFile(filepath.Join(w.drop, uploadName))
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("uploaded file in the drop folder: %d bytes, %v; want the capture's %d bytes",
				len(got), err, len(data))
		}

		b.Eval(`[...document.querySelectorAll('#drop-msg a')].find(a => a.textContent === 'its jobs').click()`)
		b.WaitForLong("the uploaded file's job done in the jobs page", 90*time.Second,
			`[...document.querySelectorAll('#jobs-body tr')].some(r =>
				r.children[2].textContent.endsWith('`+uploadName+`') && r.children[3].textContent.trim() === 'done')`)
	})

	b.SetT(t)
	list = w.waitSettled(len(dropped)+1, time.Minute)

	// Every file in the drop folder has its job: asking the plugin to run
	// on the dropped files from the plugins page queues nothing more.
	t.Run("run a plugin on the dropped files", func(t *testing.T) {
		b.SetT(t)
		b.Navigate(w.base + "/#/plugins")
		sel := `#plugins-body button[data-tool="pcap-summary"][data-act="process"]`
		b.WaitFor("the plugin's button", `document.querySelector('`+sel+`')`)
		b.Eval(`document.querySelector('` + sel + `').click()`)
		b.WaitFor("the answer", `document.getElementById('plugins-msg').textContent.includes('jobs queued')`)
		if got := b.Text("#plugins-msg"); !strings.HasPrefix(got, "pcap-summary: 0 jobs queued for 0 files") {
			t.Errorf("message %q", got)
		}
		if n := len(w.jobs()); n != len(dropped)+1 {
			t.Errorf("%d jobs after asking, want %d", n, len(dropped)+1)
		}
	})

	t.Run("no token: 401 and nothing changes", func(t *testing.T) {
		var failed jobs.Job
		for _, j := range list {
			if j.State == jobs.Failed {
				failed = j
			}
		}
		if failed.ID == "" {
			t.Fatalf("no failed job to try a retry on:\n%s", summarize(list))
		}
		entries, _ := os.ReadDir(w.drop)

		for _, c := range []struct{ method, path string }{
			{"POST", "/api/v1/jobs/" + failed.ID + "/retry"},
			{"POST", "/api/v1/drop?name=sneaky.pcap"},
			{"POST", "/api/v1/plugins/pcap-summary/disable"},
			{"GET", "/api/v1/jobs"},
			{"GET", "/metrics"},
		} {
			code, body := w.request(c.method, c.path, strings.NewReader("not a capture"), false)
			if code != http.StatusUnauthorized {
				t.Errorf("%s %s without the token: %d %s, want 401", c.method, c.path, code, body)
			}
		}
		// The browser's own fetch without credentials is refused the same way.
		got := string(b.Eval(`fetch('/api/v1/jobs/` + failed.ID + `/retry',
			{method: 'POST', credentials: 'omit', headers: {'X-Ventapp-CSRF': '1'}}).then(r => r.status)`))
		if got != "401" {
			t.Errorf("browser POST without credentials: %s, want 401", got)
		}

		time.Sleep(time.Second)
		after := w.jobs()
		if len(after) != len(list) {
			t.Errorf("%d jobs after the refused requests, want %d", len(after), len(list))
		}
		for _, j := range after {
			if j.ID == failed.ID && (j.State != jobs.Failed || j.Attempts != failed.Attempts) {
				t.Errorf("job %s changed: state %s attempts %d", j.ID, j.State, j.Attempts)
			}
		}
		entriesAfter, _ := os.ReadDir(w.drop)
		if len(entriesAfter) != len(entries) {
			t.Errorf("drop folder has %d entries after the refused upload, want %d", len(entriesAfter), len(entries))
		}
		var st struct {
			Plugins struct{ Enabled int } `json:"plugins"`
		}
		if err := json.Unmarshal([]byte(w.mustRun("status", "--json")), &st); err != nil {
			t.Fatal(err)
		}
		if st.Plugins.Enabled != 1 {
			t.Errorf("%d plugins enabled after the refused disable, want 1", st.Plugins.Enabled)
		}
	})

	t.Run("metrics match the jobs", func(t *testing.T) {
		code, body := w.request("GET", "/metrics", nil, true)
		if code != http.StatusOK {
			t.Fatalf("GET /metrics with the token: %d %s", code, body)
		}
		fams := parseMetrics(t, body)
		n := countStates(list)
		checks := []struct {
			name   string
			labels map[string]string
			want   float64
		}{
			{"ventapp_jobs", map[string]string{"state": "done"}, float64(n[jobs.Done])},
			{"ventapp_jobs", map[string]string{"state": "failed"}, float64(n[jobs.Failed])},
			{"ventapp_jobs", map[string]string{"state": "queued"}, 0},
			{"ventapp_jobs", map[string]string{"state": "running"}, 0},
			{"ventapp_queue_depth", nil, 0},
			{"ventapp_jobs_done_total", nil, float64(n[jobs.Done])},
			{"ventapp_jobs_failed_total", nil, float64(n[jobs.Failed])},
			{"ventapp_files_queued_total", nil, float64(len(dropped) + 1)},
			{"ventapp_containerd_up", nil, 1},
		}
		for _, c := range checks {
			got, ok := metricValue(fams, c.name, c.labels)
			if !ok {
				t.Errorf("%s%v: missing from /metrics", c.name, c.labels)
				continue
			}
			if got != c.want {
				t.Errorf("%s%v = %v, want %v (jobs: %v)", c.name, c.labels, got, c.want, n)
			}
		}
		started, _ := metricValue(fams, "ventapp_jobs_started_total", nil)
		retried, _ := metricValue(fams, "ventapp_jobs_retried_total", nil)
		if started != float64(n[jobs.Done]+n[jobs.Failed])+retried {
			t.Errorf("jobs started %v, want done %d + failed %d + retried %v",
				started, n[jobs.Done], n[jobs.Failed], retried)
		}
		if docs, _ := metricValue(fams, "ventapp_index_documents", nil); docs < 1 {
			t.Errorf("ventapp_index_documents = %v after real jobs", docs)
		}
		if fams["ventapp_jobs"].GetType() != dto.MetricType_GAUGE ||
			fams["ventapp_jobs_done_total"].GetType() != dto.MetricType_COUNTER {
			t.Error("metric types: ventapp_jobs must be a gauge, ventapp_jobs_done_total a counter")
		}
	})

	b.SetT(t)
	if ex := b.Exceptions(); len(ex) > 0 {
		t.Errorf("uncaught exceptions in the page: %q", ex)
	}
}

// parseMetrics parses a Prometheus text exposition.
func parseMetrics(t *testing.T, body []byte) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("/metrics does not parse: %v\n%s", err, body)
	}
	return fams
}

// metricValue finds the sample of name whose labels include want.
func metricValue(fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	f, ok := fams[name]
	if !ok {
		return 0, false
	}
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		match := true
		for k, v := range want {
			match = match && have[k] == v
		}
		if !match {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Untyped != nil:
			return m.Untyped.GetValue(), true
		}
	}
	return 0, false
}
