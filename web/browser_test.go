package web

import (
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ventapp/ventapp/internal/cdptest"
)

// shotDir is where the browser test keeps its screenshots: the test's temp
// dir, or $VENTAPP_SCREENSHOT_DIR to look at them afterwards.
func shotDir(t *testing.T) string {
	if d := os.Getenv("VENTAPP_SCREENSHOT_DIR"); d != "" {
		return d
	}
	return t.TempDir()
}

// TestBrowser loads the page in headless Chromium against a fake API that
// answers with the real API's JSON shapes.
func TestBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	dropDir := t.TempDir()
	api := &fakeAPI{}
	srv := httptest.NewServer(Handler(api, Options{DropDir: dropDir, MaxUpload: 1 << 20}))
	defer srv.Close()
	b := cdptest.Start(t)

	t.Run("overview", func(t *testing.T) {
		b.SetT(t)
		b.Navigate(srv.URL + "/#/")
		b.WaitFor("job counts", `document.getElementById('ov-queued')?.textContent === '7'`)
		b.WaitFor("throughput", `document.getElementById('ov-throughput')?.textContent === '2'`)
		b.WaitFor("gpus", `document.getElementById('ov-gpus')?.textContent === 'not available'`)
		checks := map[string]string{
			"#ov-running": "2", "#ov-done": "41", "#ov-failed": "3", "#ov-free": "5.0 GiB",
			"#ov-folder": "/srv/drop", "#ov-containerd": "ok v2.4.2", "#ov-index": "ok, 12345 documents",
			"#ov-taps": "not available", "#footer": "ventapp 1.2.3-test · up 1h0m0s",
		}
		for sel, want := range checks {
			if got := b.Text(sel); got != want {
				t.Errorf("%s = %q, want %q", sel, got, want)
			}
		}
		if got := b.Text("#ov-plugins"); !strings.HasPrefix(got, "4 installed, 3 built, 3 enabled") {
			t.Errorf("plugins = %q", got)
		}
		b.WaitFor("live indicator", `document.getElementById('conn').textContent.startsWith('live')`)
		t.Logf("screenshot: %s", b.Screenshot(filepath.Join(shotDir(t), "ventapp-overview.png")))
	})

	t.Run("search highlights and escapes", func(t *testing.T) {
		b.SetT(t)
		b.Navigate(srv.URL + "/#/search?q=example.com")
		b.WaitFor("a highlighted hit", `document.querySelector('#results mark')`)
		if got := b.Text("#results mark"); got != "example.com" {
			t.Errorf("highlighted text %q, want example.com", got)
		}
		if got := b.Text("#results .frag"); got != "query example.com <img src=x onerror=alert(1)>" {
			t.Errorf("fragment text %q: the markup in the line must show as text", got)
		}
		if string(b.Eval(`document.querySelectorAll('#results img').length`)) != "0" {
			t.Error("markup from a search hit became an element")
		}
		if got := b.Text("#search-summary"); !strings.HasPrefix(got, "1 matching lines") {
			t.Errorf("summary %q", got)
		}
		t.Logf("screenshot: %s", b.Screenshot(filepath.Join(shotDir(t), "ventapp-search.png")))

		b.Eval(`document.querySelector('#results .job-link').click()`)
		b.WaitFor("the hit's job page",
			`document.getElementById('job-fields')?.textContent.includes('/srv/drop/dns.pcap')`)
	})

	t.Run("bad query shows the parser message", func(t *testing.T) {
		b.SetT(t)
		b.Navigate(srv.URL + "/#/search")
		b.WaitFor("the search box", `document.getElementById('q')`)
		b.Eval(`document.getElementById('q').value = 'tool:(zeek';
			document.getElementById('search-form').requestSubmit()`)
		b.WaitFor("the error", `document.getElementById('search-error').textContent.includes('syntax error')`)
		if got := b.Text("#search-error"); !strings.Contains(got, "unexpected tLPAREN") {
			t.Errorf("error next to the box = %q", got)
		}
		if b.Text("#results") != "" {
			t.Error("results shown for a bad query")
		}
	})

	t.Run("jobs list, filter and retry", func(t *testing.T) {
		b.SetT(t)
		b.Navigate(srv.URL + "/#/jobs")
		b.WaitFor("three jobs", `document.querySelectorAll('#jobs-body tr').length === 3`)
		if got := b.Text("#jobs-body tr td:nth-child(3)"); got != "/srv/drop/http.pcap" {
			t.Errorf("first job's file %q", got)
		}
		b.Eval(`document.getElementById('jobs-state').value = 'failed';
			document.getElementById('jobs-filter').requestSubmit()`)
		b.WaitFor("one failed job", `document.querySelectorAll('#jobs-body tr').length === 1 &&
			document.querySelector('#jobs-body tr td').textContent === '000000000002'`)

		b.Eval(`document.querySelector('#jobs-body a').click()`)
		b.WaitFor("the log tail",
			`document.getElementById('job-log')?.textContent.includes('boom: <bad> packet')`)
		if got := b.Text("#job-fields"); !strings.Contains(got, "exit status 1") {
			t.Errorf("job fields lack the reason: %q", got)
		}
		b.Eval(`document.getElementById('job-retry').click()`)
		b.WaitFor("retry done", `document.getElementById('job-msg').textContent.includes('queued again')`)
		if !slices.Contains(api.called(), "POST /api/v1/jobs/000000000002/retry") {
			t.Errorf("the API got %q, want the retry", api.called())
		}
	})

	t.Run("plugins: run a tool on the files already dropped", func(t *testing.T) {
		b.SetT(t)
		b.Navigate(srv.URL + "/#/plugins")
		b.WaitFor("two plugins", `document.querySelectorAll('#plugins-body tr').length === 2`)
		acts := func(tool string) string {
			var s string
			json.Unmarshal(b.Eval(`[...document.querySelectorAll('#plugins-body button[data-tool="`+tool+
				`"]')].map(b => b.dataset.act).join(' ')`), &s)
			return s
		}
		if got := acts("zeek"); got != "build process enable disable" {
			t.Errorf("actions of a tool that takes files: %q", got)
		}
		if got := acts("kibana"); got != "build start stop enable disable" {
			t.Errorf("actions of a service tool: %q", got)
		}

		b.Eval(`document.querySelector('#plugins-body button[data-tool="zeek"][data-act="process"]').click()`)
		b.WaitFor("the answer", `document.getElementById('plugins-msg').textContent.includes('jobs queued')`)
		if got := b.Text("#plugins-msg"); !strings.HasPrefix(got,
			"zeek: 2 jobs queued for 2 files already in the drop folder") {
			t.Errorf("message %q", got)
		}
		api.mu.Lock()
		sent := api.process
		api.mu.Unlock()
		if len(sent) != 2 || !slices.Equal(sent[0], []string{"/srv/drop"}) ||
			!slices.Equal(sent[1], []string{"zeek"}) {
			t.Errorf("POST /api/v1/process got paths and tools %q, want the drop folder and zeek", sent)
		}
		b.Eval(`[...document.querySelectorAll('#plugins-msg a')].find(a => a.textContent === 'its jobs').click()`)
		b.WaitFor("the tool's jobs", `document.querySelector('#jobs-filter input[name=tool]')?.value === 'zeek'`)
	})

	t.Run("upload", func(t *testing.T) {
		b.SetT(t)
		b.Navigate(srv.URL + "/#/drop")
		b.WaitFor("the drop form", `document.getElementById('drop-file')`)
		b.Eval(`(() => { const dt = new DataTransfer();
			dt.items.add(new File(['fake pcap bytes'], 'from-browser.pcap'));
			document.getElementById('drop-file').files = dt.files;
			document.getElementById('drop-form').requestSubmit(); })()`)
		b.WaitFor("upload answer", `document.getElementById('drop-msg').textContent.includes('Placed as')`)
		data, err := os.ReadFile(filepath.Join(dropDir, "from-browser.pcap"))
		if err != nil || string(data) != "fake pcap bytes" {
			t.Fatalf("uploaded file: %q, %v", data, err)
		}
	})

	b.SetT(t)
	if ex := b.Exceptions(); len(ex) > 0 {
		t.Errorf("uncaught exceptions in the page: %q", ex)
	}
}

