package jobs

import (
	"encoding/json"
	"testing"
	"time"
)

func TestNonUTF8PathsSurvive(t *testing.T) {
	paths := []string{"/drop/plain.pcap", "/drop/caf\xe9.pcap", "/drop/a\nb \xff\xfe.pcap"}
	for _, p := range paths {
		data, err := json.Marshal(Job{ID: "1", File: p, State: Queued, CreatedAt: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		var j Job
		if err := json.Unmarshal(data, &j); err != nil {
			t.Fatal(err)
		}
		if j.File != p {
			t.Errorf("job file %q came back as %q", p, j.File)
		}

		data, err = json.Marshal(FileRecord{Path: p})
		if err != nil {
			t.Fatal(err)
		}
		var r FileRecord
		if err := json.Unmarshal(data, &r); err != nil {
			t.Fatal(err)
		}
		if r.Path != p {
			t.Errorf("record path %q came back as %q", p, r.Path)
		}
	}

	// Through the store too.
	s := openTest(t, false, nil)
	added := mustAdd(t, s, "/drop/caf\xe9.pcap", "x", "tool")
	got, err := s.Get(added[0].ID)
	if err != nil || got.File != "/drop/caf\xe9.pcap" {
		t.Errorf("Get: %q, %v", got.File, err)
	}
	if rec, ok, err := s.File("/drop/caf\xe9.pcap"); err != nil || !ok || rec.Path != "/drop/caf\xe9.pcap" {
		t.Errorf("File: %+v %v %v", rec, ok, err)
	}
}
