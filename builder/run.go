package builder

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/oci"
	ctrdrootfs "github.com/containerd/containerd/v2/pkg/rootfs"
	"github.com/containerd/errdefs"
	"github.com/containerd/platforms"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/identity"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/ventapp/ventapp/internal/taskio"
)

// outputTail is how many output lines a failed RUN's error shows.
const outputTail = 20

// killWait bounds the wait for a killed RUN task to exit.
const killWait = 10 * time.Second

// drainWait bounds the wait, once a RUN command has exited, for the rest of
// its output to be read (a background process it left may hold it open).
const drainWait = 10 * time.Second

// tasksStarted counts the RUN tasks this process started; tests read it to
// see that a cached rebuild runs nothing.
var tasksStarted atomic.Int64

// runStep executes a RUN instruction on the stage's file system, or takes
// its result from the cache, and returns the layer it made, nil when the
// command changed nothing.
func (b *build) runStep(ctx context.Context, state *stageState,
	op *runOp) (*ocispec.Descriptor, error) {
	if host := platforms.DefaultSpec(); !platforms.Only(host).Match(b.platform) {
		return nil, b.df.errorf(op.line, "RUN for %s on a %s host is %w", platforms.Format(b.platform),
			platforms.Format(host), ErrUnsupported)
	}

	key := runKey(state.img.RootFS.DiffIDs, op, b.platform)
	if b.cache != nil {
		desc, ok, err := b.cachedRun(ctx, key)
		if err != nil {
			return nil, b.df.errorf(op.line, "RUN: %w", err)
		}
		if ok {
			b.say(" ---> Using cache")
			if desc != nil && state.root != nil {
				if err := applyBlob(ctx, b.c.ContentStore(), *desc, state.root); err != nil {
					return nil, b.df.errorf(op.line, "RUN: read cached layer: %w", err)
				}
			}
			return desc, nil
		}
	}

	desc, err := b.execRun(ctx, state, op)
	if err != nil {
		return nil, err
	}
	if b.cache != nil {
		if err := b.cache.put(key, desc); err != nil {
			b.log.Warn("remember RUN result", "line", op.line, "err", err)
		}
	}
	if desc != nil && state.root != nil {
		if err := applyBlob(ctx, b.c.ContentStore(), *desc, state.root); err != nil {
			return nil, b.df.errorf(op.line, "RUN: read new layer: %w", err)
		}
	}
	return desc, nil
}

// cachedRun looks key up in the cache. A remembered layer counts only while
// the content store still holds it; it is then added to the build's lease.
func (b *build) cachedRun(ctx context.Context, key string) (*ocispec.Descriptor, bool, error) {
	entry, ok := b.cache.get(key)
	if !ok {
		return nil, false, nil
	}
	if entry.Layer == nil {
		return nil, true, nil
	}
	has, err := b.w.has(ctx, entry.Layer.Digest)
	if err != nil || !has {
		return nil, false, err
	}
	return entry.Layer, true, nil
}

