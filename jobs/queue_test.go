package jobs

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"
)

func ids(jobs []Job) []string {
	out := make([]string, len(jobs))
	for i, j := range jobs {
		out[i] = j.ID
	}
	return out
}

func tools(jobs []Job) []string {
	out := make([]string, len(jobs))
	for i, j := range jobs {
		out[i] = j.Tool
	}
	return out
}

func TestAddFileDedupe(t *testing.T) {
	s := openTest(t, false, nil)
	steps := []struct {
		name    string
		path    string
		content string
		tools   []string
		want    []string // tools that get new jobs
	}{
		{"first sight", "/drop/a.pcap", "v1", []string{"p0f", "tcpdump"}, []string{"p0f", "tcpdump"}},
		{"same content again", "/drop/a.pcap", "v1", []string{"p0f", "tcpdump"}, nil},
		{"tool added later", "/drop/a.pcap", "v1", []string{"p0f", "tcpdump", "snort"}, []string{"snort"}},
		{"new content same path", "/drop/a.pcap", "v2", []string{"p0f", "tcpdump"},
			[]string{"p0f", "tcpdump"}},
		{"old content returns", "/drop/a.pcap", "v1", []string{"p0f"}, nil},
		{"same content other path", "/drop/b.pcap", "v1", []string{"p0f"}, []string{"p0f"}},
		{"duplicate tool in list", "/drop/c.pcap", "c", []string{"p0f", "p0f"}, []string{"p0f"}},
		{"no tools", "/drop/d.pcap", "d", nil, nil},
	}
	for _, st := range steps {
		missing, err := s.MissingTools(st.path, sum(st.content), st.tools)
		if err != nil || !slices.Equal(missing, st.want) {
			t.Errorf("%s: MissingTools = %v, %v; want %v", st.name, missing, err, st.want)
		}
		got := mustAdd(t, s, st.path, st.content, st.tools...)
		if !slices.Equal(tools(got), st.want) {
			t.Errorf("%s: new jobs for %v, want %v", st.name, tools(got), st.want)
		}
		for _, j := range got {
			if j.File != st.path || j.FileSHA256 != sum(st.content) || j.State != Queued {
				t.Errorf("%s: job %+v", st.name, j)
			}
		}
		rec, ok, err := s.File(st.path)
		if err != nil || !ok || rec.SHA256 != sum(st.content) || rec.SeenAt.IsZero() {
			t.Errorf("%s: File = %+v, %t, %v", st.name, rec, ok, err)
		}
	}

	// A finished job still blocks a duplicate.
	j, _, _ := s.Next(nil)
	if err := s.Finish(j.ID, Done, nil, "", nil); err != nil {
		t.Fatal(err)
	}
	if got := mustAdd(t, s, j.File, "v1", j.Tool); len(got) != 0 {
		t.Errorf("re-adding finished work made %v", ids(got))
	}

	if _, ok, _ := s.File("/drop/never.pcap"); ok {
		t.Error("File of unknown path reported ok")
	}
	counts, _ := s.Counts()
	if counts[Queued]+counts[Done] != 7 {
		t.Errorf("counts %v, want 7 jobs", counts)
	}
	mustCheck(t, s)
}

func TestAddFileBadInput(t *testing.T) {
	s := openTest(t, false, nil)
	good := record("/drop/a.pcap", "a")
	tests := []struct {
		name  string
		edit  func(*FileRecord)
		tools []string
	}{
		{"relative path", func(r *FileRecord) { r.Path = "drop/a.pcap" }, []string{"x"}},
		{"empty path", func(r *FileRecord) { r.Path = "" }, []string{"x"}},
		{"short sha", func(r *FileRecord) { r.SHA256 = "abcd" }, []string{"x"}},
		{"non-hex sha", func(r *FileRecord) { r.SHA256 = good.SHA256[:63] + "g" }, []string{"x"}},
		{"negative size", func(r *FileRecord) { r.Size = -1 }, []string{"x"}},
		{"empty tool", func(r *FileRecord) {}, []string{"x", ""}},
		{"nul in tool", func(r *FileRecord) {}, []string{"a\x00b"}},
	}
	for _, tt := range tests {
		rec := good
		tt.edit(&rec)
		_, err := s.AddFile(rec, tt.tools)
		wantErr(t, tt.name, err, ErrBadInput)
	}
	if n, _ := s.List(Filter{}); len(n) != 0 {
		t.Errorf("bad input created jobs %v", ids(n))
	}

	upper := good
	upper.SHA256 = "ABCDEF" + good.SHA256[6:]
	got, err := s.AddFile(upper, []string{"x"})
	if err != nil || got[0].FileSHA256 != "abcdef"+good.SHA256[6:] {
		t.Errorf("upper-case sha: %v, %v", got, err)
	}
}

