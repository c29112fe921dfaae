package plugins

import (
	"fmt"
	"path/filepath"
	"testing"
)

// BenchmarkRepoAdd50 measures what "plugins add" does before building: a
// clone of a 50-tool repository over file:// with its checkout, and the
// discovery of its tools (templates parsed, image names made).
func BenchmarkRepoAdd50(b *testing.B) {
	dir := filepath.Join(b.TempDir(), "org", "fifty")
	repo := initRepo(b, dir)
	files := map[string]string{}
	for i := range 50 {
		for k, v := range toolFilesFor(fmt.Sprintf("group%d/tool_%02d", i%5, i), "pcap_stats") {
			files[k] = v
		}
	}
	commitFiles(b, repo, dir, files, "fifty tools")
	url := "file://" + dir

	b.ResetTimer()
	for b.Loop() {
		r, err := fetch(b, b.TempDir(), RepoOptions{URL: url})
		if err != nil {
			b.Fatal(err)
		}
		tools, err := r.Tools()
		if err != nil || len(tools) != 50 {
			b.Fatalf("%d tools, %v", len(tools), err)
		}
	}
}
