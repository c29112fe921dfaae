package index

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/blevesearch/bleve/v2/analysis/analyzer/standard"
	"github.com/blevesearch/bleve/v2/document"
)

// flatMap runs parseStructured and flatten and returns key → values.
func flatMap(t *testing.T, text string) map[string][]any {
	t.Helper()
	m, ok := parseStructured([]byte(text))
	if !ok {
		return nil
	}
	fields, _ := flatten(m)
	out := map[string][]any{}
	for _, f := range fields {
		out[f.key] = append(out[f.key], f.val)
	}
	return out
}

func TestFlatten(t *testing.T) {
	deep := strings.Repeat(`{"a":`, MaxDepth+1) + "1" + strings.Repeat("}", MaxDepth+1)
	deepKey := strings.TrimSuffix(strings.Repeat("a.", MaxDepth), ".")

	tests := []struct {
		name string
		text string
		want map[string][]any
	}{
		{"json nested", `{"dns":{"query":"x.org","rr":{"ttl":60}},"n":1.5}`, map[string][]any{
			"dns.query": {"x.org"}, "dns.rr.ttl": {int64(60)}, "n": {1.5},
		}},
		{"json arrays", `{"ips":["a","b"],"m":[[1,2],[3]],"o":[{"k":"x"},{"k":"y","z":true}]}`,
			map[string][]any{
				"ips": {"a", "b"}, "m": {int64(1), int64(2), int64(3)}, "o.k": {"x", "y"}, "o.z": {true},
			}},
		{"json scalars", `{"t":true,"f":false,"n":null,"big":12345678901234567890,"e":1e3}`,
			map[string][]any{
				"t": {true}, "f": {false}, "n": {nil}, "big": {1.2345678901234567e19}, "e": {1000.0},
			}},
		{"python dict", `{'ip': '1.2.3.4', 'os': {'name': 'Linux', 'up': True}, 'l': (1, None), 3: b'x'}`,
			map[string][]any{
				"ip": {"1.2.3.4"}, "os.name": {"Linux"}, "os.up": {true}, "l": {int64(1), nil}, "3": {"x"},
			}},
		{"keys sanitised", `{"a b":1,"c:d":2,"e\u0001":3,"":4,"x..y":5,"trail.":6,"ü-@_":7}`,
			map[string][]any{
				"a_b": {int64(1)}, "c_d": {int64(2)}, "e_": {int64(3)}, "_": {int64(4)},
				"x._y": {int64(5)}, "trail_": {int64(6)}, "ü-@_": {int64(7)},
			}},
		{"depth capped", deep, map[string][]any{deepKey: {`{"a":1}`}}},
		{"empty object", `{}`, map[string][]any{}},
		{"not an object", `[1,2]`, nil},
		{"plain text", `hello {world}`, nil},
		{"broken json", `{"a":}`, nil},
		{"padded", "  {\"a\": \"b\"}  ", map[string][]any{"a": {"b"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := flatMap(t, tc.text)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("flatten = %#v\nwant %#v", got, tc.want)
			}
		})
	}
}

func TestFlattenFieldCap(t *testing.T) {
	var b strings.Builder
	b.WriteString("{")
	for i := range MaxFieldValues + 50 {
		fmt.Fprintf(&b, `"k%04d":%d,`, i, i)
	}
	b.WriteString(`"z":0}`)

	m, ok := parseStructured([]byte(b.String()))
	if !ok {
		t.Fatal("not parsed")
	}
	fields, dropped := flatten(m)
	if len(fields) != MaxFieldValues || dropped != 51 {
		t.Errorf("kept %d, dropped %d; want %d, 51", len(fields), dropped, MaxFieldValues)
	}
	if fields[0].key != "k0000" {
		t.Errorf("first key %q, want sorted order", fields[0].key)
	}
}

func TestMessageText(t *testing.T) {
	snow := strings.Repeat("☃", MaxMessageBytes/3+5) // 3-byte runes straddle the limit
	tests := []struct {
		name      string
		in        string
		truncated bool
	}{
		{"short", "hello", false},
		{"exact", strings.Repeat("a", MaxMessageBytes), false},
		{"one over", strings.Repeat("a", MaxMessageBytes+1), true},
		{"rune boundary", snow, true},
		{"invalid", "a\xffb", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			msg, tr := messageText([]byte(tc.in))
			if tr != tc.truncated || !utf8.ValidString(msg) {
				t.Fatalf("truncated = %v, valid = %v", tr, utf8.ValidString(msg))
			}
			if !tr {
				return
			}
			i := strings.LastIndex(msg, "…[truncated ")
			var n int
			if _, err := fmt.Sscanf(msg[i:], "…[truncated %d bytes]", &n); err != nil || i+n != len(tc.in) {
				t.Errorf("marker %q at %d does not add up to %d", msg[i:], i, len(tc.in))
			}
		})
	}
}

// docFields lists a document's field names.
func docFields(d *document.Document) map[string]int {
	out := map[string]int{}
	for _, f := range d.Fields {
		out[f.Name()]++
	}
	return out
}