func TestNextOrderBackoffAccept(t *testing.T) {
	c := newClock()
	s := openTest(t, false, c)
	var all []Job
	for i := range 4 {
		all = append(all, mustAdd(t, s, fmt.Sprintf("/drop/%d", i), fmt.Sprint(i), "p0f", "snort")...)
	}

	// Oldest first, filtered by tool.
	onlySnort := func(j Job) bool { return j.Tool == "snort" }
	a, ok, err := s.Next(onlySnort)
	if err != nil || !ok || a.ID != all[1].ID {
		t.Fatalf("Next(snort) = %s, %t, %v; want %s", a.ID, ok, err, all[1].ID)
	}
	b, _, _ := s.Next(nil)
	if b.ID != all[0].ID {
		t.Fatalf("Next(nil) = %s, want %s", b.ID, all[0].ID)
	}

	// A retried job waits for its NotBefore and keeps its place after that.
	if err := s.Retry(b.ID, c.Now().Add(time.Minute), "containerd restarting"); err != nil {
		t.Fatal(err)
	}
	r, _ := s.Get(b.ID)
	if r.State != Queued || r.Reason != "containerd restarting" ||
		!r.NotBefore.Equal(c.Now().Add(time.Minute)) {
		t.Fatalf("after Retry: %+v", r)
	}
	n, _, _ := s.Next(nil)
	if n.ID != all[2].ID {
		t.Fatalf("Next during backoff = %s, want %s", n.ID, all[2].ID)
	}
	c.Add(2 * time.Minute)
	n, _, _ = s.Next(nil)
	if n.ID != b.ID || n.Attempts != 2 || !n.NotBefore.IsZero() {
		t.Fatalf("Next after backoff = %+v, want %s attempt 2", n, b.ID)
	}

	// Nothing accepted: ok is false, no error, nothing changes.
	before, _ := s.Counts()
	_, ok, err = s.Next(func(Job) bool { return false })
	if ok || err != nil {
		t.Fatalf("Next(reject all) = %t, %v", ok, err)
	}
	after, _ := s.Counts()
	if !mapsEqual(before, after) {
		t.Errorf("counts changed %v -> %v", before, after)
	}

	// Drain: every remaining job comes out once, in id order.
	var rest []string
	for {
		j, ok, err := s.Next(nil)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		rest = append(rest, j.ID)
	}
	if want := ids(all[3:]); !slices.Equal(rest, want) {
		t.Errorf("drained %v", rest)
	}
	mustCheck(t, s)
}

// TestNextReadsOnlyQueued checks that Next offers accept only queued jobs,
// however many finished ones the store holds.
func TestNextReadsOnlyQueued(t *testing.T) {
	s := openTest(t, false, nil)
	for i := range 20 {
		j := mustAdd(t, s, fmt.Sprintf("/drop/old%d", i), "old", "x")[0]
		take(t, s, j.ID)
		if err := s.Finish(j.ID, []State{Done, Failed}[i%2], nil, "", nil); err != nil {
			t.Fatal(err)
		}
	}
	mustAdd(t, s, "/drop/new", "new", "x", "y")
	var offered []State
	_, ok, err := s.Next(func(j Job) bool {
		offered = append(offered, j.State)
		return false
	})
	if ok || err != nil || !slices.Equal(offered, []State{Queued, Queued}) {
		t.Fatalf("Next offered %v (ok %t, err %v), want two queued jobs", offered, ok, err)
	}
}

func mapsEqual(a, b map[State]int) bool {
	for _, st := range allStates {
		if a[st] != b[st] {
			return false
		}
	}
	return true
}