// execRun runs op in a container whose root file system is a new snapshot
// on top of the stage's layers, makes a layer of what it changed, and
// commits the snapshot under the new chain ID so the next RUN and the final
// unpack start from it. The container, its task and, unless committed, the
// snapshot are removed whatever happens.
func (b *build) execRun(ctx context.Context, state *stageState, op *runOp) (*ocispec.Descriptor, error) {
	parent, err := b.ensureChain(ctx, state)
	if err != nil {
		return nil, b.df.errorf(op.line, "RUN: %w: prepare the file system: %s", ErrRun, err)
	}

	id := "ventapp-build-" + randomHex()
	sn := b.c.SnapshotService(Snapshotter)
	mounts, err := sn.Prepare(ctx, id, parent)
	if err != nil {
		return nil, b.df.errorf(op.line, "RUN: %w: prepare snapshot: %s", ErrRun, err)
	}
	committed := false
	defer func() {
		if committed {
			return
		}
		if err := sn.Remove(context.WithoutCancel(ctx), id); err != nil && !errdefs.IsNotFound(err) {
			b.log.Warn("remove RUN snapshot", "snapshot", id, "err", err)
		}
	}()

	tail := newLineTail(outputTail, b.outputLine)
	var out io.Writer = tail
	if b.opts.Output != nil {
		out = io.MultiWriter(b.opts.Output, tail)
	}
	dests, code, err := b.runContainer(ctx, id, op, out)
	tail.flush()
	if err != nil {
		return nil, b.df.errorf(op.line, "RUN %s: %w: %s", op.text, ErrRun, err)
	}
	if code != 0 {
		return nil, &RunError{Dockerfile: b.df.name, Line: op.line, Command: op.text,
			ExitCode: int(code), Output: tail.lines()}
	}

	d, err := newUpperDiff(mounts, dests)
	if err != nil {
		return nil, b.df.errorf(op.line, "RUN: %w: %s", ErrRun, err)
	}
	defer d.close()
	if err := d.make(); err != nil {
		return nil, b.df.errorf(op.line, "RUN: %w: make layer: %s", ErrRun, err)
	}
	if d.empty {
		return nil, nil
	}
	desc := d.desc
	if err := b.w.putStream(ctx, desc, d.writeTo); err != nil {
		return nil, b.df.errorf(op.line, "RUN: store layer: %w", err)
	}

	chainID := identity.ChainID(append(slices0(state.img.RootFS.DiffIDs), desc.Digest)).String()
	err = sn.Commit(ctx, chainID, id)
	switch {
	case err == nil:
		committed = true
	case errdefs.IsAlreadyExists(err):
		// An earlier build made the same layer; its snapshot serves.
	default:
		return nil, b.df.errorf(op.line, "RUN: %w: commit snapshot: %s", ErrRun, err)
	}
	return &desc, nil
}

// slices0 returns a copy of ds with room for one more.
func slices0(ds []digest.Digest) []digest.Digest {
	return append(make([]digest.Digest, 0, len(ds)+1), ds...)
}

// ensureChain makes sure the snapshotter holds the stage's layers as
// committed snapshots, applying the missing ones through the diff service,
// and returns the top one's name ("" for no layers).
func (b *build) ensureChain(ctx context.Context, state *stageState) (string, error) {
	if len(state.layers) == 0 {
		return "", nil
	}
	layers := make([]ctrdrootfs.Layer, len(state.layers))
	for i, l := range state.layers {
		layers[i] = ctrdrootfs.Layer{Blob: l, Diff: ocispec.Descriptor{
			MediaType: ocispec.MediaTypeImageLayer, Digest: state.img.RootFS.DiffIDs[i]}}
	}
	chainID, err := ctrdrootfs.ApplyLayers(ctx, layers, b.c.SnapshotService(Snapshotter), b.c.DiffService())
	if err != nil {
		return "", err
	}
	return chainID.String(), nil
}

