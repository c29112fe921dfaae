package web

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"
)

// browser is a headless Chromium driven over the DevTools protocol on
// --remote-debugging-pipe: JSON messages ending in a NUL byte, commands on
// the child's fd 3 and answers on its fd 4.
type browser struct {
	t       *testing.T
	cmd     *exec.Cmd
	w       *os.File
	mu      sync.Mutex
	nextID  int
	waiting map[int]chan cdpMessage
	session string
	errs    []string // uncaught page exceptions
}

type cdpMessage struct {
	ID        int             `json:"id,omitempty"`
	SessionID string          `json:"sessionId,omitempty"`
	Method    string          `json:"method,omitempty"`
	Params    json.RawMessage `json:"params,omitempty"`
	Result    json.RawMessage `json:"result,omitempty"`
	Error     *struct {
		Message string `json:"message"`
	} `json:"error,omitempty"`
}

// startBrowser launches Chromium with a fresh profile and opens one page.
// It skips the test when Chromium is not installed.
func startBrowser(t *testing.T) *browser {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium is not installed (apt-get install -y chromium); skipping the browser test")
	}
	cmdR, cmdW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
		"--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-extensions", "--disable-dev-shm-usage", "--mute-audio", "--window-size=1280,900",
		"--user-data-dir="+t.TempDir(), "--remote-debugging-pipe", "about:blank")
	cmd.ExtraFiles = []*os.File{cmdR, outW}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	cmdR.Close()
	outW.Close()

	b := &browser{t: t, cmd: cmd, w: cmdW, waiting: map[int]chan cdpMessage{}}
	go b.readLoop(outR)
	t.Cleanup(func() {
		cmdW.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		outR.Close()
	})

	var target struct{ TargetID string }
	b.call("", "Target.createTarget", map[string]any{"url": "about:blank"}, &target)
	var att struct{ SessionID string }
	b.call("", "Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}, &att)
	b.session = att.SessionID
	b.call(b.session, "Runtime.enable", nil, nil)
	b.call(b.session, "Page.enable", nil, nil)
	b.call(b.session, "Emulation.setDeviceMetricsOverride",
		map[string]any{"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": false}, nil)
	return b
}

func (b *browser) readLoop(r *os.File) {
	br := bufio.NewReaderSize(r, 1<<20)
	for {
		data, err := br.ReadBytes(0)
		if err != nil {
			b.mu.Lock()
			for id, ch := range b.waiting {
				close(ch)
				delete(b.waiting, id)
			}
			b.mu.Unlock()
			return
		}
		var m cdpMessage
		if json.Unmarshal(data[:len(data)-1], &m) != nil {
			continue
		}
		b.mu.Lock()
		if m.Method == "Runtime.exceptionThrown" {
			b.errs = append(b.errs, string(m.Params))
		}
		if ch, ok := b.waiting[m.ID]; ok && m.ID != 0 {
			ch <- m
			delete(b.waiting, m.ID)
		}
		b.mu.Unlock()
	}
}

// call sends one command and decodes its result into out (when not nil).
func (b *browser) call(session, method string, params any, out any) {
	b.t.Helper()
	b.mu.Lock()
	b.nextID++
	id := b.nextID
	ch := make(chan cdpMessage, 1)
	b.waiting[id] = ch
	b.mu.Unlock()

	msg := map[string]any{"id": id, "method": method}
	if params != nil {
		msg["params"] = params
	}
	if session != "" {
		msg["sessionId"] = session
	}
	data, _ := json.Marshal(msg)
	if _, err := b.w.Write(append(data, 0)); err != nil {
		b.t.Fatalf("devtools %s: %v", method, err)
	}
	select {
	case m, ok := <-ch:
		if !ok {
			b.t.Fatalf("devtools %s: chromium went away", method)
		}
		if m.Error != nil {
			b.t.Fatalf("devtools %s: %s", method, m.Error.Message)
		}
		if out != nil {
			if err := json.Unmarshal(m.Result, out); err != nil {
				b.t.Fatalf("devtools %s: %v", method, err)
			}
		}
	case <-time.After(30 * time.Second):
		b.t.Fatalf("devtools %s: no answer in 30s", method)
	}
}

// navigate opens url in the page.
func (b *browser) navigate(url string) {
	b.t.Helper()
	b.call(b.session, "Page.navigate", map[string]any{"url": url}, nil)
}

// eval runs a JavaScript expression (promises are awaited) and returns its
// JSON value.
func (b *browser) eval(expr string) json.RawMessage {
	b.t.Helper()
	v, err := b.tryEval(expr)
	if err != nil {
		b.t.Fatal(err)
	}
	return v
}

// tryEval evaluates expr and returns a script exception as an error.
func (b *browser) tryEval(expr string) (json.RawMessage, error) {
	b.t.Helper()
	var res struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text      string `json:"text"`
			Exception struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	b.call(b.session, "Runtime.evaluate", map[string]any{
		"expression": expr, "returnByValue": true, "awaitPromise": true}, &res)
	if res.ExceptionDetails != nil {
		return nil, fmt.Errorf("evaluating %s: %s %s", expr, res.ExceptionDetails.Text,
			res.ExceptionDetails.Exception.Description)
	}
	return res.Result.Value, nil
}

// text returns the textContent of the first element matching selector, or
// "" when there is none.
func (b *browser) text(selector string) string {
	b.t.Helper()
	var s string
	raw := b.eval(fmt.Sprintf(`(document.querySelector(%q) || {}).textContent || ""`, selector))
	json.Unmarshal(raw, &s)
	return s
}

// waitFor polls a JavaScript condition until it is true or 10 s pass; on a
// timeout it saves a screenshot to the test's temp dir and fails.
func (b *browser) waitFor(what, cond string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		// While a page loads, the condition may throw (an element not
		// there yet); that counts as "not yet".
		if v, err := b.tryEval("!!(" + cond + ")"); err == nil && string(v) == "true" {
			return
		}
		select {
		case <-ctx.Done():
			path := b.screenshot(b.t.TempDir() + "/failure.png")
			b.t.Fatalf("waiting for %s (%s): timed out; page text: %.600s; screenshot %s; exceptions %q",
				what, cond, b.text("main"), path, b.exceptions())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// screenshot writes a PNG of the page to path and returns path.
func (b *browser) screenshot(path string) string {
	b.t.Helper()
	var shot struct{ Data string }
	b.call(b.session, "Page.captureScreenshot", map[string]any{"format": "png"}, &shot)
	png, err := base64.StdEncoding.DecodeString(shot.Data)
	if err != nil {
		b.t.Fatal(err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	return path
}

func (b *browser) exceptions() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.errs...)
}
