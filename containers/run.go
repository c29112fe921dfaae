package containers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"syscall"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/errdefs"

	"github.com/ventapp/ventapp/internal/taskio"
)

// Snapshotter is the containerd snapshotter images are unpacked into and
// container root filesystems are prepared with.
const Snapshotter = "overlayfs"

// killGrace is how long Run waits for a container to exit after SIGKILL.
const killGrace = 10 * time.Second

// drainTimeout is how long Run waits, after the container's first process
// exited, for the rest of its output to be read.
const drainTimeout = 10 * time.Second

// Run creates the container s describes, starts it, streams its output to
// s.Stdout and s.Stderr, waits for it to end and removes its task, container
// and rootfs snapshot. A non-zero exit, an OOM kill and a timeout are
// reported in the Result, not as errors. Errors wrap ErrInvalidSpec,
// ErrUnavailable, ErrImageNotFound, ErrExists, ErrStart, ErrRuntime or
// ErrCleanup. When ctx is cancelled the container is killed and removed and
// the error wraps ctx.Err().
func (c *Client) Run(ctx context.Context, s Spec) (res Result, err error) {
	if err := s.validate(); err != nil {
		return Result{}, err
	}
	ctx = c.nsCtx(ctx)
	defer func() {
		// A call cut short by the caller says so, whatever containerd replied.
		if err != nil && ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
			err = fmt.Errorf("run container %s: %w (%w)", s.ID, ctx.Err(), err)
		}
	}()

	img, err := c.runImage(ctx, s.Image)
	if err != nil {
		return Result{}, err
	}

	ctr, err := c.createContainer(ctx, &s, img)
	if err != nil {
		return Result{}, err
	}

	// From here on the container exists and is removed on every path.
	defer func() {
		cctx, cancel := cleanupCtx(ctx)
		defer cancel()
		derr := ctr.Delete(cctx, client.WithSnapshotCleanup)
		if derr != nil && !errdefs.IsNotFound(derr) {
			c.log.Warn("could not remove container", "container", s.ID, "err", derr)
			err = errors.Join(err, fmt.Errorf("%w: remove container %s and its snapshot: %w",
				ErrCleanup, s.ID, derr))
		}
	}()

	c.log.Debug("running container", "container", s.ID, "image", s.Image)
	return c.runTask(ctx, ctr, &s)
}

// runImage finds ref and makes sure it is unpacked for Snapshotter.
func (c *Client) runImage(ctx context.Context, ref string) (client.Image, error) {
	img, err := c.cli.GetImage(ctx, ref)
	if err != nil {
		if errdefs.IsNotFound(err) {
			return nil, fmt.Errorf("%w: %s in namespace %s", ErrImageNotFound, ref, c.ns)
		}
		return nil, c.wrapErr(err, "look up image %s", ref)
	}

	unpacked, err := img.IsUnpacked(ctx, Snapshotter)
	if err != nil {
		return nil, c.wrapErr(err, "check image %s is unpacked", ref)
	}
	if !unpacked {
		c.log.Info("unpacking image", "image", ref)
		if err := img.Unpack(ctx, Snapshotter); err != nil {
			return nil, c.wrapErr(err, "unpack image %s", ref)
		}
	}
	return img, nil
}