// runContainer runs op in a container on the active snapshot key, writing
// its output to out, and returns the spec's mount destinations and the
// exit code. Everything it creates is deleted before it returns.
func (b *build) runContainer(ctx context.Context, key string, op *runOp,
	out io.Writer) ([]string, uint32, error) {
	specOpts := []oci.SpecOpts{
		oci.WithProcessArgs(op.argv...),
		oci.WithEnv(op.env),
		oci.WithProcessCwd(op.workdir),
		oci.WithoutRunMount,
	}
	if op.user != "" {
		specOpts = append(specOpts, oci.WithUser(op.user))
	}
	if op.network == "host" {
		specOpts = append(specOpts, oci.WithHostNamespace(specs.NetworkNamespace),
			oci.WithHostHostsFile, oci.WithHostResolvconf)
	}

	cleanup := context.WithoutCancel(ctx)
	ctr, err := b.c.NewContainer(ctx, key, client.WithSnapshotter(Snapshotter), client.WithSnapshot(key),
		client.WithNewSpec(specOpts...))
	if err != nil {
		return nil, 0, fmt.Errorf("create container: %w", err)
	}
	defer func() {
		if err := ctr.Delete(cleanup); err != nil {
			b.log.Warn("delete RUN container", "container", key, "err", err)
		}
	}()
	spec, err := ctr.Spec(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("read spec: %w", err)
	}
	var dests []string
	for _, m := range spec.Mounts {
		dests = append(dests, m.Destination)
	}

	ioOpts := []cio.Opt{cio.WithStreams(nil, out, out)}
	if b.opts.FIFODir != "" {
		ioOpts = append(ioOpts, cio.WithFIFODir(b.opts.FIFODir))
	}
	task, err := ctr.NewTask(ctx, cio.NewCreator(ioOpts...))
	if err != nil {
		return nil, 0, fmt.Errorf("create task: %w", err)
	}
	deleted := false
	defer func() {
		if deleted {
			return
		}
		if _, err := task.Delete(cleanup, client.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
			b.log.Warn("delete RUN task", "container", key, "err", err)
		}
	}()
	exitCh, err := task.Wait(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("wait for task: %w", err)
	}
	tasksStarted.Add(1)
	if err := task.Start(ctx); err != nil {
		return nil, 0, fmt.Errorf("start task: %w", err)
	}

	var status client.ExitStatus
	select {
	case status = <-exitCh:
	case <-ctx.Done():
		_ = task.Kill(cleanup, syscall.SIGKILL, client.WithKillAll)
		select {
		case <-exitCh:
		case <-time.After(killWait):
		}
		return nil, 0, fmt.Errorf("cancelled: %w", ctx.Err())
	}
	code, _, err := status.Result()
	if err != nil {
		return nil, 0, fmt.Errorf("task result: %w", err)
	}
	if tio := task.IO(); tio != nil && !taskio.Drain(tio, drainWait) {
		b.log.Warn("RUN output still open after the command exited; dropping the rest",
			"container", key, "waited", drainWait)
	}
	deleted = true
	if _, err := task.Delete(cleanup); err != nil && !errdefs.IsNotFound(err) {
		return nil, 0, fmt.Errorf("delete task: %w", err)
	}
	return dests, code, nil
}

// outputLine passes one line of RUN output on when Options.Output is not
// set.
func (b *build) outputLine(line string) {
	if b.opts.Output != nil {
		return
	}
	b.log.Debug("RUN output", "line", line)
	if b.opts.Progress != nil {
		b.opts.Progress(" | " + line)
	}
}

// randomHex returns 16 random hex digits.
func randomHex() string {
	var buf [8]byte
	_, _ = rand.Read(buf[:])
	return hex.EncodeToString(buf[:])
}

// lineTail splits what is written to it into lines, passes each to fn and
// keeps the last n. It is safe for the two output copiers at once.
type lineTail struct {
	mu      sync.Mutex
	n       int
	fn      func(string)
	partial bytes.Buffer
	last    []string
}

// newLineTail returns a lineTail keeping n lines.
func newLineTail(n int, fn func(string)) *lineTail {
	return &lineTail{n: n, fn: fn}
}

// Write splits p into lines.
func (t *lineTail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.partial.Write(p)
	for {
		i := bytes.IndexByte(t.partial.Bytes(), '\n')
		if i < 0 {
			break
		}
		line := string(t.partial.Next(i + 1))
		t.add(strings.TrimRight(line, "\r\n"))
	}
	return len(p), nil
}

// add records one complete line.
func (t *lineTail) add(line string) {
	t.fn(line)
	t.last = append(t.last, line)
	if len(t.last) > t.n {
		t.last = t.last[len(t.last)-t.n:]
	}
}

// flush records an unfinished last line.
func (t *lineTail) flush() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.partial.Len() > 0 {
		t.add(t.partial.String())
		t.partial.Reset()
	}
}

// lines returns the kept lines, oldest first.
func (t *lineTail) lines() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]string(nil), t.last...)
}

// mountOption returns the value of key=value in a mount's options.
func mountOption(m mount.Mount, key string) (string, bool) {
	for _, o := range m.Options {
		if v, ok := strings.CutPrefix(o, key+"="); ok {
			return v, true
		}
	}
	return "", false
}
