package index

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/standard"
	"github.com/blevesearch/bleve/v2/registry"
)

// t0 is the time of the first test line.
var t0 = time.Date(2024, 3, 9, 23, 59, 58, 123456789, time.UTC)

// testLines is a small job mixing JSON, Python dict and plain lines.
var testLines = []struct{ stream, text string }{
	{"stdout", `{"type":"dns","query":"www.tcpdump.org","answers":["1.2.3.4","5.6.7.8"],` +
		`"flow":{"src_ip":"10.0.0.1","dst_port":53},"ok":true,"err":null,"ratio":0.5}`},
	{"stdout", `{'type': 'http', 'host': 'example.com', 'codes': [200, 404], ` +
		`'meta': {'ua': 'curl/7.68.0 (x86_64)'}, 'secure': False, 'x': None}`},
	{"stdout", "tcpdump: listening on eth0, link-type EN10MB (Ethernet)"},
	{"stderr", "WARNING: capture truncated at packet 17"},
	{"stdout", "   "},
	{"stdout", "reading from file /files/a.pcap, snapshot length 262144"},
}

// openTest opens an index in a temp dir with raw logs, and closes it at the
// end of the test.
func openTest(t *testing.T) (*Index, string) {
	t.Helper()
	return openTestWith(t, Options{})
}

// openTestWith is openTest with options; LogDir is set by it.
func openTestWith(t *testing.T, opts Options) (*Index, string) {
	t.Helper()
	dir := t.TempDir()
	opts.LogDir = filepath.Join(dir, "logs")
	ix, err := Open(filepath.Join(dir, "idx"), opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = ix.Close() })
	return ix, dir
}

// addJob adds testLines as job jobID of tool and flushes.
func addJob(t *testing.T, ix *Index, jobID, tool string) {
	t.Helper()
	for i, l := range testLines {
		err := ix.Add(Line{
			JobID: jobID, Tool: tool, File: "/files/a.pcap", FileSHA256: "ab12",
			Container: "ctr-" + jobID, Stream: l.stream, LineNo: i + 1,
			Time: t0.Add(time.Duration(i) * time.Second), Text: []byte(l.text),
		})
		if err != nil {
			t.Fatalf("Add line %d: %v", i+1, err)
		}
	}
	if err := ix.Flush(); err != nil {
		t.Fatalf("Flush: %v", err)
	}
}

// lineNos returns the line numbers of hits, sorted by the search order.
func lineNos(hits []Hit) []int {
	out := []int{}
	for _, h := range hits {
		out = append(out, h.Line)
	}
	return out
}

func TestSearch(t *testing.T) {
	for _, numeric := range []bool{false, true} {
		t.Run(fmt.Sprintf("numeric=%v", numeric), func(t *testing.T) {
			testSearch(t, numeric)
		})
	}
}

