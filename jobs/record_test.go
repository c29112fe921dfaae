package jobs

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
	"time"

	"go.etcd.io/bbolt"
)

func sampleJobs() []Job {
	at := time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)
	code, neg := 3, -1
	return []Job{
		{State: Queued},
		{ID: "000000000001", File: "/drop/a.pcap", FileSHA256: sum("a"), FileSize: 10, Tool: "p0f",
			State: Queued, CreatedAt: at},
		{ID: "000000000002", File: "/drop/\xff\xfe.pcap", FileSHA256: sum("b"), FileSize: 1 << 40,
			Tool: "tcpdump", State: Done, Attempts: 2, CreatedAt: at, StartedAt: at.Add(time.Second),
			FinishedAt: at.Add(time.Minute), ExitCode: &code, Reason: "ok",
			LogTail: []string{"one", "", "three \x00"}, Container: "ventapp-2-2"},
		{ID: "000000000003", File: "/drop/c", State: Queued, Attempts: 1, CreatedAt: at,
			NotBefore: at.Add(time.Hour), ExitCode: &neg, Reason: ReasonRecovered},
		{ID: "000000000004", State: Cancelled, CreatedAt: time.Unix(0, 0).UTC(),
			FinishedAt: time.Date(1500, 1, 1, 0, 0, 0, 0, time.UTC)},
	}
}

func TestJobRecordRoundTrip(t *testing.T) {
	for i, j := range sampleJobs() {
		t.Run(strconv.Itoa(i), func(t *testing.T) {
			raw := encodeJob(nil, &j)
			got, err := parseJob(raw)
			if err != nil {
				t.Fatalf("parse %q: %v", raw, err)
			}
			if !reflect.DeepEqual(got, j) {
				t.Fatalf("binary round trip:\n got %+v\nwant %+v", got, j)
			}

			old, err := json.Marshal(j)
			if err != nil {
				t.Fatal(err)
			}
			got, err = parseJob(old)
			if err != nil || !reflect.DeepEqual(got, j) {
				t.Fatalf("schema 1 JSON record %s: got %+v, %v", old, got, err)
			}
		})
	}
}

func TestFileRecordRoundTrip(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 5, time.UTC)
	for i, rec := range []FileRecord{
		{},
		{Path: "/drop/a", Size: 7, ModTime: at, SHA256: sum("a"), SeenAt: at.Add(time.Second)},
		{Path: "/drop/\xff", SeenAt: at},
	} {
		raw := encodeFile(nil, &rec)
		got, err := parseFile(raw)
		if err != nil || !reflect.DeepEqual(got, rec) {
			t.Errorf("%d: binary: got %+v, %v; want %+v", i, got, err, rec)
		}
		old, _ := json.Marshal(rec)
		got, err = parseFile(old)
		if err != nil || !reflect.DeepEqual(got, rec) {
			t.Errorf("%d: JSON %s: got %+v, %v; want %+v", i, old, got, err, rec)
		}
	}
}

func TestRecordMalformed(t *testing.T) {
	good := encodeJob(nil, &sampleJobs()[2])
	for _, tc := range []struct {
		name string
		raw  []byte
	}{
		{"empty", nil},
		{"unknown format", []byte{0x7f}},
		{"truncated", good[:len(good)-1]},
		{"trailing bytes", append(append([]byte(nil), good...), 0)},
		{"unknown flag", []byte{recordBinary, 0x40}},
		{"bad json", []byte("{\"id\":")},
	} {
		if _, err := parseJob(tc.raw); err == nil {
			t.Errorf("%s: parseJob(%q) gave no error", tc.name, tc.raw)
		}
		if _, err := decodeJob("x", tc.raw); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: decodeJob error %v does not wrap ErrCorrupt", tc.name, err)
		}
	}
	if _, err := parseFile([]byte{recordBinary, 5, 'a'}); err == nil {
		t.Error("parseFile accepted a truncated record")
	}
}

// FuzzJobRecord checks that parseJob never panics and that whatever it
// accepts in binary form encodes back to the same bytes.
func FuzzJobRecord(f *testing.F) {
	for _, j := range sampleJobs() {
		f.Add(encodeJob(nil, &j))
		old, _ := json.Marshal(j)
		f.Add(old)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		j, err := parseJob(raw)
		if err != nil || raw[0] == '{' {
			return
		}
		again := encodeJob(nil, &j)
		j2, err := parseJob(again)
		if err != nil || !reflect.DeepEqual(j, j2) {
			t.Fatalf("re-encoded record does not parse back: %v\n%+v\n%+v", err, j, j2)
		}
	})
}

