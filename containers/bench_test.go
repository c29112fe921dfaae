package containers

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/contrib/seccomp"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/oci"
)

// BenchmarkRunTrue measures Run's whole cycle (create, start, wait, delete)
// for /bin/true, output discarded.
func BenchmarkRunTrue(b *testing.B) {
	e := newEnv(b)
	ctx := context.Background()
	b.ResetTimer()
	for i := range b.N {
		res, err := e.c.Run(ctx, Spec{ID: fmt.Sprintf("bench-%d", i), Image: testImage,
			Args: []string{"/bin/true"}})
		if err != nil || res.ExitCode != 0 {
			b.Fatal(res, err)
		}
	}
}

// BenchmarkRunTrueNoSeccomp is BenchmarkRunTrue without the seccomp
// profile, which is what BenchmarkBareContainerd runs.
func BenchmarkRunTrueNoSeccomp(b *testing.B) {
	e := newEnv(b)
	ctx := context.Background()
	b.ResetTimer()
	for i := range b.N {
		res, err := e.c.Run(ctx, Spec{ID: fmt.Sprintf("bench-%d", i), Image: testImage,
			Args: []string{"/bin/true"}, NoSeccomp: true})
		if err != nil || res.ExitCode != 0 {
			b.Fatal(res, err)
		}
	}
}

// BenchmarkRunTrueWithOutput is BenchmarkRunTrue with both output streams
// read through FIFOs into line callbacks, as jobs run.
func BenchmarkRunTrueWithOutput(b *testing.B) {
	e := newEnv(b)
	ctx := context.Background()
	discard := func([]byte) {}
	b.ResetTimer()
	for i := range b.N {
		res, err := e.c.Run(ctx, Spec{ID: fmt.Sprintf("bench-%d", i), Image: testImage,
			Args: []string{"/bin/true"}, Stdout: discard, Stderr: discard})
		if err != nil || res.ExitCode != 0 {
			b.Fatal(res, err)
		}
	}
}

// BenchmarkBareContainerd is the shortest path through the containerd
// client for the same work, the yardstick for Run's overhead: no labels,
// no seccomp profile, no checks, no output.
func BenchmarkBareContainerd(b *testing.B) { benchBare(b) }

// BenchmarkBareContainerdSeccomp is BenchmarkBareContainerd with the
// default seccomp profile, the yardstick for Run's default.
func BenchmarkBareContainerdSeccomp(b *testing.B) { benchBare(b, seccomp.WithDefaultProfile()) }

func benchBare(b *testing.B, extra ...oci.SpecOpts) {
	e := newEnv(b)
	ctx := e.c.nsCtx(context.Background())
	img, err := e.c.Raw().GetImage(ctx, testImage)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := range b.N {
		if err := bareRun(ctx, e.c.Raw(), img, fmt.Sprintf("bare-%d", i), extra...); err != nil {
			b.Fatal(err)
		}
	}
}

// bareRun creates, starts, waits for and deletes a /bin/true container with
// as little as the containerd client allows.
func bareRun(ctx context.Context, cli *client.Client, img client.Image, id string,
	extra ...oci.SpecOpts) error {
	opts := append([]oci.SpecOpts{oci.WithImageConfig(img), oci.WithProcessArgs("/bin/true")}, extra...)
	ctr, err := cli.NewContainer(ctx, id, client.WithNewSnapshot(id, img), client.WithNewSpec(opts...))
	if err != nil {
		return err
	}
	task, err := ctr.NewTask(ctx, cio.NullIO)
	if err != nil {
		return err
	}
	exitCh, err := task.Wait(ctx)
	if err != nil {
		return err
	}
	if err := task.Start(ctx); err != nil {
		return err
	}
	<-exitCh
	if _, err := task.Delete(ctx); err != nil {
		return err
	}
	return ctr.Delete(ctx, client.WithSnapshotCleanup)
}

// BenchmarkRunVsBare alternates Run and the bare client path in one loop,
// so that both see the same machine load, and reports each one's mean and
// their ratio: with and without the seccomp profile on both sides.
func BenchmarkRunVsBare(b *testing.B) {
	for _, noSeccomp := range []bool{false, true} {
		b.Run(fmt.Sprintf("seccomp=%v", !noSeccomp), func(b *testing.B) {
			e := newEnv(b)
			ctx := e.c.nsCtx(context.Background())
			img, err := e.c.Raw().GetImage(ctx, testImage)
			if err != nil {
				b.Fatal(err)
			}
			var extra []oci.SpecOpts
			if !noSeccomp {
				extra = append(extra, seccomp.WithDefaultProfile())
			}

			var runTime, bareTime time.Duration
			b.ResetTimer()
			for i := range b.N {
				start := time.Now()
				_, err := e.c.Run(ctx, Spec{ID: fmt.Sprintf("run-%d", i), Image: testImage,
					Args: []string{"/bin/true"}, NoSeccomp: noSeccomp})
				if err != nil {
					b.Fatal(err)
				}
				mid := time.Now()
				if err := bareRun(ctx, e.c.Raw(), img, fmt.Sprintf("bare-%d", i), extra...); err != nil {
					b.Fatal(err)
				}
				runTime += mid.Sub(start)
				bareTime += time.Since(mid)
			}
			b.ReportMetric(float64(runTime.Milliseconds())/float64(b.N), "run-ms/op")
			b.ReportMetric(float64(bareTime.Milliseconds())/float64(b.N), "bare-ms/op")
			b.ReportMetric(float64(runTime)/float64(bareTime), "run/bare")
		})
	}
}