func TestNextAcceptPanics(t *testing.T) {
	s := openTest(t, false, nil)
	mustAdd(t, s, "/drop/a", "a", "x")
	_, ok, err := s.Next(func(Job) bool { panic("boom") })
	if err == nil || ok {
		t.Fatalf("Next with panicking accept: %t, %v", ok, err)
	}
	if j, ok, err := s.Next(nil); err != nil || !ok || j.Attempts != 1 {
		t.Fatalf("store unusable after panic: %+v %t %v", j, ok, err)
	}
	mustCheck(t, s)
}

func TestList(t *testing.T) {
	s := openTest(t, false, nil)
	for i := range 6 {
		dir := []string{"x", "y"}[i%2]
		mustAdd(t, s, fmt.Sprintf("/drop/%s/%d.pcap", dir, i), fmt.Sprint(i), "p0f", "snort")
	}
	// ids 1..12; finish 1 and 2 (file 0), fail 4 (file 1 snort)
	for _, id := range []string{"000000000001", "000000000002", "000000000004"} {
		take(t, s, id)
		st := Done
		if id == "000000000004" {
			st = Failed
		}
		if err := s.Finish(id, st, nil, "", nil); err != nil {
			t.Fatal(err)
		}
	}
	n := func(is ...int) []string {
		out := make([]string, len(is))
		for i, v := range is {
			out[i] = fmt.Sprintf("%012d", v)
		}
		return out
	}
	tests := []struct {
		name string
		f    Filter
		want []string
	}{
		{"all", Filter{}, n(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12)},
		{"newest", Filter{Newest: true, Limit: 3}, n(12, 11, 10)},
		{"done", Filter{State: Done}, n(1, 2)},
		{"failed", Filter{State: Failed}, n(4)},
		{"queued snort", Filter{State: Queued, Tool: "snort"}, n(6, 8, 10, 12)},
		{"tool", Filter{Tool: "p0f"}, n(1, 3, 5, 7, 9, 11)},
		{"file substring", Filter{File: "/y/"}, n(3, 4, 7, 8, 11, 12)},
		{"page 2", Filter{Limit: 5, Offset: 5}, n(6, 7, 8, 9, 10)},
		{"page past end", Filter{Limit: 5, Offset: 12}, nil},
		{"newest page", Filter{State: Queued, Newest: true, Limit: 2, Offset: 1}, n(11, 10)},
		{"combined", Filter{File: "/x/", Tool: "snort", State: Queued, Offset: 1}, n(10)},
		{"running none", Filter{State: Running}, nil},
	}
	for _, tt := range tests {
		got, err := s.List(tt.f)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if !slices.Equal(ids(got), tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, ids(got), tt.want)
		}
	}

	bad := []Filter{{State: "finished"}, {Limit: -1}, {Offset: -2}}
	for _, f := range bad {
		if _, err := s.List(f); err == nil {
			t.Errorf("List(%+v) accepted", f)
		}
	}
}

func TestWake(t *testing.T) {
	s := openTest(t, false, nil)
	w := s.Wake()
	select {
	case <-w:
		t.Fatal("wake channel closed before any job")
	default:
	}
	mustAdd(t, s, "/drop/a", "a")
	select {
	case <-w:
		t.Fatal("wake closed by a file with no tools")
	default:
	}
	mustAdd(t, s, "/drop/a", "a", "x")
	select {
	case <-w:
	case <-time.After(5 * time.Second):
		t.Fatal("wake channel not closed after AddFile")
	}
	if s.Wake() == w {
		t.Fatal("Wake returned the spent channel")
	}
}

func TestClosed(t *testing.T) {
	s := openTest(t, false, nil)
	j := mustAdd(t, s, "/drop/a", "a", "x")[0]
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	_, err1 := s.AddFile(record("/drop/b", "b"), []string{"x"})
	_, _, err2 := s.Next(nil)
	_, err3 := s.Get(j.ID)
	_, err4 := s.Counts()
	for i, err := range []error{err1, err2, err3, err4, s.Cancel(j.ID)} {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("call %d after Close: %v, want ErrClosed", i, err)
		}
	}
}