func TestBuildDocument(t *testing.T) {
	l := Line{JobID: "j", Tool: "t", File: "/f", FileSHA256: "s", Container: "c", Stream: "stdout", LineNo: 7,
		Time: time.Unix(1, 0)}
	bd := builder{analyzer: newMapping().AnalyzerNamed(standard.Name)}

	tests := []struct {
		name string
		text string
		want map[string]int
	}{
		{"plain", "hello", map[string]int{"message": 1, "job_id": 1, "tool": 1, "file": 1,
			"file_sha256": 1, "container": 1, "stream": 1, "line": 1, "time": 1}},
		{"json", `{"a":[1,2],"b":"x"}`, map[string]int{"message": 1, "job_id": 1, "tool": 1, "file": 1,
			"file_sha256": 1, "container": 1, "stream": 1, "line": 1, "time": 1, "fields.a": 2,
			"fields.b": 1}},
		// The message is not the parsed text, so the fields are stored.
		{"json with invalid UTF-8", "{\"a\":\"\xff\"}", map[string]int{"message": 1, "job_id": 1, "tool": 1,
			"file": 1, "file_sha256": 1, "container": 1, "stream": 1, "line": 1, "time": 1, "fields.a": 1,
			"_fields": 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := bd.document(&l, []byte(tc.text))
			if d.ID() != "j:stdout:7" {
				t.Errorf("ID = %q", d.ID())
			}
			if got := docFields(d); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("fields = %v\nwant %v", got, tc.want)
			}
		})
	}
}

func FuzzBuildDocument(f *testing.F) {
	for _, l := range testLines {
		f.Add([]byte(l.text))
	}
	f.Add([]byte(`{"a":{"b":[{"c":null}]},"d":1e999}`))
	f.Add([]byte("{'a': b'\\xff', 1: {2: [3]}}"))
	f.Add([]byte{0xff, 0, '{', '}'})
	bd := builder{analyzer: newMapping().AnalyzerNamed(standard.Name)}

	f.Fuzz(func(t *testing.T, text []byte) {
		l := Line{JobID: "j", LineNo: 1, Stream: "stdout", Time: time.Unix(0, 0), Text: text}
		clean, nonBlank := lineText(text)
		if !nonBlank {
			return
		}

		bd.numeric = len(text)%2 == 0
		d := bd.document(&l, clean)
		var msg string
		for _, fl := range d.Fields {
			if tf, ok := fl.(*document.TextField); ok {
				if !utf8.Valid(tf.Value()) {
					t.Fatalf("field %s not valid UTF-8: %q", fl.Name(), tf.Value())
				}
				if fl.Name() == fieldMessage {
					msg = tf.Text()
				}
			}
			fl.Analyze()
		}
		if msg == "" {
			t.Fatalf("no message for %q", text)
		}

		// Without stored fields, the message must give back the fields the
		// text gave.
		stored := false
		for _, fl := range d.Fields {
			stored = stored || fl.Name() == fieldStored
		}
		if m, ok := parseStructured(clean); ok && !stored {
			flat, _ := flatten(m)
			var want map[string]any
			if len(flat) > 0 {
				b, _ := storedJSON(flat)
				want, _ = decodeStoredFields(string(b))
			}
			if got := fieldsOfMessage(msg); !reflect.DeepEqual(got, want) {
				t.Fatalf("fields from the message %v, from the text %v", got, want)
			}
		}
		if len(msg) > MaxMessageBytes+64 {
			t.Fatalf("message of %d bytes", len(msg))
		}
	})
}

func FuzzSplitDocID(f *testing.F) {
	f.Add("000000000042", "stdout", 7)
	f.Add("a:b:c", "stderr", 1)
	f.Add("", "x", 0)
	f.Fuzz(func(t *testing.T, job, stream string, n int) {
		if !validStream(stream) || stream == "" || n < 0 {
			return
		}
		j, s, l, ok := splitDocID(docID(job, stream, n))
		if !ok || j != job || s != stream || l != n {
			t.Fatalf("splitDocID(docID(%q, %q, %d)) = %q, %q, %d, %v", job, stream, n, j, s, l, ok)
		}
	})
}

func TestSplitDocIDBad(t *testing.T) {
	for _, id := range []string{"", "abc", "a:b", "a:b:x", "job:stdout:"} {
		if _, _, _, ok := splitDocID(id); ok {
			t.Errorf("splitDocID(%q) accepted", id)
		}
	}
}

func TestIsKeyToken(t *testing.T) {
	tests := []struct {
		in, word string
		want     bool
	}{
		{`{"type":"dns"}`, "type", true},
		{`{"type":"dns"}`, "dns", false},
		{`{'type' : 'dns'}`, "type", true},
		{`{'type': 'dns'}`, "dns", false},
		{`{"a b": 1}`, "b", false},
		{`{"x": "'y'"}`, "y", false},
		{`{"x": "'y':"}`, "y", true}, // a key-like string in a value: its word goes
		{`{type: 1}`, "type", false},
	}
	for _, tc := range tests {
		i := strings.Index(tc.in, tc.word)
		if got := isKeyToken([]byte(tc.in), i, i+len(tc.word)); got != tc.want {
			t.Errorf("%s: %q is a key: %v, want %v", tc.in, tc.word, got, tc.want)
		}
	}
}