// TestBrowserToken checks the login flow on a token-protected listener.
func TestBrowserToken(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	api := &fakeAPI{taps: true}
	srv := httptest.NewServer(Protect(Handler(api, Options{DropDir: t.TempDir()}), testToken))
	defer srv.Close()
	b := cdptest.Start(t)

	b.Navigate(srv.URL + "/#/jobs/000000000003")
	b.WaitFor("the login form", `document.querySelector('form[action="/login"]')`)
	if got := b.Text("#failed"); got == "" {
		t.Fatal("login page lacks the failure note")
	}
	// The form can be there before the stylesheet is applied: wait for the
	// page to finish loading, then the note must be hidden.
	b.WaitFor("the login page loaded", `document.readyState === 'complete'`)
	if string(b.Eval(`getComputedStyle(document.getElementById('failed')).display`)) != `"none"` {
		t.Error("failure note shown before any attempt")
	}

	b.Eval(`document.querySelector('input[name=token]').value = 'wrong';
		document.querySelector('form').submit()`)
	b.WaitFor("the failure note", `location.hash === '#failed' &&
		getComputedStyle(document.getElementById('failed')).display !== 'none'`)

	b.Eval(`document.querySelector('input[name=token]').value = '` + testToken + `';
		document.querySelector('form').submit()`)
	b.WaitFor("the overview after login", `document.getElementById('ov-queued')?.textContent === '7'`)
	b.WaitFor("taps panel", `document.getElementById('ov-taps')?.textContent.startsWith('0 taps')`)
	if string(b.Eval(`document.cookie`)) != `""` {
		t.Error("the session cookie is readable from script")
	}

	b.Navigate(srv.URL + "/#/job/000000000002")
	b.WaitFor("job page", `document.getElementById('job-fields')?.textContent.includes('tcpdump-hex')`)
	b.Eval(`document.getElementById('job-retry').click()`)
	b.WaitFor("retry done", `document.getElementById('job-msg').textContent.includes('queued again')`)
	if !slices.Contains(api.called(), "POST /api/v1/jobs/000000000002/retry") {
		t.Errorf("the API got %q, want the retry", api.called())
	}

	// The same action from outside the page, without the CSRF header, is refused.
	got := string(b.Eval(`fetch('/api/v1/jobs/000000000002/cancel', {method: 'POST'}).then(r => r.status)`))
	if got != "403" {
		t.Errorf("cookie POST without the CSRF header: status %s, want 403", got)
	}
}
