package ops

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/leases"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/errdefs"

	"github.com/ventapp/ventapp/containers"
)

// sharedNamespaces are containerd namespaces other software owns; Reset
// never empties them.
var sharedNamespaces = []string{"default", "k8s.io", "moby", "buildkit"}

// ResetPlan says what Reset removes.
type ResetPlan struct {
	// Containerd is a client for ventapp's namespace; nil skips the
	// containerd part (the report says so).
	Containerd *containers.Client

	// DataDir's contents are removed; the folder itself stays. Required.
	DataDir string

	// DropDir is the drop folder. Its files are removed only with Files;
	// otherwise they are counted and kept.
	DropDir string
	Files   bool

	// Socket is the daemon's API socket; "" means DataDir/ventapp.sock.
	Socket string

	// Force skips the check that no daemon is running.
	Force bool

	// Progress, when set, receives one line per step.
	Progress func(string)
}

// Reset removes every container, image, lease, snapshot and content blob
// in ventapp's containerd namespace, then the namespace itself when it is
// empty, then everything inside the data dir, and the drop folder's files
// when plan.Files is set. It refuses while a daemon runs (unless Force) and
// for namespaces other software shares. The report lists exactly what was
// removed; on error it lists what was removed before the error.
func Reset(ctx context.Context, plan ResetPlan) (Report, error) {
	var rep Report
	progress := plan.Progress
	if progress == nil {
		progress = func(string) {}
	}
	if plan.DataDir == "" {
		return rep, fmt.Errorf("%w: Reset needs a data dir", ErrBadSource)
	}
	if !plan.Force {
		if err := checkIdle(plan.DataDir, plan.Socket); err != nil {
			return rep, err
		}
	}

	if plan.Containerd == nil {
		rep.Notes = append(rep.Notes, "containerd was not reset: no connection")
	} else {
		ns := plan.Containerd.Namespace()
		if slices.Contains(sharedNamespaces, ns) {
			return rep, fmt.Errorf("%w: %q (set [containerd] namespace to one only ventapp uses)", ErrSharedNamespace, ns)
		}
		progress("containerd namespace " + ns)
		if err := resetContainerd(ctx, plan.Containerd, &rep); err != nil {
			return rep, err
		}
	}

	progress("data dir " + plan.DataDir)
	if err := emptyDir(plan.DataDir, "state", &rep.Removed); err != nil {
		return rep, err
	}

	if plan.DropDir != "" {
		if plan.Files {
			progress("drop folder " + plan.DropDir)
			if err := emptyDir(plan.DropDir, "drop", &rep.Removed); err != nil {
				return rep, err
			}
		} else {
			files, bytes := countTree(plan.DropDir)
			rep.Kept = append(rep.Kept, Item{Kind: "drop", Name: plan.DropDir, Files: files, Bytes: bytes,
				Detail: "the drop folder's files (remove them with --files)"})
		}
	}
	return rep, nil
}