// testSearch runs the query table against an index with or without
// NumericFields.
func testSearch(t *testing.T, numeric bool) {
	ix, _ := openTestWith(t, Options{NumericFields: numeric})
	addJob(t, ix, "000000000042", "pcap-summary")
	addJob(t, ix, "000000000043", "p0f")

	tests := []struct {
		query string
		total uint64
		lines []int
		// rangeQuery marks a numeric range on fields.*: it matches
		// nothing unless NumericFields is set.
		rangeQuery bool
	}{
		{"tool:pcap-summary", 5, []int{1, 2, 3, 4, 6}, false},
		{"job_id:000000000042", 5, []int{1, 2, 3, 4, 6}, false},
		{"+job_id:000000000042 +fields.type:dns", 1, []int{1}, false},
		{"+tool:p0f +fields.query:www.tcpdump.org", 1, []int{1}, false},
		{"+tool:p0f +tcpdump", 1, []int{3}, false},
		{`+tool:p0f +"listening on eth0"`, 1, []int{3}, false},
		{`+tool:p0f +"eth0 listening"`, 0, []int{}, false},
		{`+tool:p0f +fields.meta.ua:"curl/7.68.0 (x86_64)"`, 1, []int{2}, false},
		{`+tool:p0f +fields.meta.ua:"x86_64 curl"`, 0, []int{}, false},
		{"+tool:p0f +fields.flow.dst_port:53", 1, []int{1}, false},
		{"+tool:p0f +fields.flow.dst_port:>50", 1, []int{1}, true},
		{"+tool:p0f +fields.codes:>=400 +fields.codes:<500", 1, []int{2}, true},
		{"+tool:p0f +fields.codes:<100", 0, []int{}, true},
		{"+tool:p0f +fields.ratio:>0.4", 1, []int{1}, true},
		{"+tool:p0f +fields.ratio:<0.5", 0, []int{}, true},
		{"+tool:p0f +fields.ratio:>=0.5 +fields.ratio:<=0.5", 1, []int{1}, true},
		{"+tool:p0f +fields.flow.dst_port:>-1000", 1, []int{1}, true},
		{"+tool:p0f +fields.flow.src_ip:10.0.0.1", 1, []int{1}, false},
		{"+tool:p0f +fields.answers:5.6.7.8", 1, []int{1}, false},
		{"+tool:p0f +fields.codes:404", 1, []int{2}, false},
		{"+tool:p0f +fields.ok:true", 1, []int{1}, false},
		{"+tool:p0f +fields.secure:false", 1, []int{2}, false},
		{"+tool:p0f +fields.err:null", 1, []int{1}, false},
		{"+tool:p0f +fields.ratio:0.5", 1, []int{1}, false},
		{"+tool:p0f +stream:stderr", 1, []int{4}, false},
		{"+tool:p0f +line:3", 1, []int{3}, false},
		{"+tool:p0f +file:a.pcap", 5, []int{1, 2, 3, 4, 6}, false},
		{"+tool:p0f +file_sha256:ab12", 5, []int{1, 2, 3, 4, 6}, false},
		{"+tool:p0f +container:ctr-000000000043", 5, []int{1, 2, 3, 4, 6}, false},
		{`+tool:p0f +time:>="2024-03-10T00:00:00Z"`, 3, []int{3, 4, 6}, false},
		{"+tool:p0f +WARNING", 1, []int{4}, false},
		{"+tool:p0f +warning", 1, []int{4}, false},
		{"+tool:p0f +example.com", 1, []int{2}, false},
		{"+tool:p0f +list*", 1, []int{3}, false},
		{"+tool:p0f +/snap.*/", 1, []int{6}, false},
		{"nosuchword", 0, []int{}, false},
		{"", 10, nil, false},
		// A required clause that matches nothing makes the whole query
		// match nothing (bleve's query strings used to skip such a clause).
		{"+tool:p0f +line:>6", 0, []int{}, false},
		{"+tool:p0f +fields.type:dns +line:>5", 0, []int{}, false},
		{`+tool:p0f +time:<"2020-01-01T00:00:00Z"`, 0, []int{}, false},
		{"+tool:p0f +nosuch*", 0, []int{}, false},
		{"+tool:p0f +/nosuch.*/", 0, []int{}, false},
		{"+tool:p0f -line:>6", 5, []int{1, 2, 3, 4, 6}, false},
		// One-word values are indexed without positions; a quoted one
		// word still matches, and a longer phrase needs its order.
		{`+tool:p0f +fields.query:"www.tcpdump.org"`, 1, []int{1}, false},
		// Keys of structured lines are not words of the message; the
		// values are, and fields.<key>:* finds the lines with a key.
		{"+tool:p0f +query", 0, []int{}, false},
		{"+tool:p0f +host", 0, []int{}, false},
		{"+tool:p0f +fields.query:*", 1, []int{1}, false},
		{"+tool:p0f +fields.host:*", 1, []int{2}, false},
		{"+tool:p0f +dns +http", 0, []int{}, false},
		{"+tool:p0f +http", 1, []int{2}, false},
		{`+tool:p0f +fields.type:"DNS"`, 1, []int{1}, false},
		{`+tool:p0f +"listening"`, 1, []int{3}, false},
		{`+tool:p0f +file:"a.pcap"`, 5, []int{1, 2, 3, 4, 6}, false},
		{"+tool:p*f +line:1", 1, []int{1}, false},
		{"+tool:/p0.*/ +line:1", 1, []int{1}, false},
		{"+tool:nosuch* +line:1", 0, []int{}, false},
		{"+file:b.pcap +line:1", 0, []int{}, false},
		{"tool:pcap-summary tool:p0f", 10, nil, false},
		{"+line:1 -tool:p0f", 1, []int{1}, false},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			res, err := ix.Search(context.Background(), Query{Text: tc.query, ByTime: true})
			if tc.rangeQuery && !numeric {
				// Exact terms cannot answer a range: say so, naming the key.
				if !errors.Is(err, ErrBadQuery) || !strings.Contains(err.Error(), "numeric_fields") {
					t.Fatalf("range on exact-term numbers: error %v, want ErrBadQuery naming numeric_fields", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Search: %v", err)
			}
			if res.Total != tc.total {
				t.Errorf("Total = %d, want %d", res.Total, tc.total)
			}
			if tc.lines != nil && !reflect.DeepEqual(lineNos(res.Hits), tc.lines) {
				t.Errorf("lines = %v, want %v", lineNos(res.Hits), tc.lines)
			}
		})
	}
}

