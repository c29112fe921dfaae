package containers

import (
	"context"
	"io"
	"slices"
	"testing"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/opencontainers/image-spec/identity"
)

// leftover creates container id through the raw client, as a crashed
// ventapp would have left it; with running set, its task runs sleep.
func (e *env) leftover(t *testing.T, id string, labels map[string]string, running bool) {
	t.Helper()
	ctx := e.c.nsCtx(context.Background())
	img, err := e.c.Raw().GetImage(ctx, testImage)
	if err != nil {
		t.Fatal(err)
	}
	ctr, err := e.c.Raw().NewContainer(ctx, id,
		client.WithNewSnapshot(id, img, snapshots.WithLabels(labels)),
		client.WithNewSpec(oci.WithImageConfig(img), oci.WithProcessArgs("/bin/sleep", "100")),
		client.WithContainerLabels(labels))
	if err != nil {
		t.Fatal(err)
	}
	if !running {
		return
	}
	creator := cio.NewCreator(cio.WithStreams(nil, io.Discard, io.Discard), cio.WithFIFODir(e.d.FIFODir))
	task, err := ctr.NewTask(ctx, creator)
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Start(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestSweep(t *testing.T) {
	e := newEnv(t)
	ctx := e.c.nsCtx(context.Background())
	ours := map[string]string{LabelKey: LabelValue}
	e.leftover(t, "running", ours, true)
	e.leftover(t, "stopped", ours, false)
	e.leftover(t, "job-7", map[string]string{LabelKey: LabelValue, "ventapp.job": "7"}, true)
	e.leftover(t, "foreign", map[string]string{LabelKey: "0"}, false)

	// A snapshot prepared for a container that was never created. Run
	// prepares under a lease (inside NewContainer), which keeps such a
	// snapshot from the garbage collector until the lease expires.
	ctx, done, err := e.c.Raw().WithLease(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer done(ctx)
	img, err := e.c.Raw().GetImage(ctx, testImage)
	if err != nil {
		t.Fatal(err)
	}
	diffIDs, err := img.RootFS(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sn := e.c.Raw().SnapshotService(Snapshotter)
	parent := identity.ChainID(diffIDs).String()
	if _, err := sn.Prepare(ctx, "orphan", parent, snapshots.WithLabels(ours)); err != nil {
		t.Fatal(err)
	}

	// One job's label first, then everything of ours.
	got, err := e.c.Sweep(context.Background(), "ventapp.job", "7")
	if err != nil || !slices.Equal(got, []string{"job-7"}) {
		t.Fatalf("job sweep = %q, %v", got, err)
	}
	got, err = e.c.Sweep(context.Background(), LabelKey, LabelValue)
	if err != nil || !slices.Equal(got, []string{"orphan", "running", "stopped"}) {
		t.Fatalf("sweep = %q, %v", got, err)
	}
	got, err = e.c.Sweep(context.Background(), LabelKey, LabelValue)
	if err != nil || len(got) != 0 {
		t.Fatalf("second sweep = %q, %v", got, err)
	}

	// The foreign container is untouched; remove it so the namespace is clean.
	ctr, err := e.c.Raw().LoadContainer(ctx, "foreign")
	if err != nil {
		t.Fatalf("foreign container was swept: %v", err)
	}
	if err := ctr.Delete(ctx, client.WithSnapshotCleanup); err != nil {
		t.Fatal(err)
	}
}