// createContainer prepares the rootfs snapshot and the container record. On
// failure nothing it made is left behind.
func (c *Client) createContainer(ctx context.Context, s *Spec, img client.Image) (client.Container, error) {
	// The container carries the image's labels (as docker does), the caller's
	// and ours; the snapshot carries the caller's and ours, for Sweep.
	cfg, err := img.Spec(ctx)
	if err != nil {
		return nil, c.wrapErr(err, "read config of image %s", s.Image)
	}
	labels := make(map[string]string, len(cfg.Config.Labels)+len(s.Labels)+1)
	snapLabels := make(map[string]string, len(s.Labels)+1)
	for k, v := range cfg.Config.Labels {
		labels[k] = v
	}
	for k, v := range s.Labels {
		labels[k] = v
		snapLabels[k] = v
	}
	labels[LabelKey] = LabelValue
	snapLabels[LabelKey] = LabelValue

	// The snapshot is named after the container, so a duplicate id usually
	// fails at Prepare, and an existing snapshot is never touched: only one
	// this call prepared is removed on failure.
	prepared := false
	withSnapshot := func(ctx context.Context, cl *client.Client, ctr *containers.Container) error {
		err := client.WithNewSnapshot(s.ID, img, snapshots.WithLabels(snapLabels))(ctx, cl, ctr)
		prepared = err == nil
		return err
	}
	ctr, err := c.cli.NewContainer(ctx, s.ID,
		withSnapshot,
		client.WithNewSpec(s.specOpts(img)...),
		client.WithContainerLabels(labels),
	)
	if err == nil {
		return ctr, nil
	}

	if prepared {
		cctx, cancel := cleanupCtx(ctx)
		defer cancel()
		rerr := c.cli.SnapshotService(Snapshotter).Remove(cctx, s.ID)
		if rerr != nil && !errdefs.IsNotFound(rerr) {
			c.log.Warn("could not remove snapshot", "snapshot", s.ID, "err", rerr)
		}
	}
	switch {
	case errdefs.IsAlreadyExists(err):
		return nil, fmt.Errorf("%w: %s in namespace %s: %w", ErrExists, s.ID, c.ns, err)
	case isUnavailable(err):
		return nil, c.wrapErr(err, "create container %s", s.ID)
	case s.User != "":
		return nil, fmt.Errorf("%w: create container %s from %s as user %q: %w",
			ErrStart, s.ID, s.Image, s.User, err)
	default:
		return nil, fmt.Errorf("%w: create container %s from %s: %w", ErrStart, s.ID, s.Image, err)
	}
}

// runTask creates and starts the task, waits for its end under s.Timeout and
// ctx, and deletes it.
func (c *Client) runTask(ctx context.Context, ctr client.Container, s *Spec) (res Result, err error) {
	// Output: a nil writer makes the shim discard the stream.
	var stdout, stderr io.Writer
	var writers []*lineWriter
	if s.Stdout != nil {
		w := newLineWriter(s.Stdout, MaxLine)
		stdout, writers = w, append(writers, w)
	}
	if s.Stderr != nil {
		w := newLineWriter(s.Stderr, MaxLine)
		stderr, writers = w, append(writers, w)
	}
	ioOpts := []cio.Opt{cio.WithStreams(nil, stdout, stderr)}
	if c.fifoDir != "" {
		ioOpts = append(ioOpts, cio.WithFIFODir(c.fifoDir))
	}

	// Listen for OOM events before the task exists, so none is missed.
	var oom *oomWatch
	if s.MemoryBytes > 0 {
		oom = c.watchOOM(ctx, s.ID)
		defer oom.stop()
	}

	task, err := ctr.NewTask(ctx, cio.NewCreator(ioOpts...))
	if err != nil {
		return res, c.startErr(ctx, err, "create task for container %s", s.ID)
	}
	exited := false
	defer func() {
		if derr := c.deleteTask(ctx, task, exited, writers); derr != nil {
			err = errors.Join(err, derr)
		}
	}()

	// The exit is awaited on a context the caller cannot cancel, so that a
	// killed container is still seen to end.
	waitCtx, stopWait := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWait()
	exitCh, err := task.Wait(waitCtx)
	if err != nil {
		return res, c.wrapErr(err, "wait for container %s", s.ID)
	}
	if s.BeforeStart != nil {
		if err := s.BeforeStart(task.Pid()); err != nil {
			return res, fmt.Errorf("%w: container %s: %w", ErrStart, s.ID, err)
		}
	}
	if err := task.Start(ctx); err != nil {
		return res, c.startErr(ctx, err, "start container %s", s.ID)
	}
	res.StartedAt = time.Now()

	var timeout <-chan time.Time
	if s.Timeout > 0 {
		t := time.NewTimer(s.Timeout)
		defer t.Stop()
		timeout = t.C
	}

	// Wait for the exit, the timeout or the caller.
	var st client.ExitStatus
	select {
	case st = <-exitCh:
	case <-timeout:
		res.TimedOut = true
		c.log.Info("container timed out, killing it", "container", s.ID, "timeout", s.Timeout)
		if st, err = c.killAndWait(ctx, task, exitCh, s.ID); err != nil {
			return res, err
		}
	case <-ctx.Done():
		c.log.Info("run cancelled, killing container", "container", s.ID)
		if st, err = c.killAndWait(ctx, task, exitCh, s.ID); err != nil {
			return res, err
		}
		err = fmt.Errorf("run container %s: %w", s.ID, ctx.Err())
	}

	code, exitedAt, werr := st.Result()
	if werr != nil {
		if isUnavailable(werr) {
			return res, c.wrapErr(werr, "wait for container %s", s.ID)
		}
		return res, fmt.Errorf("%w: wait for container %s: %w", ErrRuntime, s.ID, werr)
	}
	exited = true
	res.ExitCode = int(code)
	res.FinishedAt = exitedAt
	if res.FinishedAt.IsZero() {
		res.FinishedAt = time.Now()
	}
	if oom != nil {
		res.OOMKilled = oom.killed(code != 0)
	}
	return res, err
}

