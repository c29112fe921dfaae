package containers

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/containerd/v2/defaults"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/errdefs"
)

// Sweep removes every container in the namespace labelled labelKey=
// labelValue: it kills and deletes its task, deletes the container and its
// rootfs snapshot, and then removes snapshots with that label that no
// container owns (left by a crash between the two). It returns the ids
// removed, sorted. Sweep(ctx, LabelKey, LabelValue) at start-up clears what a
// crashed ventapp left; a job's own label clears one job. It must not run
// at the same time as a Run whose labels match.
func (c *Client) Sweep(ctx context.Context, labelKey, labelValue string) ([]string, error) {
	ctx = c.nsCtx(ctx)

	recs, err := c.cli.ContainerService().List(ctx)
	if err != nil {
		return nil, c.wrapErr(err, "list containers in namespace %s", c.ns)
	}

	var removed []string
	var errs []error
	for _, rec := range recs {
		if v, ok := rec.Labels[labelKey]; !ok || v != labelValue {
			continue
		}
		if err := c.sweepContainer(ctx, rec.ID); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, rec.ID)
	}

	orphans, err := c.sweepSnapshots(ctx, labelKey, labelValue)
	errs = append(errs, err)
	for _, key := range orphans {
		if !slices.Contains(removed, key) {
			removed = append(removed, key)
		}
	}

	slices.Sort(removed)
	if len(removed) > 0 {
		c.log.Info("swept leftover containers", "label", labelKey+"="+labelValue, "ids", removed)
	}
	return removed, errors.Join(errs...)
}

// sweepContainer kills and deletes container id's task, if any, and deletes
// the container with its snapshot.
func (c *Client) sweepContainer(ctx context.Context, id string) error {
	cctx, cancel := cleanupCtx(ctx)
	defer cancel()

	ctr, err := c.cli.LoadContainer(cctx, id)
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return c.wrapErr(err, "load container %s", id)
	}

	// Attaching records where the task's FIFOs are, so they can go too.
	var fifos cio.Config
	attach := func(set *cio.FIFOSet) (cio.IO, error) {
		fifos = set.Config
		return cio.NullIO("")
	}
	task, err := ctr.Task(cctx, attach)
	switch {
	case errdefs.IsNotFound(err):
	case err != nil:
		return c.wrapErr(err, "load task of container %s", id)
	default:
		if err := removeTask(cctx, task, client.WithProcessKill); err != nil {
			return c.wrapErr(err, "delete task of container %s", id)
		}
		c.removeFIFODir(fifos.Stdout)
	}

	if err := ctr.Delete(cctx, client.WithSnapshotCleanup); err != nil && !errdefs.IsNotFound(err) {
		return c.wrapErr(err, "delete container %s", id)
	}
	return nil
}

// sweepSnapshots removes active snapshots labelled key=value that no
// container uses, and returns their keys.
func (c *Client) sweepSnapshots(ctx context.Context, key, value string) ([]string, error) {
	sn := c.cli.SnapshotService(Snapshotter)

	var keys []string
	err := sn.Walk(ctx, func(_ context.Context, info snapshots.Info) error {
		if v, ok := info.Labels[key]; ok && v == value && info.Kind == snapshots.KindActive {
			keys = append(keys, info.Name)
		}
		return nil
	})
	if err != nil {
		return nil, c.wrapErr(err, "list snapshots")
	}

	var removed []string
	var errs []error
	for _, k := range keys {
		// A snapshot whose container still exists belongs to a container that
		// does not match (its labels differ); leave it.
		if _, err := c.cli.ContainerService().Get(ctx, k); err == nil {
			continue
		}
		if err := sn.Remove(ctx, k); err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, c.wrapErr(err, "remove snapshot %s", k))
			continue
		}
		removed = append(removed, k)
	}
	return removed, errors.Join(errs...)
}

// removeFIFODir deletes the per-task folder holding fifo, when it lies in
// the FIFO folder this Client uses.
func (c *Client) removeFIFODir(fifo string) {
	if fifo == "" {
		return
	}
	base := c.fifoDir
	if base == "" {
		base = defaults.DefaultFIFODir
	}
	dir := filepath.Dir(fifo)
	if filepath.Dir(dir) != filepath.Clean(base) {
		return
	}
	if err := os.RemoveAll(dir); err != nil {
		c.log.Warn("could not remove FIFO folder", "dir", dir, "err", err)
	}
}
