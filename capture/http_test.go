package capture

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func do(t *testing.T, h http.Handler, method, path, body string) (int, string) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.String()
}

// TestHandlerStatusCodes exercises the JSON API without capturing: taps
// are created on lo with start false.
func TestHandlerStatusCodes(t *testing.T) {
	m, _ := testManager(t, "")
	h := m.Handler()
	cases := []struct {
		method, path, body string
		code               int
		contains           string
	}{
		{"POST", "/api/v1/taps", `{"id":"a","nic":"lo","interval":60,"iters":0,"start":false}`, 201, `"state": "created"`},
		{"POST", "/api/v1/taps", `{"id":"a","nic":"lo","interval":60,"start":false}`, 409, "tap exists"},
		{"POST", "/api/v1/taps", `{"id":"b","nic":"nosuch0","interval":60,"start":false}`, 400, "nosuch0"},
		{"POST", "/api/v1/taps", `{"id":"b","nic":"lo","interval":0,"start":false}`, 400, "interval 0s"},
		{"POST", "/api/v1/taps", `{"id":"x..y","nic":"lo","interval":1,"start":false}`, 400, `contains`},
		{"POST", "/api/v1/taps", `{"id":"b","interval":1,"start":false}`, 400, "nic is missing"},
		{"POST", "/api/v1/taps", `{"id":"b","nic":"lo","interval":1,"filter":"tcp prt 80","start":false}`,
			400, "syntax error"},
		{"POST", "/api/v1/taps", `not json`, 400, "not a tap"},
		{"GET", "/api/v1/taps/a", "", 200, `"nic": "lo"`},
		{"GET", "/api/v1/taps/zz", "", 404, "no such tap"},
		{"POST", "/api/v1/taps/a/stop", "", 409, "not running"},
		{"POST", "/api/v1/taps/zz/start", "", 404, "no such tap"},
		{"PATCH", "/api/v1/taps/a/metadata", `{"metadata":{"k":"v","n":2}}`, 200, `"k": "v"`},
		{"POST", "/api/v1/taps/a/metadata", `{"metadata":{"k":null}}`, 200, `"n": 2`},
		{"PATCH", "/api/v1/taps/a/metadata", `{"other":1}`, 400, "metadata"},
		{"GET", "/api/v1/taps", "", 200, `"id": "a"`},
		{"GET", "/api/v1/taps/nics", "", 200, `"name": "lo"`},
		{"GET", "/api/v1/taps/info", "", 200, `"filter_compiler": true`},
		{"DELETE", "/api/v1/taps/a", "", 200, `"deleted": "a"`},
		{"DELETE", "/api/v1/taps/a", "", 404, "no such tap"},
	}
	for _, c := range cases {
		code, body := do(t, h, c.method, c.path, c.body)
		if code != c.code || !strings.Contains(body, c.contains) {
			t.Errorf("%s %s %s: %d %s; want %d with %q", c.method, c.path, c.body, code, body, c.code, c.contains)
		}
		if code >= 400 && !strings.Contains(body, `"error"`) {
			t.Errorf("%s %s: error body %s lacks \"error\"", c.method, c.path, body)
		}
	}
}

// TestVentHandler drives vent's routes with vent's payload shapes.
func TestVentHandler(t *testing.T) {
	p := newVethPair(t)
	m, _ := testManager(t, p.capPath())
	m.opts.Version = "v9"
	h := m.VentHandler()
	nic := p.capIf
	cases := []struct {
		method, path, body string
		code               int
		prefix, contains   string
	}{
		{"POST", "/create", `{"nic":"` + nic + `","id":"s1","interval":"60","iters":"0","filter":"'udp'"}`,
			200, "(True, ", "s1"},
		{"POST", "/create", `{"nic":"` + nic + `","id":"n1","interval":60,"iters":1,
			"metadata":"{'endpoint_data': {'mac': 'aa:bb', 'ip-address': 'None'}}"}`, 200, "(True, ", "n1"},
		{"POST", "/create", `{"nic":"` + nic + `","id":"s1","interval":"60","iters":"0"}`, 409, "(False, ", "exists"},
		{"POST", "/create", `{"id":"x","interval":"60","iters":"0"}`, 400, "(False, ", "payload missing nic"},
		{"POST", "/create", `{"nic":"` + nic + `","id":"x","interval":"0","iters":"0"}`, 400, "(False, ", "interval"},
		{"POST", "/create", `{"nic":"` + nic + `","id":"x","interval":"5","iters":"0","filter":"bogus ("}`,
			400, "(False, ", "syntax"},
		{"POST", "/create", ``, 400, "(False, ", "malformed payload"},
		{"GET", "/create", ``, 405, "(False, ", "POST"},
		{"POST", "/stop", `{"id":"s1"}`, 200, "(True, ['s1'])", ""},
		{"POST", "/start", `{"id":["s1"]}`, 200, "(True, ['s1'])", ""},
		{"POST", "/stop", `{"id":["s1","nope"]}`, 404, "(False, ", "stopped: s1"},
		{"POST", "/update", `{"id":"s1","metadata":{"a":1}}`, 200, "(True, ", "s1"},
		{"POST", "/update", `{"id":"zz","metadata":{"a":1}}`, 404, "(False, ", "no such tap"},
		{"GET", "/list", ``, 200, "[", `"args": [`},
		{"GET", "/info", ``, 200, "{", `"version": "v9"`},
		{"GET", "/nics", ``, 200, "", nic + "\n"},
		{"POST", "/delete", `{"id":["s1","n1"]}`, 200, "(True, ['s1', 'n1'])", ""},
		{"POST", "/delete", `{"id":["s1"]}`, 404, "(False, ", "no such tap"},
	}
	for _, c := range cases {
		code, body := do(t, h, c.method, c.path, c.body)
		if code != c.code || !strings.HasPrefix(body, c.prefix) || !strings.Contains(body, c.contains) {
			t.Errorf("%s %s %s: %d %q; want %d starting %q with %q", c.method, c.path, c.body, code, body,
				c.code, c.prefix, c.contains)
		}
		if c.path == "/create" && c.code == 200 {
			var id string
			json.Unmarshal([]byte(`"`+strings.Split(strings.Split(c.body, `"id":"`)[1], `"`)[0]+`"`), &id)
			st, err := m.Get(id)
			if err != nil || !st.State.active() {
				t.Errorf("created %s: %+v %v", id, st, err)
			}
			if id == "s1" && st.Config.Filter != "udp" {
				t.Errorf("filter quotes kept: %q", st.Config.Filter)
			}
			if id == "n1" {
				ep, _ := st.Config.Metadata["endpoint_data"].(map[string]any)
				if ep["mac"] != "aa:bb" || st.Config.Interval != time.Minute || st.Config.Iters != 1 {
					t.Errorf("n1 parsed as %+v", st.Config)
				}
			}
		}
	}
}

