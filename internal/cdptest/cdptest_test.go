package cdptest

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// A page that navigates away while an evaluation runs makes Chromium
// refuse the evaluation; TryEval reports that as an error and WaitFor
// keeps polling until the next page holds the condition.
func TestEvalAcrossNavigation(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		switch r.URL.Path {
		case "/a":
			w.Write([]byte(`<p>a</p>`))
		case "/b":
			time.Sleep(300 * time.Millisecond)
			w.Write([]byte(`<p id="done">b</p>`))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()

	b := Start(t)
	b.Navigate(srv.URL + "/a")
	b.WaitFor("page a", `document.querySelector('p')?.textContent === 'a'`)

	_, err := b.TryEval(`setTimeout(() => { location.href = '/b' }, 50);
		new Promise(r => setTimeout(r, 5000))`)
	if err == nil {
		t.Fatal("an evaluation cut short by a navigation returned no error")
	}
	if !strings.Contains(err.Error(), "Runtime.evaluate") {
		t.Errorf("error %q does not name the command", err)
	}

	b.WaitFor("page b", `document.getElementById('done')`)
	if got := b.Text("#done"); got != "b" {
		t.Errorf("text on page b: %q", got)
	}
}
