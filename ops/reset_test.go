package ops

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/oci"

	"github.com/ventapp/ventapp/containers"
	"github.com/ventapp/ventapp/internal/ctrdtest"
)

const testImage = "test.local/busybox:latest"

// leftover creates a container from the test image, labelled as given, and
// starts a sleeping task in it when running is set.
func leftover(t *testing.T, d *ctrdtest.Daemon, raw *client.Client, id string, labels map[string]string, running bool) {
	t.Helper()
	ctx := namespaces.WithNamespace(context.Background(), d.Namespace)
	img, err := raw.GetImage(ctx, testImage)
	must(t, err)
	ctr, err := raw.NewContainer(ctx, id,
		client.WithNewSnapshot(id, img, snapshots.WithLabels(labels)),
		client.WithNewSpec(oci.WithImageConfig(img), oci.WithProcessArgs("/bin/sleep", "100")),
		client.WithContainerLabels(labels))
	must(t, err)
	if !running {
		return
	}
	task, err := ctr.NewTask(ctx, cio.NewCreator(cio.WithStreams(nil, io.Discard, io.Discard), cio.WithFIFODir(d.FIFODir)))
	must(t, err)
	must(t, task.Start(ctx))
}

func TestResetContainerd(t *testing.T) {
	d := ctrdtest.Start(t)
	raw := d.Client(t)
	ctrdtest.BusyboxImage(t, raw, testImage)
	c, err := containers.Connect(context.Background(), containers.Options{
		Address: d.Address, Namespace: d.Namespace, FIFODir: d.FIFODir})
	must(t, err)
	defer c.Close()
	t.Cleanup(func() {
		dirs, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", "*", d.Namespace))
		dirs = append(dirs, filepath.Join("/run/containerd/runc", d.Namespace))
		for _, dir := range dirs {
			os.Remove(dir)
		}
	})

	leftover(t, d, raw, "job-1", map[string]string{containers.LabelKey: containers.LabelValue}, true)
	leftover(t, d, raw, "build-run", map[string]string{"other": "x"}, false)

	in := newInstall(t)
	in.closeStore()
	rep, err := Reset(context.Background(), ResetPlan{Containerd: c, DataDir: in.dataDir, DropDir: in.drop})
	must(t, err)

	removed := map[string][]string{}
	for _, it := range rep.Removed {
		removed[it.Kind] = append(removed[it.Kind], it.Name)
	}
	if len(removed["container"]) < 2 || len(removed["image"]) != 1 || removed["image"][0] != testImage {
		t.Errorf("removed = %v", removed)
	}
	// jobs.db, index/, plugins.json.migrated, plugin_manifest.cfg, status.json
	if len(removed["state"]) != 5 {
		t.Errorf("state removed: %v, want 5 entries", removed["state"])
	}
	for _, name := range []string{jobsDBName, indexName, pluginsName + ".migrated"} {
		if _, err := os.Stat(filepath.Join(in.dataDir, name)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still there after reset", name)
		}
	}
	if _, err := os.Stat(filepath.Join(in.drop, "capture.pcap")); err != nil {
		t.Errorf("drop folder file removed without Files: %v", err)
	}

	ctx := namespaces.WithNamespace(context.Background(), d.Namespace)
	if ctrs, _ := raw.Containers(ctx); len(ctrs) != 0 {
		t.Errorf("%d containers left", len(ctrs))
	}
	if imgs, _ := raw.ImageService().List(ctx); len(imgs) != 0 {
		t.Errorf("%d images left", len(imgs))
	}
	n := 0
	raw.SnapshotService(containers.Snapshotter).Walk(ctx, func(context.Context, snapshots.Info) error { n++; return nil })
	if n != 0 {
		t.Errorf("%d snapshots left", n)
	}

	// A second reset with Files removes the drop folder's files and finds
	// nothing else to remove in containerd.
	rep, err = Reset(context.Background(), ResetPlan{Containerd: c, DataDir: in.dataDir, DropDir: in.drop, Files: true})
	must(t, err)
	if len(rep.Removed) != 1 || rep.Removed[0].Kind != "drop" {
		t.Errorf("second reset removed %+v, want only the drop file", rep.Removed)
	}
}

func TestResetRefusesSharedNamespace(t *testing.T) {
	d := ctrdtest.Start(t)
	c, err := containers.Connect(context.Background(), containers.Options{Address: d.Address, Namespace: "default"})
	must(t, err)
	defer c.Close()
	dir := t.TempDir()
	write(t, filepath.Join(dir, "keep"), "x")
	_, err = Reset(context.Background(), ResetPlan{Containerd: c, DataDir: dir})
	if !errors.Is(err, ErrSharedNamespace) {
		t.Fatalf("Reset = %v, want ErrSharedNamespace", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "keep")); err != nil {
		t.Error("data dir touched")
	}
}
