package index

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// A file name that is not UTF-8 comes back from a search as its bytes,
// and in JSON as file_bytes beside the text form.
func TestHitFileNotUTF8(t *testing.T) {
	for _, version := range []string{schemaVersion, schemaV2, schemaV1} {
		t.Run("layout "+version, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "idx")
			if version != schemaVersion {
				markLayout(t, dir, version)
			}
			ix, err := Open(dir, Options{LogDir: filepath.Join(filepath.Dir(dir), "logs")})
			if err != nil {
				t.Fatal(err)
			}
			defer ix.Close()
			testHitFileNotUTF8(t, ix)
		})
	}
}

func testHitFileNotUTF8(t *testing.T, ix *Index) {
	name := "/files/caf\xe9 \xff.pcap"
	err := ix.Add(Line{JobID: "j1", Tool: "t", File: name, LineNo: 1, Text: []byte("hello raw")})
	if err != nil {
		t.Fatal(err)
	}
	if err := ix.Flush(); err != nil {
		t.Fatal(err)
	}

	res, err := ix.Search(context.Background(), Query{Text: "hello"})
	if err != nil || len(res.Hits) != 1 {
		t.Fatalf("search: %+v, %v", res, err)
	}
	if res.Hits[0].File != name {
		t.Fatalf("hit file %q, want %q", res.Hits[0].File, name)
	}

	data, err := json.Marshal(res.Hits[0])
	if err != nil {
		t.Fatal(err)
	}
	var back Hit
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if back.File != name {
		t.Errorf("file after a JSON round trip %q, want %q (JSON %s)", back.File, name, data)
	}
}

// A UTF-8 name has no file_bytes.
func TestHitFileUTF8JSON(t *testing.T) {
	data, err := json.Marshal(Hit{File: "/files/café.pcap"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), "file_bytes") {
		t.Errorf("JSON of a UTF-8 name carries file_bytes: %s", data)
	}
}
