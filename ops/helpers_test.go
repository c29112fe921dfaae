package ops

import (
	"go.etcd.io/bbolt"

	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ventapp/ventapp/index"
	"github.com/ventapp/ventapp/jobs"
	"github.com/ventapp/ventapp/plugins"
)

// install is a ventapp installation made for a test.
type install struct {
	root    string // temp root
	dataDir string
	config  string
	drop    string
	srcDir  string // the plugin's source folder
	store   *jobs.Store
	// lifecycle says the store holds the engine's lifecycle state.
	lifecycle bool
}

// newInstall creates a data dir with a job store holding real jobs and
// the plugin registry's bucket (one plugin pointing at a source folder),
// an index with lines, the manifest and status files, a config file and a
// drop folder with a file. The registry gets into the bucket the way a
// real one does: written as the plugins.json of older versions and
// migrated by plugins.OpenRegistry.
func newInstall(t *testing.T) *install {
	t.Helper()
	in := newLegacyInstall(t)
	legacy := filepath.Join(in.dataDir, pluginsName)
	if _, err := plugins.OpenRegistry(in.store.DB(), legacy, nil); err != nil {
		t.Fatal(err)
	}

	// The engine's lifecycle state, with a record kept for rollback that
	// points at the plugin source like the registry's.
	state := fmt.Sprintf(`{"started":{"pcap-summary":true},"previous":{"pcap-summary":`+
		`{"name":"pcap-summary","dir":%q,"dockerfile":%q,"image":"ventapp/pcap-summary:previous"}}}`,
		in.srcDir, filepath.Join(in.srcDir, "Dockerfile"))
	must(t, in.store.DB().Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte(plugins.LifecycleBucket))
		if err != nil {
			return err
		}
		return b.Put([]byte(plugins.LifecycleStateKey), []byte(state))
	}))
	in.lifecycle = true
	return in
}

// newLegacyInstall is newInstall as older versions left it: the registry
// is dataDir/plugins.json and the job store has no registry bucket.
func newLegacyInstall(t *testing.T) *install {
	t.Helper()
	root := t.TempDir()
	in := &install{
		root:    root,
		dataDir: filepath.Join(root, "var", "ventapp"),
		config:  filepath.Join(root, "etc", "vent.cfg"),
		drop:    filepath.Join(root, "drop"),
		srcDir:  filepath.Join(root, "src", "pcap-summary"),
	}
	for _, d := range []string{in.dataDir, filepath.Dir(in.config), in.drop, in.srcDir} {
		must(t, os.MkdirAll(d, 0o755))
	}
	write(t, in.config, "[main]\nfiles = "+in.drop+"\n")
	write(t, filepath.Join(in.drop, "capture.pcap"), "not really a capture")
	write(t, filepath.Join(in.srcDir, "Dockerfile"), "FROM scratch\nCOPY run /run\n")
	write(t, filepath.Join(in.srcDir, "vent.template"), "[info]\nname = pcap-summary\n")
	write(t, filepath.Join(in.srcDir, "run"), "#!/bin/sh\necho hi\n")
	// A mode the usual umask (022) would change: restore must keep it.
	must(t, os.Chmod(filepath.Join(in.srcDir, "run"), 0o775))

	reg := map[string]any{"version": 1, "plugins": []map[string]any{{
		"name": "pcap-summary", "link_name": "pcap-summary", "dir": in.srcDir,
		"dockerfile":    filepath.Join(in.srcDir, "Dockerfile"),
		"template_path": filepath.Join(in.srcDir, "vent.template"),
		"repo":          "local:" + in.srcDir, "image": "ventapp/pcap-summary:latest",
		"enabled": true, "built": true, "image_digest": "sha256:" + fmt.Sprintf("%064d", 7),
		"future_field": "kept",
	}}}
	data, _ := json.Marshal(reg)
	write(t, filepath.Join(in.dataDir, pluginsName), string(data))
	write(t, filepath.Join(in.dataDir, manifestCfg), "[pcap-summary:master:.]\nname = pcap-summary\n")
	write(t, filepath.Join(in.dataDir, statusName), "{\"job\":\"1\"}\n")

	s, err := jobs.Open(filepath.Join(in.dataDir, jobsDBName), jobs.Options{NoSync: true})
	must(t, err)
	in.store = s
	t.Cleanup(func() { in.closeStore() })
	for i := range 5 {
		_, err := s.AddFile(jobs.FileRecord{Path: fmt.Sprintf("/drop/f%d.pcap", i), Size: int64(i + 1),
			ModTime: time.Unix(1700000000, 0), SHA256: fmt.Sprintf("%064x", i+1)}, []string{"pcap-summary", "other"})
		must(t, err)
	}
	j, ok, err := s.Next(nil)
	must(t, err)
	if !ok {
		t.Fatal("no queued job")
	}
	zero := 0
	must(t, s.Finish(j.ID, jobs.Done, &zero, "", nil))

	ix, err := index.Open(filepath.Join(in.dataDir, indexName), index.Options{})
	must(t, err)
	for n := 1; n <= 20; n++ {
		word := "alpha"
		if n%2 == 0 {
			word = "beta"
		}
		must(t, ix.Add(index.Line{JobID: j.ID, Tool: "pcap-summary", File: "/drop/f0.pcap",
			LineNo: n, Text: []byte(fmt.Sprintf("%s line %d", word, n))}))
	}
	must(t, ix.Close())
	return in
}

