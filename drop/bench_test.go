package drop

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// BenchmarkDropToReady measures the time from renaming a complete file into
// the drop folder to the ready callback, with the default Settle and Quiet.
// It reports the median and 99th percentile in milliseconds.
func BenchmarkDropToReady(b *testing.B) {
	stage := b.TempDir()
	w, c := startWatcher(b, Options{Quiet: DefaultQuiet, Logger: slog.New(slog.DiscardHandler)})
	data := make([]byte, 64<<10)

	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		src := filepath.Join(stage, fmt.Sprint(i))
		if err := os.WriteFile(src, data, 0o644); err != nil {
			b.Fatal(err)
		}
		dst := filepath.Join(w.Root(), fmt.Sprintf("f%d.pcap", i))

		start := time.Now()
		if err := os.Rename(src, dst); err != nil {
			b.Fatal(err)
		}
		got := c.waitFor(b, dst, 1)
		lat = append(lat, got[0].at.Sub(start))
	}
	b.StopTimer()

	slices.Sort(lat)
	b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
	b.ReportMetric(ms(lat[len(lat)*99/100]), "p99-ms")
}

// BenchmarkDropBurst renames 500 files into the drop folder at once and
// measures how long it takes until all are reported.
func BenchmarkDropBurst(b *testing.B) {
	const burst = 500
	stage := b.TempDir()
	w, _ := startWatcher(b, Options{Quiet: DefaultQuiet, Logger: slog.New(slog.DiscardHandler)})

	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		srcs := make([]string, burst)
		for j := range srcs {
			srcs[j] = filepath.Join(stage, fmt.Sprintf("%d-%d", i, j))
			if err := os.WriteFile(srcs[j], []byte("x"), 0o644); err != nil {
				b.Fatal(err)
			}
		}
		before := w.Stats().Ready
		b.StartTimer()

		for _, src := range srcs {
			if err := os.Rename(src, filepath.Join(w.Root(), filepath.Base(src))); err != nil {
				b.Fatal(err)
			}
		}
		waitUntil(b, "burst reported", func() bool { return w.Stats().Ready >= before+burst })
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*burst), "µs/file")
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