func TestParseVentPayloads(t *testing.T) {
	ids := []struct {
		body string
		want []string
		err  string
	}{
		{`{"id":"12345"}`, []string{"12345"}, ""},
		{`{"id":["a","b"]}`, []string{"a", "b"}, ""},
		{`{"id":7}`, []string{"7"}, ""},
		{`{"id":[]}`, nil, "empty list"},
		{`{"id":{"x":1}}`, nil, "not an object"},
		{`{}`, nil, "payload missing id"},
		{`[1]`, nil, "malformed payload"},
	}
	for _, c := range ids {
		got, err := parseVentIDs([]byte(c.body))
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: error %v, want %q", c.body, err, c.err)
			}
			continue
		}
		if err != nil || strings.Join(got, ",") != strings.Join(c.want, ",") {
			t.Errorf("%s: %v %v, want %v", c.body, got, err, c.want)
		}
	}

	tap, err := parseVentCreate([]byte(`{"nic":"eth1","id":"lab","interval":"0.5","iters":"-1","filter":"'tcp port 443'"}`))
	if err != nil || tap.Interval != 500*time.Millisecond || tap.Iters != 0 || tap.Filter != "tcp port 443" {
		t.Errorf("create: %+v %v", tap, err)
	}
	if _, err := parseVentCreate([]byte(`{"nic":"eth1","id":"lab","interval":"x","iters":"1"}`)); err == nil ||
		!strings.Contains(err.Error(), `interval "x" is not a number`) {
		t.Errorf("bad interval: %v", err)
	}
	if _, err := parseVentCreate([]byte(`{"nic":"eth1","id":"lab","interval":"5","iters":"1.5"}`)); err == nil {
		t.Error("fractional iters accepted")
	}

	_, md, err := parseVentUpdate([]byte(`{"id": "a", "metadata": "{'a': [1, 2.5, (True, None)], 3: False}"}`))
	want := `{"3":false,"a":[1,2.5,[true,null]]}`
	if got, _ := json.Marshal(md); err != nil || string(got) != want {
		t.Errorf("python literal metadata: %s %v, want %s", got, err, want)
	}
	if _, _, err := parseVentUpdate([]byte(`{"id": "a", "metadata": "{'a' 1}"}`)); err == nil {
		t.Error("a broken python literal was accepted as metadata")
	}
	if got := pyRepr("it's \\ \n"); got != `"it's \\ \n"` {
		t.Errorf("pyRepr = %s", got)
	}
}

// FuzzVentPayload feeds arbitrary bodies to every vent payload parser:
// none may panic, and what they accept must be usable.
func FuzzVentPayload(f *testing.F) {
	for _, s := range []string{
		`{"nic":"eth0","id":"a","interval":"60","iters":"0","filter":"'tcp'"}`,
		`{"nic":"eth0","id":"a","interval":60,"iters":0,"metadata":"{'k': [1, 'v']}"}`,
		`{"id":["a","b"]}`, `{"id":"a","metadata":{"x":null}}`, `{"id": 1e400}`, ``, `[`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if tap, err := parseVentCreate(body); err == nil {
			if tap.Interval <= 0 || tap.Iters < 0 {
				t.Fatalf("accepted %+v", tap)
			}
			if _, err := json.Marshal(tap); err != nil {
				t.Fatalf("accepted tap does not encode: %v", err)
			}
		}
		if ids, err := parseVentIDs(body); err == nil && len(ids) == 0 {
			t.Fatal("no ids and no error")
		}
		if _, md, err := parseVentUpdate(body); err == nil {
			if _, err := json.Marshal(md); err != nil {
				t.Fatalf("metadata does not encode: %v", err)
			}
		}
	})
}