// resetContainerd empties the namespace: containers (with their tasks and
// snapshots), images, leases, left snapshots, left content, the namespace.
func resetContainerd(ctx context.Context, c *containers.Client, rep *Report) error {
	raw := c.Raw()
	ns := c.Namespace()
	ctx = namespaces.WithNamespace(ctx, ns)
	add := func(kind, name, detail string) {
		rep.Removed = append(rep.Removed, Item{Kind: kind, Name: name, Detail: detail})
	}

	// Sweep first: for ventapp's own containers it also removes the task
	// FIFO folders and orphaned snapshots.
	swept, err := c.Sweep(ctx, containers.LabelKey, containers.LabelValue)
	for _, id := range swept {
		add("container", id, "with its task and snapshot")
	}
	if err != nil {
		return err
	}

	ctrs, err := raw.Containers(ctx)
	if err != nil {
		return fmt.Errorf("list containers in namespace %s: %w", ns, err)
	}
	for _, ctr := range ctrs {
		if err := deleteContainer(ctx, ctr); err != nil {
			return fmt.Errorf("namespace %s: %w", ns, err)
		}
		add("container", ctr.ID(), "")
	}

	imgs, err := c.Images(ctx)
	if err != nil {
		return err
	}
	for _, im := range imgs {
		if err := c.RemoveImage(ctx, im.Name); err != nil && !errors.Is(err, containers.ErrImageNotFound) {
			return err
		}
		add("image", im.Name, im.Digest)
	}

	ls, err := raw.LeasesService().List(ctx)
	if err != nil {
		return fmt.Errorf("list leases in namespace %s: %w", ns, err)
	}
	for _, l := range ls {
		err := raw.LeasesService().Delete(ctx, l, leases.SynchronousDelete)
		if err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("delete lease %s in namespace %s: %w", l.ID, ns, err)
		}
		add("lease", l.ID, "")
	}

	snaps, err := removeSnapshots(ctx, raw.SnapshotService(containers.Snapshotter))
	for _, s := range snaps {
		add("snapshot", s, "")
	}
	if err != nil {
		return fmt.Errorf("namespace %s: %w", ns, err)
	}

	var blobs []content.Info
	cs := raw.ContentStore()
	if err := cs.Walk(ctx, func(i content.Info) error { blobs = append(blobs, i); return nil }); err != nil {
		return fmt.Errorf("list content in namespace %s: %w", ns, err)
	}
	for _, b := range blobs {
		if err := cs.Delete(ctx, b.Digest); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("delete content %s in namespace %s: %w", b.Digest, ns, err)
		}
		add("content", b.Digest.String(), fmt.Sprintf("%d bytes", b.Size))
	}

	if err := raw.NamespaceService().Delete(ctx, ns); err != nil {
		rep.Notes = append(rep.Notes, fmt.Sprintf("namespace %s kept: %v", ns, err))
	} else {
		add("namespace", ns, "")
	}
	return nil
}

// deleteContainer kills and deletes the container's task, then the
// container and its snapshot.
func deleteContainer(ctx context.Context, ctr client.Container) error {
	task, err := ctr.Task(ctx, nil)
	switch {
	case errdefs.IsNotFound(err):
	case err != nil:
		return fmt.Errorf("load task of container %s: %w", ctr.ID(), err)
	default:
		if _, err := task.Delete(ctx, client.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("delete task of container %s: %w", ctr.ID(), err)
		}
	}
	if err := ctr.Delete(ctx, client.WithSnapshotCleanup); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("delete container %s: %w", ctr.ID(), err)
	}
	return nil
}

// removeSnapshots removes every snapshot, children before parents: each
// round removes what it can, until a round removes nothing.
func removeSnapshots(ctx context.Context, sn snapshots.Snapshotter) ([]string, error) {
	var removed []string
	for {
		var keys []string
		err := sn.Walk(ctx, func(_ context.Context, i snapshots.Info) error {
			keys = append(keys, i.Name)
			return nil
		})
		if err != nil {
			return removed, fmt.Errorf("list snapshots: %w", err)
		}
		if len(keys) == 0 {
			return removed, nil
		}
		var errs []error
		before := len(removed)
		for _, k := range keys {
			err := sn.Remove(ctx, k)
			switch {
			case err == nil:
				removed = append(removed, k)
			case errdefs.IsNotFound(err):
			default:
				errs = append(errs, fmt.Errorf("remove snapshot %s: %w", k, err))
			}
		}
		if len(removed) == before {
			return removed, errors.Join(errs...)
		}
	}
}

// emptyDir removes every entry inside dir and records each with its file
// count and size. A missing dir is empty.
func emptyDir(dir, kind string, out *[]Item) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w", kind, dir, err)
	}
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		files, bytes := countTree(p)
		if err := os.RemoveAll(p); err != nil {
			return fmt.Errorf("remove %s: %w", p, err)
		}
		*out = append(*out, Item{Kind: kind, Name: p, Files: files, Bytes: bytes})
	}
	return nil
}
