package jobs

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestParseState(t *testing.T) {
	tests := []struct {
		in   string
		want State
		err  bool
	}{
		{"queued", Queued, false},
		{"running", Running, false},
		{"done", Done, false},
		{"failed", Failed, false},
		{"cancelled", Cancelled, false},
		{" Failed\n", Failed, false},
		{"DONE", Done, false},
		{"canceled", "", true},
		{"", "", true},
		{"finished", "", true},
	}
	for _, tt := range tests {
		got, err := ParseState(tt.in)
		if tt.err {
			if !errors.Is(err, ErrBadState) || !strings.Contains(err.Error(), fmt.Sprintf("%q", tt.in)) {
				t.Errorf("ParseState(%q): error %v, want ErrBadState naming the input", tt.in, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseState(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

// jobIn makes a job and drives it into state st.
func jobIn(t *testing.T, s *Store, n int, st State) Job {
	t.Helper()
	j := mustAdd(t, s, fmt.Sprintf("/drop/%d.pcap", n), fmt.Sprint(n), "tool")[0]
	switch st {
	case Queued:
	case Cancelled:
		if err := s.Cancel(j.ID); err != nil {
			t.Fatal(err)
		}
	default:
		take(t, s, j.ID)
		if st.Final() {
			if err := s.Finish(j.ID, st, nil, "setup", nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	return j
}

func TestTransitions(t *testing.T) {
	code := 3
	ops := map[string]func(s *Store, id string) error{
		"finish done":   func(s *Store, id string) error { return s.Finish(id, Done, &code, "", nil) },
		"finish failed": func(s *Store, id string) error { return s.Finish(id, Failed, &code, "x", nil) },
		"finish cancelled": func(s *Store, id string) error {
			return s.Finish(id, Cancelled, nil, "killed", nil)
		},
		"retry":   func(s *Store, id string) error { return s.Retry(id, time.Time{}, "containerd down") },
		"cancel":  func(s *Store, id string) error { return s.Cancel(id) },
		"requeue": func(s *Store, id string) error { return s.Requeue(id) },
		"reject":  func(s *Store, id string) error { return s.Reject(id, "empty file") },
		"container": func(s *Store, id string) error {
			return s.SetContainer(id, "c1")
		},
	}
	tests := []struct {
		from State
		op   string
		err  error
		to   State
	}{
		{Queued, "finish done", ErrBadTransition, Queued},
		{Queued, "finish cancelled", ErrBadTransition, Queued},
		{Queued, "retry", ErrBadTransition, Queued},
		{Queued, "cancel", nil, Cancelled},
		{Queued, "requeue", ErrBadTransition, Queued},
		{Queued, "container", ErrNotRunning, Queued},
		{Queued, "reject", nil, Failed},
		{Running, "reject", ErrBadTransition, Running},
		{Done, "reject", ErrBadTransition, Done},
		{Failed, "reject", ErrBadTransition, Failed},
		{Running, "finish done", nil, Done},
		{Running, "finish failed", nil, Failed},
		{Running, "finish cancelled", nil, Cancelled},
		{Running, "retry", nil, Queued},
		{Running, "cancel", ErrRunning, Running},
		{Running, "requeue", ErrBadTransition, Running},
		{Running, "container", nil, Running},
		{Done, "finish failed", ErrBadTransition, Done},
		{Done, "retry", ErrBadTransition, Done},
		{Done, "cancel", ErrBadTransition, Done},
		{Done, "requeue", nil, Queued},
		{Done, "container", ErrNotRunning, Done},
		{Failed, "finish done", ErrBadTransition, Failed},
		{Failed, "requeue", nil, Queued},
		{Failed, "cancel", ErrBadTransition, Failed},
		{Cancelled, "finish cancelled", ErrBadTransition, Cancelled},
		{Cancelled, "cancel", ErrBadTransition, Cancelled},
		{Cancelled, "requeue", nil, Queued},
		{Cancelled, "retry", ErrBadTransition, Cancelled},
	}
	s := openTest(t, false, nil)
	for i, tt := range tests {
		name := fmt.Sprintf("%s/%s", tt.from, tt.op)
		j := jobIn(t, s, i, tt.from)
		err := ops[tt.op](s, j.ID)
		wantErr(t, name, err, tt.err)
		if errors.Is(err, ErrBadTransition) && !strings.Contains(err.Error(), j.ID) {
			t.Errorf("%s: error %q does not name the job", name, err)
		}
		got, err := s.Get(j.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.State != tt.to {
			t.Errorf("%s: state %s, want %s", name, got.State, tt.to)
		}
	}
	mustCheck(t, s)

	wantErr(t, "finish with running", s.Finish("000000000001", Running, nil, "", nil), ErrBadState)
	wantErr(t, "cancel unknown", s.Cancel("999999999999"), ErrNotFound)
	wantErr(t, "requeue unknown", s.Requeue("nope"), ErrNotFound)
	_, err := s.Get("nope")
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("Get(nope): %v, want ErrNotFound naming the id", err)
	}
}

func TestFieldsAcrossAttempts(t *testing.T) {
	c := newClock()
	s := openTest(t, false, c)
	j := mustAdd(t, s, "/drop/a.pcap", "a", "p0f")[0]
	if j.ID != "000000000001" || j.State != Queued || j.Attempts != 0 || !j.CreatedAt.Equal(c.Now()) {
		t.Fatalf("new job: %+v", j)
	}

	c.Add(time.Second)
	r := take(t, s, j.ID)
	if r.Attempts != 1 || !r.StartedAt.Equal(c.Now()) || r.State != Running {
		t.Fatalf("after Next: %+v", r)
	}
	if err := s.SetContainer(j.ID, "ctr-1"); err != nil {
		t.Fatal(err)
	}
	code := 2
	tail := make([]string, MaxLogTail+5)
	for i := range tail {
		tail[i] = fmt.Sprint(i)
	}
	c.Add(time.Second)
	if err := s.Finish(j.ID, Failed, &code, "exit 2", tail); err != nil {
		t.Fatal(err)
	}
	code = 99 // Finish must have copied it

	f, _ := s.Get(j.ID)
	if f.State != Failed || *f.ExitCode != 2 || f.Reason != "exit 2" || f.Container != "ctr-1" ||
		!f.FinishedAt.Equal(c.Now()) || len(f.LogTail) != MaxLogTail || f.LogTail[0] != "5" {
		t.Fatalf("after Finish: %+v", f)
	}

	if err := s.Requeue(j.ID); err != nil {
		t.Fatal(err)
	}
	q, _ := s.Get(j.ID)
	if q.State != Queued || q.Attempts != 1 || q.ExitCode != nil || !q.FinishedAt.IsZero() ||
		q.Reason != ReasonRequeued {
		t.Fatalf("after Requeue: %+v", q)
	}

	r2 := take(t, s, j.ID)
	if r2.Attempts != 2 || r2.Reason != "" || r2.Container != "" || r2.LogTail != nil || r2.ExitCode != nil {
		t.Fatalf("second attempt: %+v", r2)
	}
	mustCheck(t, s)
}