// FuzzFileRecord does the same for file records.
func FuzzFileRecord(f *testing.F) {
	rec := FileRecord{Path: "/a", Size: 3, SHA256: sum("a"), SeenAt: time.Unix(5, 6).UTC()}
	f.Add(encodeFile(nil, &rec))
	f.Add([]byte(`{"path":"/a","size":3}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		r, err := parseFile(raw)
		if err != nil || raw[0] == '{' {
			return
		}
		r2, err := parseFile(encodeFile(nil, &r))
		if err != nil || !reflect.DeepEqual(r, r2) {
			t.Fatalf("re-encoded record does not parse back: %v\n%+v\n%+v", err, r, r2)
		}
	})
}

// writeSchema1 writes a store in the schema 1 layout, JSON records and
// all, the way ventapp before schema 2 left it: jobs holds a done job
// for a path that is not UTF-8, a queued job and a running one.
func writeSchema1(t *testing.T, path string, jobs []Job, files []FileRecord) {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	err = db.Update(func(tx *bbolt.Tx) error {
		root, _ := tx.CreateBucket(bucketRoot)
		buckets := map[string]*bbolt.Bucket{}
		for _, name := range []string{"meta", "job", "file", "filejob", "state", "count"} {
			buckets[name], _ = root.CreateBucket([]byte(name))
		}
		counts := map[State]uint64{}
		for _, st := range allStates {
			buckets[string(st)], _ = buckets["state"].CreateBucket([]byte(st))
		}
		for _, j := range jobs {
			raw, err := json.Marshal(j)
			if err != nil {
				return err
			}
			_ = buckets["job"].Put([]byte(j.ID), raw)
			var val []byte
			if j.State == Queued {
				val = encodeTime(j.NotBefore)
			}
			_ = buckets[string(j.State)].Put([]byte(j.ID), val)
			_ = buckets["filejob"].Put(fileJobKey(j.File, j.FileSHA256, j.Tool), []byte(j.ID))
			counts[j.State]++
		}
		_ = buckets["job"].SetSequence(uint64(len(jobs)))
		for _, rec := range files {
			raw, _ := json.Marshal(rec)
			_ = buckets["file"].Put([]byte(rec.Path), raw)
		}
		for st, n := range counts {
			_ = buckets["count"].Put([]byte(st), encodeUint(n))
		}
		return buckets["meta"].Put(keySchema, []byte("1"))
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestOpenSchema1Store(t *testing.T) {
	path := filepath.Join(t.TempDir(), "jobs.db")
	at := time.Date(2026, 2, 1, 9, 0, 0, 0, time.UTC)
	code := 0
	odd := "/drop/\xff.pcap"
	old := []Job{
		{ID: "000000000001", File: odd, FileSHA256: sum("odd"), FileSize: 3, Tool: "p0f", State: Done,
			Attempts: 1, CreatedAt: at, StartedAt: at, FinishedAt: at.Add(time.Second), ExitCode: &code,
			LogTail: []string{"line"}, Container: "c1"},
		{ID: "000000000002", File: "/drop/b", FileSHA256: sum("b"), FileSize: 1, Tool: "p0f",
			State: Queued, CreatedAt: at},
		{ID: "000000000003", File: "/drop/b", FileSHA256: sum("b"), FileSize: 1, Tool: "snort",
			State: Running, Attempts: 1, CreatedAt: at, StartedAt: at},
	}
	files := []FileRecord{
		{Path: odd, Size: 3, ModTime: at, SHA256: sum("odd"), SeenAt: at},
		{Path: "/drop/b", Size: 1, ModTime: at, SHA256: sum("b"), SeenAt: at},
	}
	writeSchema1(t, path, old, files)
	defer func(n int) { migrateChunk = n }(migrateChunk)
	migrateChunk = 2

	s, err := Open(path, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	mustCheck(t, s)
	for _, want := range old {
		got, err := s.Get(want.ID)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("job %s after migration: got %+v, %v; want %+v", want.ID, got, err, want)
		}
	}
	for _, want := range files {
		got, ok, err := s.File(want.Path)
		if err != nil || !ok || !reflect.DeepEqual(got, want) {
			t.Errorf("file %q after migration: got %+v, %t, %v", want.Path, got, ok, err)
		}
	}

	err = s.DB().View(func(tx *bbolt.Tx) error {
		root := tx.Bucket(bucketRoot)
		if v := string(root.Bucket(bucketMeta).Get(keySchema)); v != strconv.Itoa(SchemaVersion) {
			t.Errorf("schema_version is %q after Open, want %d", v, SchemaVersion)
		}
		for _, name := range [][]byte{bucketJob, bucketFile} {
			_ = root.Bucket(name).ForEach(func(k, v []byte) error {
				if v[0] != recordBinary {
					t.Errorf("%s/%s is still %q", name, k, v)
				}
				return nil
			})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// The ledger still knows the content, the ids go on and the queue works.
	if added := mustAdd(t, s, "/drop/b", "b", "p0f", "snort", "zeek"); len(added) != 1 ||
		added[0].ID != "000000000004" {
		t.Fatalf("AddFile after migration made %+v, want only job 000000000004 for zeek", added)
	}
	if j := take(t, s, "000000000002"); j.State != Running {
		t.Fatalf("Next gave %+v", j)
	}
	mustCheck(t, s)
}
