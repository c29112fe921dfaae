package engine

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/ventapp/ventapp/jobs"
)

// BenchmarkDropToDispatch measures how long a file renamed into the drop
// folder takes to become a running job: watcher, hashing, matching, the
// durable enqueue and a worker's claim. The job's StartedAt, written by the
// store when a worker claims it, ends the interval. Each iteration waits
// for the previous job to finish so workers are idle, as on a quiet sensor.
func BenchmarkDropToDispatch(b *testing.B) {
	te := startEngine(b, "")
	te.addPlugin("bench", `true`, "ext_types = .b")

	src := b.TempDir()
	var lat []time.Duration
	b.ResetTimer()
	for i := range b.N {
		tmp := filepath.Join(src, fmt.Sprint(i))
		os.WriteFile(tmp, []byte(fmt.Sprintf("payload %d", i)), 0o644)
		dst := filepath.Join(te.drop, fmt.Sprintf("f%d.b", i))

		t0 := time.Now()
		if err := os.Rename(tmp, dst); err != nil {
			// The temp folder may be on another filesystem.
			os.WriteFile(dst, []byte(fmt.Sprintf("payload %d", i)), 0o644)
			t0 = time.Now()
		}
		j := te.waitJob("bench", dst, time.Minute)
		if j.State != jobs.Done {
			b.Fatalf("job %s: %s %s", j.ID, j.State, j.Reason)
		}
		lat = append(lat, j.StartedAt.Sub(t0))
	}
	b.StopTimer()

	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}