func TestHitContent(t *testing.T) {
	ix, _ := openTest(t)
	addJob(t, ix, "j1", "pcap-summary")

	tests := []struct {
		query  string
		stream string
		fields map[string]any
	}{
		{"fields.type:dns", "stdout", map[string]any{
			"type": "dns", "query": "www.tcpdump.org", "answers": []any{"1.2.3.4", "5.6.7.8"},
			"flow.src_ip": "10.0.0.1", "flow.dst_port": int64(53), "ok": true, "err": nil,
			"ratio": 0.5,
		}},
		{"fields.type:http", "stdout", map[string]any{
			"type": "http", "host": "example.com", "codes": []any{int64(200), int64(404)},
			"meta.ua": "curl/7.68.0 (x86_64)", "secure": false, "x": nil,
		}},
		{"listening", "stdout", nil},
		{"stream:stderr", "stderr", nil},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			res, err := ix.Search(context.Background(), Query{Text: tc.query})
			if err != nil || len(res.Hits) != 1 {
				t.Fatalf("Search = %d hits, %v; want 1", len(res.Hits), err)
			}
			h := res.Hits[0]
			want := testLines[h.Line-1]
			if h.Message != want.text || h.Stream != tc.stream || h.JobID != "j1" ||
				h.Tool != "pcap-summary" || h.File != "/files/a.pcap" {
				t.Errorf("hit = %+v", h)
			}
			if !h.Time.Equal(t0.Add(time.Duration(h.Line-1) * time.Second)) {
				t.Errorf("Time = %v", h.Time)
			}
			if !reflect.DeepEqual(h.Fields, tc.fields) {
				t.Errorf("Fields = %#v\nwant %#v", h.Fields, tc.fields)
			}
		})
	}
}

