// Package cdptest drives a real headless Chromium (Debian's chromium) for
// browser tests of the status page, over the DevTools protocol on a pipe:
// no port is opened and no browser is downloaded.
package cdptest

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// Browser is a headless Chromium driven over the DevTools protocol on
// --remote-debugging-pipe: JSON messages ending in a NUL byte, commands on
// the child's fd 3 and answers on its fd 4.
type Browser struct {
	t       testing.TB
	w       *os.File
	mu      sync.Mutex
	nextID  int
	waiting map[int]chan message
	session string
	errs    []string
}

type message struct {
	ID     int             `json:"id,omitempty"`
	Method string          `json:"method,omitempty"`
	Params json.RawMessage `json:"params,omitempty"`
	Result json.RawMessage `json:"result,omitempty"`
	Error  *struct {
		Message string `json:"message"`
	} `json:"error,omitempty"`
}

// Start launches Chromium with a fresh profile and opens one page. It
// skips the test when Debian's chromium is not installed. Chromium runs
// without network-facing background services, so it reaches only the
// pages the test points it at.
func Start(t testing.TB) *Browser {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium is not installed; skipping")
	}
	cmdR, cmdW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-extensions", "--disable-dev-shm-usage", "--mute-audio", "--window-size=1280,900",
		"--user-data-dir="+t.TempDir(), "--remote-debugging-pipe", "about:blank")
	cmd.ExtraFiles = []*os.File{cmdR, outW}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	cmdR.Close()
	outW.Close()

	b := &Browser{t: t, w: cmdW, waiting: map[int]chan message{}}
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
	b.Call("", "Target.createTarget", map[string]any{"url": "about:blank"}, &target)
	var att struct{ SessionID string }
	b.Call("", "Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}, &att)
	b.session = att.SessionID
	b.Call(b.session, "Runtime.enable", nil, nil)
	b.Call(b.session, "Page.enable", nil, nil)
	return b
}

func (b *Browser) readLoop(r *os.File) {
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
		var m message
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

// Call sends one command and decodes its result into out (when not nil);
// any failure ends the test.
func (b *Browser) Call(session, method string, params any, out any) {
	b.t.Helper()
	if err := b.TryCall(session, method, params, out); err != nil {
		b.t.Fatal(err)
	}
}

// TryCall is Call returning an error the browser answers with (such as
// "Inspected target navigated or closed" while a page loads) instead of
// failing; a lost or silent browser still ends the test.
func (b *Browser) TryCall(session, method string, params any, out any) error {
	b.t.Helper()
	b.mu.Lock()
	b.nextID++
	id := b.nextID
	ch := make(chan message, 1)
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
			return fmt.Errorf("devtools %s: %s", method, m.Error.Message)
		}
		if out != nil {
			if err := json.Unmarshal(m.Result, out); err != nil {
				return fmt.Errorf("devtools %s: %w", method, err)
			}
		}
		return nil
	case <-time.After(30 * time.Second):
		b.t.Fatalf("devtools %s: no answer in 30s", method)
		return nil
	}
}

// Navigate loads url in the page.
func (b *Browser) Navigate(url string) {
	b.t.Helper()
	b.Call(b.session, "Page.navigate", map[string]any{"url": url}, nil)
}

// Eval runs a JavaScript expression (promises awaited) and returns its
// JSON value.
func (b *Browser) Eval(expr string) json.RawMessage {
	b.t.Helper()
	v, err := b.TryEval(expr)
	if err != nil {
		b.t.Fatal(err)
	}
	return v
}

// TryEval is Eval returning a script exception, or the browser refusing to
// evaluate (a page in the middle of loading), as an error.
func (b *Browser) TryEval(expr string) (json.RawMessage, error) {
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
	err := b.TryCall(b.session, "Runtime.evaluate", map[string]any{
		"expression": expr, "returnByValue": true, "awaitPromise": true}, &res)
	if err != nil {
		return nil, err
	}
	if res.ExceptionDetails != nil {
		return nil, fmt.Errorf("evaluating %.200s: %s %s", expr, res.ExceptionDetails.Text,
			res.ExceptionDetails.Exception.Description)
	}
	return res.Result.Value, nil
}

// Text returns the textContent of the first element matching selector, or
// "" when there is none.
func (b *Browser) Text(selector string) string {
	b.t.Helper()
	var s string
	json.Unmarshal(b.Eval(fmt.Sprintf(`(document.querySelector(%q) || {}).textContent || ""`, selector)), &s)
	return s
}

// WaitFor is WaitForLong with a 15 second limit.
func (b *Browser) WaitFor(what, cond string) {
	b.t.Helper()
	b.WaitForLong(what, 15*time.Second, cond)
}

// WaitForLong polls a JavaScript condition until it is true or limit
// passes; on a timeout it saves a screenshot to the test's temp dir and
// fails. An evaluation the browser refuses while a page loads is tried
// again, like a false condition.
func (b *Browser) WaitForLong(what string, limit time.Duration, cond string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	var last error
	for {
		v, err := b.TryEval("!!(" + cond + ")")
		if err == nil && string(v) == "true" {
			return
		}
		if err != nil {
			last = err
		}

		select {
		case <-ctx.Done():
			path := b.Screenshot(filepath.Join(b.t.TempDir(), "failure.png"))
			b.t.Fatalf("waiting for %s: timed out after %s; page text: %.800s; screenshot %s; "+
				"exceptions %q; last error %v", what, limit, b.Text("main"), path, b.Exceptions(), last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Screenshot writes a PNG of the page to path and returns path.
func (b *Browser) Screenshot(path string) string {
	b.t.Helper()
	var shot struct{ Data string }
	b.Call(b.session, "Page.captureScreenshot", map[string]any{"format": "png"}, &shot)
	png, err := base64.StdEncoding.DecodeString(shot.Data)
	if err != nil {
		b.t.Fatal(err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	return path
}

// SetT makes failures report to t, for use inside subtests.
func (b *Browser) SetT(t testing.TB) { b.t = t }

// Session is the DevTools session of the page, for Call.
func (b *Browser) Session() string { return b.session }

// Exceptions returns the uncaught script exceptions seen so far.
func (b *Browser) Exceptions() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.errs...)
}
