package containers

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/containerd/containerd/v2/core/snapshots"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/ventapp/ventapp/internal/ctrdtest"
)

// testImage is the busybox image every test namespace gets.
const testImage = "test.local/busybox:latest"

// env is a private containerd with a Client connected to it.
type env struct {
	d *ctrdtest.Daemon
	c *Client
}

// newEnv starts a containerd, builds the busybox test image in its namespace
// and connects a Client. When the test ends it checks that no container,
// container snapshot or FIFO is left, unless the daemon was stopped.
func newEnv(t testing.TB) *env {
	t.Helper()

	// Registered before the daemon, so it runs after the daemon stopped:
	// runc and the cgroup controllers keep an empty folder per namespace.
	var d *ctrdtest.Daemon
	t.Cleanup(func() {
		if d != nil {
			removeNamespaceDirs(d.Namespace)
		}
	})
	d = ctrdtest.Start(t)
	ctrdtest.BusyboxImage(t, d.Client(t), testImage)
	level := slog.LevelDebug
	if _, bench := t.(*testing.B); bench {
		level = slog.LevelInfo
	}
	c, err := Connect(context.Background(), Options{
		Address:   d.Address,
		Namespace: d.Namespace,
		FIFODir:   d.FIFODir,
		Logger:    slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: level})),
	})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{d: d, c: c}
	t.Cleanup(func() {
		if !t.Failed() && !t.Skipped() {
			e.assertClean(t)
		}
		c.Close()
	})
	return e
}

// removeNamespaceDirs removes the empty folders runc and the cgroup
// controllers keep for namespace ns after its containers are gone.
func removeNamespaceDirs(ns string) {
	dirs, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", "*", ns))
	dirs = append(dirs, filepath.Join("/run/containerd/runc", ns))
	for _, dir := range dirs {
		_ = os.Remove(dir) // only succeeds when empty
	}
}

// assertClean fails t when containers, active snapshots or FIFO folders
// remain in the namespace.
func (e *env) assertClean(t testing.TB) {
	t.Helper()
	ctx := e.c.nsCtx(context.Background())
	if _, err := e.c.Ping(ctx); err != nil {
		return // the test stopped the daemon on purpose
	}

	recs, err := e.c.cli.ContainerService().List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		t.Errorf("container %s left behind", r.ID)
	}

	err = e.c.cli.SnapshotService(Snapshotter).Walk(ctx, func(_ context.Context, i snapshots.Info) error {
		if i.Kind != snapshots.KindCommitted {
			t.Errorf("snapshot %s (%v) left behind", i.Name, i.Kind)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	left, _ := os.ReadDir(e.d.FIFODir)
	for _, l := range left {
		t.Errorf("FIFO folder entry %s left behind", l.Name())
	}
}

// output gathers a run's stdout and stderr lines.
type output struct {
	mu             sync.Mutex
	stdout, stderr []string
	onLine         func(string)
}

func (o *output) spec(s Spec) Spec {
	s.Stdout = func(l []byte) { o.add(&o.stdout, l) }
	s.Stderr = func(l []byte) { o.add(&o.stderr, l) }
	return s
}

func (o *output) add(to *[]string, l []byte) {
	o.mu.Lock()
	*to = append(*to, string(l))
	fn := o.onLine
	o.mu.Unlock()
	if fn != nil {
		fn(string(l))
	}
}

func (o *output) lines() (stdout, stderr []string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.stdout...), append([]string(nil), o.stderr...)
}

// busyboxWith builds a busybox image with config changes under ref.
func (e *env) busyboxWith(t testing.TB, ref string, edit func(*ocispec.ImageConfig)) {
	t.Helper()
	cfg := ctrdtest.DefaultBusyboxConfig()
	edit(&cfg)
	ctrdtest.BusyboxImageWith(t, e.c.Raw(), ref, cfg)
}

// forceRemove removes what a container left when containerd and its shim
// were stopped under it: runc deletes its state, processes and cgroups, and
// the rootfs the shim mounted is unmounted.
func (e *env) forceRemove(t testing.TB, id string) {
	t.Helper()
	root := filepath.Join("/run/containerd/runc", e.d.Namespace)
	out, err := exec.Command("runc", "--root", root, "delete", "--force", id).CombinedOutput()
	if err != nil {
		t.Logf("runc delete %s: %v: %s", id, err, out)
	}
	rootfs := filepath.Join(e.d.Dir, "state", "io.containerd.runtime.v2.task", e.d.Namespace, id, "rootfs")
	if err := syscall.Unmount(rootfs, 0); err != nil && !errors.Is(err, syscall.EINVAL) &&
		!errors.Is(err, syscall.ENOENT) {
		t.Logf("unmount %s: %v", rootfs, err)
	}
}

// testWriter sends log output to t.Log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