func TestBadQuery(t *testing.T) {
	ix, _ := openTest(t)
	addJob(t, ix, "j1", "t")

	tests := []struct {
		name string
		q    Query
	}{
		{"unclosed phrase", Query{Text: `"abc`}},
		{"dangling colon", Query{Text: `tool:`}},
		{"lone plus", Query{Text: `+`}},
		{"double colon", Query{Text: `a::b`}},
		{"bad regexp", Query{Text: `/[a/`}},
		{"negative offset", Query{Text: "a", Offset: -1}},
		{"huge offset", Query{Text: "a", Offset: MaxOffset + 1}},
		{"unquoted time bound", Query{Text: "time:>2020"}},
		{"bracket range", Query{Text: "line:[5 TO 7]"}},
		{"brace range", Query{Text: "+tool:x +line:{5 TO 7}"}},
		{"date range on a structured value", Query{Text: `fields.first_seen:>"2000-01-01T00:00:00Z"`}},
		{"time range nested in a conjunction", Query{Text: "+tool:x +(a OR time:<5)"}},
		{"time without an operator", Query{Text: `time:"2024-03-10T00:00:00Z"`}},
		{"quoted line", Query{Text: `line:"5"`}},
		{"quoted line range", Query{Text: `+tool:x +line:>="5"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ix.Search(context.Background(), tc.q)
			if !errors.Is(err, ErrBadQuery) {
				t.Fatalf("err = %v, want ErrBadQuery", err)
			}
			if len(err.Error()) <= len(ErrBadQuery.Error())+2 {
				t.Errorf("error %q carries no detail", err)
			}
		})
	}
}

func TestPaging(t *testing.T) {
	ix, _ := openTest(t)
	for i := 1; i <= 45; i++ {
		err := ix.Add(Line{JobID: "j", Tool: "t", LineNo: i,
			Time: t0.Add(time.Duration(i) * time.Millisecond),
			Text: []byte(fmt.Sprintf("packet %d seen", i))})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := ix.Flush(); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		limit, offset int
		first, n      int
	}{
		{0, 0, 1, 20},
		{10, 0, 1, 10},
		{10, 40, 41, 5},
		{20, 20, 21, 20},
		{5000, 0, 1, 45},
		{10, 45, 0, 0},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("limit%d_offset%d", tc.limit, tc.offset), func(t *testing.T) {
			q := Query{Text: "job_id:j", Limit: tc.limit, Offset: tc.offset, ByTime: true}
			res, err := ix.Search(context.Background(), q)
			if err != nil {
				t.Fatal(err)
			}
			if res.Total != 45 {
				t.Errorf("Total = %d, want 45", res.Total)
			}
			if len(res.Hits) != tc.n {
				t.Fatalf("len(Hits) = %d, want %d", len(res.Hits), tc.n)
			}
			for i, h := range res.Hits {
				if h.Line != tc.first+i {
					t.Errorf("hit %d has line %d, want %d", i, h.Line, tc.first+i)
				}
			}
		})
	}
}

func TestHighlight(t *testing.T) {
	ix, _ := openTest(t)
	addJob(t, ix, "j1", "t")

	tests := []struct {
		query, field, want string
	}{
		{"listening", "message", "<mark>listening</mark>"},
		{`"capture truncated"`, "message", "<mark>capture</mark> <mark>truncated</mark>"},
		{"+fields.type:dns +www.tcpdump.org", "message", "<mark>www.tcpdump.org</mark>"},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			res, err := ix.Search(context.Background(), Query{Text: tc.query, Highlight: true})
			if err != nil || len(res.Hits) != 1 {
				t.Fatalf("Search = %d hits, %v", len(res.Hits), err)
			}
			frags := res.Hits[0].Fragments[tc.field]
			if len(frags) == 0 || !strings.Contains(frags[0], tc.want) {
				t.Errorf("Fragments = %q, want %q in %s", res.Hits[0].Fragments, tc.want, tc.field)
			}
		})
	}

	res, err := ix.Search(context.Background(), Query{Text: "listening"})
	if err != nil || len(res.Hits) != 1 || len(res.Hits[0].Fragments) != 0 {
		t.Errorf("without Highlight: %v, %+v", err, res.Hits)
	}
}

func TestOddLines(t *testing.T) {
	ix, _ := openTest(t)

	big := bytes.Repeat([]byte("abcdefgh"), 1<<17) // 1 MiB
	binary := []byte{0, 1, 2, 0xff, 0xfe, 'o', 'k', 0xc3, 0x28, '\n', 0x80}
	tests := []struct {
		name  string
		text  []byte
		query string
		check func(t *testing.T, h Hit)
	}{
		{"1MiB line", big, "+job_id:big", func(t *testing.T, h Hit) {
			want := fmt.Sprintf("…[truncated %d bytes]", len(big)-MaxMessageBytes)
			if !strings.HasSuffix(h.Message, want) || len(h.Message) != MaxMessageBytes+len(want) {
				t.Errorf("message ends %q (len %d), want marker %q", h.Message[len(h.Message)-40:],
					len(h.Message), want)
			}
		}},
		{"binary", binary, "+job_id:binary", func(t *testing.T, h Hit) {
			if !strings.Contains(h.Message, "ok\uFFFD(") || strings.ContainsRune(h.Message[:3], 0xFFFD) {
				t.Errorf("message %q", h.Message)
			}
		}},
		{"huge JSON", []byte(`{"blob":"` + strings.Repeat("x", 100000) + `","k":"v"}`),
			"+job_id:huge +fields.k:v", func(t *testing.T, h Hit) {
				blob, _ := h.Fields["blob"].(string)
				if !strings.HasPrefix(blob, "xxx") || !strings.HasSuffix(blob, "bytes]") {
					t.Errorf("blob field not capped: len %d", len(blob))
				}
			}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id := strings.Fields(strings.ReplaceAll(tc.query, ":", " "))[1]
			if err := ix.Add(Line{JobID: id, LineNo: i + 1, Text: tc.text}); err != nil {
				t.Fatal(err)
			}
			if err := ix.Flush(); err != nil {
				t.Fatal(err)
			}
			res, err := ix.Search(context.Background(), Query{Text: tc.query})
			if err != nil || len(res.Hits) != 1 {
				t.Fatalf("Search(%q) = %d hits, %v", tc.query, len(res.Hits), err)
			}
			tc.check(t, res.Hits[0])
		})
	}
}

func TestAddInvalid(t *testing.T) {
	ix, _ := openTest(t)
	tests := []Line{
		{LineNo: 1, Text: []byte("x")},
		{JobID: "j", Text: []byte("x")},
		{JobID: "j", LineNo: -3, Text: []byte("x")},
		{JobID: "j", LineNo: 1, Stream: "std out", Text: []byte("x")},
		{JobID: "j", LineNo: 1, Stream: "out\n", Text: []byte("x")},
	}
	for _, l := range tests {
		if err := ix.Add(l); !errors.Is(err, ErrInvalidLine) {
			t.Errorf("Add(%+v) = %v, want ErrInvalidLine", l, err)
		}
	}
}

func TestReopen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "idx")
	ix, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	addJob(t, ix, "j1", "t")
	if err := ix.Add(Line{JobID: "j2", LineNo: 1, Text: []byte("pending at close")}); err != nil {
		t.Fatal(err)
	}
	if err := ix.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := ix.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := ix.Add(Line{JobID: "j", LineNo: 1}); !errors.Is(err, ErrClosed) {
		t.Errorf("Add after Close = %v, want ErrClosed", err)
	}
	afterClose := map[string]error{
		"Flush":     ix.Flush(),
		"EndJob":    ix.EndJob("c"),
		"DeleteJob": ix.DeleteJob("j1"),
	}
	_, afterClose["Search"] = ix.Search(context.Background(), Query{Text: "x"})
	for name, err := range afterClose {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close = %v, want ErrClosed", name, err)
		}
	}

	ix, err = Open(dir, Options{})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer ix.Close()
	if n, err := ix.DocCount(); err != nil || n != 6 {
		t.Errorf("DocCount = %d, %v; want 6", n, err)
	}
	res, err := ix.Search(context.Background(), Query{Text: `"pending at close"`})
	if err != nil || res.Total != 1 {
		t.Errorf("search after reopen = %v, %v", res.Total, err)
	}
}

func TestOpenCorrupt(t *testing.T) {
	tests := []struct {
		name  string
		setup func(dir string) error
	}{
		{"junk file", func(dir string) error {
			return os.WriteFile(filepath.Join(dir, "junk"), []byte("x"), 0o600)
		}},
		{"bad meta", func(dir string) error {
			return os.WriteFile(filepath.Join(dir, "index_meta.json"), []byte("{not json"), 0o600)
		}},
		{"broken store", func(dir string) error {
			meta := `{"storage":"scorch","index_type":"scorch"}`
			if err := os.WriteFile(filepath.Join(dir, "index_meta.json"), []byte(meta), 0o600); err != nil {
				return err
			}
			if err := os.MkdirAll(filepath.Join(dir, "store"), 0o700); err != nil {
				return err
			}
			junk := bytes.Repeat([]byte{7}, 8192)
			return os.WriteFile(filepath.Join(dir, "store", "root.bolt"), junk, 0o600)
		}},
		{"a file, not a dir", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "idx")
			if tc.setup == nil {
				if err := os.WriteFile(dir, []byte("x"), 0o600); err != nil {
					t.Fatal(err)
				}
			} else {
				if err := os.MkdirAll(dir, 0o700); err != nil {
					t.Fatal(err)
				}
				if err := tc.setup(dir); err != nil {
					t.Fatal(err)
				}
			}

			ix, err := Open(dir, Options{})
			if err == nil {
				_ = ix.Close()
				t.Fatal("Open succeeded")
			}
			if !errors.Is(err, ErrOpen) || !strings.Contains(err.Error(), dir) {
				t.Errorf("err = %v, want ErrOpen naming %s", err, dir)
			}
		})
	}
}

func TestConcurrentAdd(t *testing.T) {
	dir := t.TempDir()
	ix, err := Open(filepath.Join(dir, "idx"), Options{BatchSize: 50, FlushInterval: 5 * time.Millisecond,
		LogDir: filepath.Join(dir, "logs"), NumericFields: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()

	const workers, perWorker = 16, 300
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			job := fmt.Sprintf("job%02d", w)
			for i := 1; i <= perWorker; i++ {
				text := fmt.Sprintf(`{"worker":%d,"seq":%d,"msg":"hello from %s"}`, w, i, job)
				if err := ix.Add(Line{JobID: job, Container: job, LineNo: i, Tool: "conc",
					Text: []byte(text)}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if err := ix.Flush(); err != nil {
		t.Fatal(err)
	}

	if n, err := ix.DocCount(); err != nil || n != workers*perWorker {
		t.Errorf("DocCount = %d, %v; want %d", n, err, workers*perWorker)
	}
	res, err := ix.Search(context.Background(), Query{Text: "+fields.worker:7 +fields.seq:>=101"})
	if err != nil || res.Total != perWorker-100 {
		t.Errorf("Total = %d, %v; want %d", res.Total, err, perWorker-100)
	}
	st := ix.Stats()
	if st.DocsIndexed != workers*perWorker || st.Batches == 0 || st.LastError != "" || st.BytesOnDisk == 0 {
		t.Errorf("Stats = %+v", st)
	}
}

func TestDeleteJob(t *testing.T) {
	ix, _ := openTest(t)
	addJob(t, ix, "keep", "t")
	addJob(t, ix, "drop", "t")
	if err := ix.Add(Line{JobID: "drop", LineNo: 99, Text: []byte("still pending")}); err != nil {
		t.Fatal(err)
	}

	if err := ix.DeleteJob("drop"); err != nil {
		t.Fatalf("DeleteJob: %v", err)
	}

	tests := []struct {
		query string
		want  uint64
	}{
		{"job_id:drop", 0},
		{"job_id:keep", 5},
		{"pending", 0},
	}
	for _, tc := range tests {
		res, err := ix.Search(context.Background(), Query{Text: tc.query})
		if err != nil || res.Total != tc.want {
			t.Errorf("Search(%q) = %d, %v; want %d", tc.query, res.Total, err, tc.want)
		}
	}
}

func TestStatsSkipped(t *testing.T) {
	ix, _ := openTest(t)
	addJob(t, ix, "j", "t")
	st := ix.Stats()
	if st.DocsIndexed != 5 || st.LinesSkipped != 1 || st.DocsPending != 0 || st.OpenLogFiles != 2 {
		t.Errorf("Stats = %+v", st)
	}
}

func TestOneWord(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"dns", true}, {"NOERROR", true}, {"www.tcpdump.org", true}, {"10.0.0.1", true},
		{"abc_123", true}, {"x1", true},
		{"", false}, {"a b", false}, {"ns1.example.com", false}, {"2.2.x", false}, {"a..b", false},
		{".a", false}, {"a.", false}, {"a:b", false}, {"1,000", false}, {"don't", false}, {"é", false},
	}
	for _, tc := range tests {
		if got := oneWord(tc.in); got != tc.want {
			t.Errorf("oneWord(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}

	// What oneWord accepts must really be at most one token.
	a := standardAnalyzer(t)
	for _, tc := range tests {
		if tc.want {
			if n := len(a.Analyze([]byte(tc.in))); n > 1 {
				t.Errorf("%q is %d tokens", tc.in, n)
			}
		}
	}
}

// TestJobIndex checks that the job documents of layout 3 survive a
// reopen and a copy, give hits their tool and file, and go with DeleteJob.
func TestJobIndex(t *testing.T) {
	dir := t.TempDir()
	ix, err := Open(filepath.Join(dir, "idx"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	addJob(t, ix, "j1", "pcap-summary")
	addJob(t, ix, "j2", "p0f")
	if err := ix.CopyTo(filepath.Join(dir, "copy")); err != nil {
		t.Fatal(err)
	}
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}

	check := func(ix *Index, q string, want uint64, tool string) {
		t.Helper()
		res, err := ix.Search(context.Background(), Query{Text: q})
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		if res.Total != want {
			t.Errorf("%s: %d hits, want %d", q, res.Total, want)
		}
		for _, h := range res.Hits {
			if h.Tool != tool || h.File != "/files/a.pcap" {
				t.Errorf("%s: hit of tool %q, file %q; want %q, /files/a.pcap", q, h.Tool, h.File, tool)
			}
		}
	}
	for _, name := range []string{"idx", "copy"} {
		ix, err := Open(filepath.Join(dir, name), Options{})
		if err != nil {
			t.Fatal(err)
		}
		check(ix, "tool:p0f", 5, "p0f")
		check(ix, "+container:ctr-j1 +file_sha256:ab12", 5, "pcap-summary")
		if name == "idx" {
			if err := ix.DeleteJob("j2"); err != nil {
				t.Fatal(err)
			}
			check(ix, "tool:p0f", 0, "")
			if n, err := ix.jobIdx.DocCount(); err != nil || n != 1 {
				t.Errorf("job index holds %d documents after DeleteJob, %v; want 1", n, err)
			}
			// Lines of a deleted job added again bring its job back.
			addJob(t, ix, "j2", "p0f")
			check(ix, "tool:p0f", 5, "p0f")
		}
		if err := ix.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// standardAnalyzer returns bleve's standard analyzer, the one of message,
// file and string fields.
func standardAnalyzer(t *testing.T) analysis.Analyzer {
	t.Helper()
	a, err := registry.NewCache().AnalyzerNamed(standard.Name)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestJobIndexMissing checks that a layout-3 index whose job index was
// removed still opens, and says what is lost in Stats.LastError.
func TestJobIndexMissing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "idx")
	ix, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	addJob(t, ix, "j1", "p0f")
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(dir, jobsDirName)); err != nil {
		t.Fatal(err)
	}

	ix, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	if msg := ix.Stats().LastError; !strings.Contains(msg, "job index") || !strings.Contains(msg, "5 lines") {
		t.Errorf("LastError = %q, want it to name the lost job index and the 5 lines", msg)
	}
	res, err := ix.Search(context.Background(), Query{Text: "job_id:j1"})
	if err != nil || res.Total != 5 {
		t.Errorf("job_id:j1 = %d hits, %v; want 5", res.Total, err)
	}
}

// TestJobQuerySets checks the three ways a clause on a job-level field is
// answered: a few matching jobs, more than half of them (every line but
// the others'), and all of them; and that file:NAME wants all its words.
func TestJobQuerySets(t *testing.T) {
	defer func(n int) { fewJobs = n }(fewJobs)
	fewJobs = 2
	ix, _ := openTest(t)
	for j := range 11 {
		file := fmt.Sprintf("/f/a-%d.pcap", j)
		if j >= 7 {
			file = fmt.Sprintf("/f/b-%d.cap", j)
		}
		for l := range 3 {
			err := ix.Add(Line{JobID: fmt.Sprintf("j%d", j), Tool: "t", File: file, Container: fmt.Sprintf("c%d", j),
				LineNo: l + 1, Time: t0, Text: []byte("x")})
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := ix.Flush(); err != nil {
		t.Fatal(err)
	}
	// Job j10 keeps its lines but loses its job document, as after a lost
	// job index: no clause on its file may match its lines.
	if err := ix.jobIdx.Delete("j10" + jobDocSuffix); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		q    string
		want uint64
	}{
		{"file:cap", 9},            // 3 of 10 jobs
		{"file:pcap", 21},          // 7 of 10: every line but the other jobs'
		{"file:f", 30},             // all jobs
		{"file:*", 30},             // all jobs
		{"file:a-3.pcap", 3},       // both words
		{"file:a-3.cap", 0},        // no file has both
		{"+file:pcap +line:>2", 7}, // the many-jobs form inside a conjunction
		{"-file:pcap +line:1", 4},  // and negated (j10 has no job document)
		{"+container:c2 +line:1", 1},
		{"container:c2 container:c8", 6},
	}
	for _, tc := range tests {
		res, err := ix.Search(context.Background(), Query{Text: tc.q})
		if err != nil {
			t.Fatalf("%s: %v", tc.q, err)
		}
		if res.Total != tc.want {
			t.Errorf("%s: %d hits, want %d", tc.q, res.Total, tc.want)
		}
	}
}
