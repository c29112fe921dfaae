package jobs

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// BenchmarkEnqueueComplete measures whole job lifecycles with fsync on:
// each iteration is AddFile (one tool), Next and Finish, run from many
// goroutines at once. "writer" is the store's group-commit goroutine;
// "dbbatch" sends the same requests through bbolt's DB.Batch with
// MaxBatchSize raised to 256, for comparison.
func BenchmarkEnqueueComplete(b *testing.B) {
	for _, mode := range []string{"writer", "dbbatch"} {
		for _, par := range []int{8, 32, 128} {
			b.Run(fmt.Sprintf("%s/goroutines=%dxGOMAXPROCS", mode, par), func(b *testing.B) {
				benchLifecycle(b, mode == "dbbatch", par)
			})
		}
	}
}

func benchLifecycle(b *testing.B, viaBatch bool, par int) {
	// JOBS_BENCH_NOSYNC=1 turns fsync off to show the CPU-bound ceiling.
	opts := Options{viaBatch: viaBatch, NoSync: os.Getenv("JOBS_BENCH_NOSYNC") != ""}
	s, err := Open(filepath.Join(b.TempDir(), "jobs.db"), opts)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if viaBatch {
		s.DB().MaxBatchSize = 256
	}
	sha := sum("bench")
	var n atomic.Int64

	b.ReportAllocs()
	b.SetParallelism(par)
	start, cpu0, w0 := time.Now(), cpuTime(), writtenBytes()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			rec := FileRecord{Path: fmt.Sprintf("/drop/%d.pcap", i), Size: 1, SHA256: sha}
			if _, err := s.AddFile(rec, []string{"p0f"}); err != nil {
				b.Error(err)
				return
			}
			j, ok, err := s.Next(nil)
			if err != nil || !ok {
				b.Errorf("Next: %t %v", ok, err)
				return
			}
			if err := s.Finish(j.ID, Done, nil, "", nil); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "jobs/s")
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/job")
	b.ReportMetric(float64(writtenBytes()-w0)/float64(b.N), "written-B/job")
	b.ReportMetric(0, "ns/op")
	if st := s.Stats(); st.Groups > 0 {
		b.ReportMetric(float64(st.Requests)/float64(st.Groups), "writes/fsync")
	}

	if c, _ := s.Counts(); c[Done] != b.N {
		b.Fatalf("counts %v after %d iterations", c, b.N)
	}
}

// cpuTime returns the user plus system CPU time the process has used, so
// a benchmark can report cost per job that does not depend on how busy
// the machine is.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// writtenBytes returns the bytes this process has passed to write calls
// (wchar in /proc/self/io), or 0 where that file is missing.
func writtenBytes() int64 {
	raw, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "wchar: "); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}