// killAndWait sends SIGKILL to every process of the task and waits for the
// first one's exit status.
func (c *Client) killAndWait(ctx context.Context, task client.Task, exitCh <-chan client.ExitStatus,
	id string) (client.ExitStatus, error) {
	kctx, cancel := cleanupCtx(ctx)
	defer cancel()
	if err := task.Kill(kctx, syscall.SIGKILL, client.WithKillAll); err != nil && !errdefs.IsNotFound(err) {
		c.log.Warn("could not kill container", "container", id, "err", err)
	}

	select {
	case st := <-exitCh:
		return st, nil
	case <-time.After(killGrace):
		return client.ExitStatus{}, fmt.Errorf("%w: container %s still running %s after SIGKILL",
			ErrRuntime, id, killGrace)
	}
}

// deleteTask lets the output drain when the process exited, deletes the
// task (killing it if it still runs) and delivers unfinished output lines.
func (c *Client) deleteTask(ctx context.Context, task client.Task, exited bool,
	writers []*lineWriter) error {
	cctx, cancel := cleanupCtx(ctx)
	defer cancel()

	tio := task.IO()
	if exited && tio != nil && !taskio.Drain(tio, drainTimeout) {
		c.log.Warn("container output still open after exit; dropping the rest",
			"container", task.ID(), "waited", drainTimeout)
	}

	var opts []client.ProcessDeleteOpts
	if !exited {
		opts = append(opts, client.WithProcessKill)
	}
	err := removeTask(cctx, task, opts...)
	if err != nil && tio != nil {
		// Delete gave up before releasing the FIFOs; release them here.
		tio.Cancel()
		tio.Wait()
		_ = tio.Close()
	}
	for _, w := range writers {
		w.Flush()
	}

	if err != nil {
		c.log.Warn("could not delete task", "container", task.ID(), "err", err)
		return fmt.Errorf("%w: delete task %s: %w", ErrCleanup, task.ID(), err)
	}
	return nil
}

// startErr wraps a task create or start failure: ctx's error when the
// caller gave up meanwhile, ErrUnavailable when containerd is gone, ErrStart
// with containerd's message otherwise.
func (c *Client) startErr(ctx context.Context, err error, format string, args ...any) error {
	what := fmt.Sprintf(format, args...)
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("%s: %w (%w)", what, ctx.Err(), err)
	case isUnavailable(err):
		return c.wrapErr(err, "%s", what)
	default:
		return fmt.Errorf("%w: %s: %w", ErrStart, what, err)
	}
}
