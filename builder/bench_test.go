package builder

import (
	"fmt"
	"testing"
)

// BenchmarkBuildScratch builds a FROM scratch image with a small COPY
// (busybox and a few text files) against a private containerd.
// "unchanged" rebuilds identical input, so every blob is already stored;
// "changed" edits one file each time, so one layer, the config and the
// manifest are written and unpacked anew.
func BenchmarkBuildScratch(b *testing.B) {
	e := newEnv(b)
	dir := b.TempDir()
	copyBusybox(b, dir, "busybox")
	writeFiles(b, dir, map[string]string{"conf/a.ini": "[a]\n", "conf/b.ini": "[b]\n", "run.sh": "echo\n"})
	const df = "FROM scratch\nCOPY busybox /bin/busybox\nCOPY conf/ run.sh /app/\nENV MODE=bench\n" +
		"ENTRYPOINT [\"/bin/busybox\", \"sh\", \"/app/run.sh\"]\n"

	b.Run("unchanged", func(b *testing.B) {
		for b.Loop() {
			e.mustBuild(b, dir, df, "ventapp-bench/scratch:latest", nil)
		}
	})
	b.Run("changed", func(b *testing.B) {
		i := 0
		for b.Loop() {
			i++
			writeFiles(b, dir, map[string]string{"run.sh": fmt.Sprintf("echo %d\n", i)})
			e.mustBuild(b, dir, df, "ventapp-bench/scratch:latest", nil)
		}
	})
}

// BenchmarkBuildRun builds a 5-step Dockerfile with two RUN steps on the
// busybox test image. "cold" has no cache, so both commands run as
// containerd tasks every time; "cached" keeps a CacheDir, so after the first
// build no task starts and the rebuild only checks what is stored.
func BenchmarkBuildRun(b *testing.B) {
	e := newEnv(b)
	base := e.busyboxBase(b)
	dir := b.TempDir()
	writeFiles(b, dir, map[string]string{"app.sh": "echo app\n"})
	df := "FROM " + base + "\nCOPY app.sh /app/app.sh\nRUN mkdir -p /data && echo one > /data/one\n" +
		"RUN chmod 755 /app/app.sh && echo two > /data/two\nENV MODE=bench\nCMD [\"sh\", \"/app/app.sh\"]\n"
	cache := b.TempDir()

	b.Run("cold", func(b *testing.B) {
		for b.Loop() {
			e.mustBuild(b, dir, df, "ventapp-bench/run:latest", func(o *Options) { o.FIFODir = e.d.FIFODir })
		}
	})
	b.Run("cached", func(b *testing.B) {
		opts := func(o *Options) { o.FIFODir = e.d.FIFODir; o.CacheDir = cache }
		e.mustBuild(b, dir, df, "ventapp-bench/run:latest", opts)
		b.ResetTimer()
		for b.Loop() {
			e.mustBuild(b, dir, df, "ventapp-bench/run:latest", opts)
		}
	})
}