func (in *install) closeStore() {
	if in.store != nil {
		in.store.Close()
		in.store = nil
	}
}

func (in *install) source() BackupSource {
	return BackupSource{DB: in.store.DB(), DataDir: in.dataDir, ConfigPath: in.config, Version: "1.2.3-test"}
}

// backup writes a backup of in to a file and returns its path and bytes.
func (in *install) backup(t *testing.T) (string, []byte) {
	t.Helper()
	var buf bytes.Buffer
	must(t, Backup(context.Background(), &buf, in.source()))
	p := filepath.Join(in.root, "backup.tar.gz")
	must(t, os.WriteFile(p, buf.Bytes(), 0o600))
	return p, buf.Bytes()
}

// search returns the IDs of the hits for q in the index under dataDir.
func search(t *testing.T, dataDir, q string) []string {
	t.Helper()
	ix, err := index.Open(filepath.Join(dataDir, indexName), index.Options{})
	must(t, err)
	defer ix.Close()
	res, err := ix.Search(context.Background(), index.Query{Text: q, Limit: 100})
	must(t, err)
	var ids []string
	for _, h := range res.Hits {
		ids = append(ids, h.ID)
	}
	return ids
}

// member is one archive member read back by readArchive.
type member struct {
	name string
	body []byte
	mode int64 // 0 writes 0600
}

func readArchive(t *testing.T, data []byte) []member {
	t.Helper()
	gz, err := gzip.NewReader(bytes.NewReader(data))
	must(t, err)
	tr := tar.NewReader(gz)
	var out []member
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return out
		}
		must(t, err)
		b, err := io.ReadAll(tr)
		must(t, err)
		out = append(out, member{hdr.Name, b, hdr.Mode})
	}
}

func writeArchive(t *testing.T, members []member) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, m := range members {
		mode := m.mode
		if mode == 0 {
			mode = 0o600
		}
		must(t, tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: m.name, Size: int64(len(m.body)), Mode: mode}))
		_, err := tw.Write(m.body)
		must(t, err)
	}
	must(t, tw.Close())
	must(t, gz.Close())
	return buf.Bytes()
}

// snapshotDir records every file under dir with its content.
func snapshotDir(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		out[p] = string(b)
		return nil
	})
	return out
}

func write(t *testing.T, path, text string) {
	t.Helper()
	must(t, os.MkdirAll(filepath.Dir(path), 0o755))
	must(t, os.WriteFile(path, []byte(text), 0o644))
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
