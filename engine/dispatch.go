package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/sys/unix"

	"github.com/ventapp/ventapp/containers"
	"github.com/ventapp/ventapp/drop"
	"github.com/ventapp/ventapp/index"
	"github.com/ventapp/ventapp/jobs"
	"github.com/ventapp/ventapp/plugins"
)

// tailLines is how many output lines a finished job keeps in the store.
const tailLines = 20

// maxTailLine bounds each kept line, so a job record stays small.
const maxTailLine = 512

// maxBackoff caps the delay between retries of one job.
const maxBackoff = 5 * time.Minute

// worker claims queued jobs and runs them until ctx is cancelled; the
// containers of running jobs live until jobsCtx is cancelled.
func (e *Engine) worker(ctx, jobsCtx context.Context, n int) {
	log := e.log.With("worker", n)
	poll := time.NewTicker(time.Second)
	defer poll.Stop()

	for ctx.Err() == nil {
		j, ok, err := e.claim()
		if err != nil {
			log.Error("claim job", "err", err)
		}
		if !ok {
			select {
			case <-ctx.Done():
			case <-e.wake:
			case <-poll.C:
			}
			continue
		}

		// Another job may be waiting too: pass the wake-up on.
		e.nudge()
		e.runJob(jobsCtx, j)
		e.release(j.Tool)
	}
}

// claim takes the oldest runnable job, honouring each plugin's instance
// cap, and counts it as running.
func (e *Engine) claim() (jobs.Job, bool, error) {
	if _, err := e.Containerd(); err != nil {
		return jobs.Job{}, false, nil
	}

	e.dispatchMu.Lock()
	defer e.dispatchMu.Unlock()

	installed := map[string]*plugins.Plugin{}
	for _, p := range e.reg.List() {
		installed[p.Name] = p
	}
	j, ok, err := e.store.Next(func(j jobs.Job) bool {
		p := installed[j.Tool]
		if p == nil {
			return true // runJob fails it with a reason
		}
		if !p.Enabled || !p.Built || !e.gpuRunnable(p, j) {
			return false
		}
		return e.running[j.Tool] < max(1, p.Settings.Instances)
	})
	if err != nil || !ok {
		return j, false, err
	}
	e.running[j.Tool]++
	e.counters.jobsStarted.Add(1)
	e.jobMetrics.dispatched(j)
	return j, true, nil
}

func (e *Engine) release(tool string) {
	e.dispatchMu.Lock()
	e.running[tool]--
	if e.running[tool] <= 0 {
		delete(e.running, tool)
	}
	e.dispatchMu.Unlock()
	e.nudge()
}

// runJob runs one claimed job to an end state, or back to the queue when
// the failure was the infrastructure's rather than the plugin's.
func (e *Engine) runJob(ctx context.Context, j jobs.Job) {
	log := e.log.With("job", j.ID, "tool", j.Tool, "file", j.File)

	// Whatever happens to this attempt, its GPU reservation ends with it; a
	// job that goes back to the queue is submitted to the GPU queue again.
	defer e.releaseGPU(j.ID)

	p, err := e.reg.Get(j.Tool)
	if err != nil {
		e.finish(j, jobs.Failed, nil, fmt.Sprintf("plugin %q is no longer installed", j.Tool), nil)
		return
	}
	fi, err := e.inputFile(j.File)
	if err != nil {
		e.finish(j, jobs.Failed, nil, fmt.Sprintf("file is gone or unreadable before processing: %v", err), nil)
		return
	}
	if stale, why := e.stale(j, fi); stale {
		log.Info("job superseded", "reason", why)
		e.finish(j, jobs.Cancelled, nil, why, nil)
		return
	}
	c, err := e.Containerd()
	if err != nil {
		e.retry(j, err)
		return
	}
	input, cleanup, err := e.containerPath(j)
	if err != nil {
		e.finish(j, jobs.Failed, nil, err.Error(), nil)
		return
	}
	defer cleanup()
	checkMount, err := e.mountCheck(input)
	if err != nil {
		e.finish(j, jobs.Failed, nil, fmt.Sprintf("the file's folder cannot be opened safely: %v", err), nil)
		return
	}

	// The job can be cancelled from the API while it runs.
	jctx, cancel := context.WithCancel(ctx)
	e.cancelsMu.Lock()
	e.cancels[j.ID] = cancel
	e.cancelsMu.Unlock()
	defer func() {
		e.cancelsMu.Lock()
		delete(e.cancels, j.ID)
		e.cancelsMu.Unlock()
		cancel()
	}()

	id := fmt.Sprintf("ventapp-%s-%d", j.ID, j.Attempts)
	if err := e.store.SetContainer(j.ID, id); err != nil {
		log.Warn("could not record container id", "err", err)
	}
	out := &jobOutput{e: e, job: j, container: id}
	spec := containerSpec(p, j, input, id, e.live().JobTimeout)
	if p.Settings.GPU.Enabled {
		if err := e.gpuSpec(j, &spec); err != nil {
			e.finish(j, jobs.Failed, nil, err.Error(), nil)
			return
		}
	}
	spec.BeforeStart = checkMount
	spec.Stdout = out.line("stdout")
	spec.Stderr = out.line("stderr")

	log.Info("job started", "container", id, "attempt", j.Attempts)
	res, err := c.Run(jctx, spec)
	out.end()

	switch {
	case err != nil && ctx.Err() != nil:
		// Shutting down: the job goes back to the queue for the next start.
		e.requeue(j, "interrupted by shutdown; will run again")
	case err != nil && jctx.Err() != nil:
		e.finish(j, jobs.Cancelled, nil, "cancelled while running", out.tail())
	case err != nil && errors.Is(err, containers.ErrImageNotFound):
		// The image went away (a reset, a restore, a removed image): the
		// plugin counts as unbuilt until it is built or imported again,
		// and its jobs wait for that instead of failing.
		e.markUnbuilt(p.Name, err)
		e.requeue(j, fmt.Sprintf("waiting for plugin %s to be built or its image imported: %v", p.Name, err))
	case err != nil && errors.Is(err, containers.ErrStart):
		e.finish(j, jobs.Failed, nil, fmt.Sprintf("container did not start: %v", err), out.tail())
	case err != nil:
		if errors.Is(err, containers.ErrUnavailable) {
			e.setDown(err)
			e.orphansMu.Lock()
			e.orphans[j.ID] = true
			e.orphansMu.Unlock()
		}
		e.retry(j, err)
	case res.TimedOut:
		e.finish(j, jobs.Failed, &res.ExitCode, fmt.Sprintf("timed out after %s and was killed", e.live().JobTimeout), out.tail())
	case res.OOMKilled:
		e.finish(j, jobs.Failed, &res.ExitCode, "killed: out of memory (raise mem_limit in the plugin's [docker] section)", out.tail())
	case res.ExitCode != 0:
		e.finish(j, jobs.Failed, &res.ExitCode, exitReason(res.ExitCode, out.tail()), out.tail())
	default:
		e.finish(j, jobs.Done, &res.ExitCode, "", out.tail())
	}
}

// stale reports whether the file changed after the job was queued, so
// the job would run on content other than the one it records. The watcher
// queues new jobs for new content; this one is superseded. A file whose
// size and mtime are as recorded is taken as unchanged; otherwise it is
// hashed again, so a touch alone does not cancel anything.
func (e *Engine) stale(j jobs.Job, fi os.FileInfo) (bool, string) {
	rec, ok, err := e.store.File(j.File)
	if err != nil || !ok {
		return false, ""
	}
	if rec.SHA256 != j.FileSHA256 {
		return true, "superseded: the file got new content after this job was queued; a newer job handles it"
	}
	if fi.Size() == rec.Size && fi.ModTime().Equal(rec.ModTime) {
		return false, ""
	}
	sum, _, err := drop.HashFile(e.cfg.Files, j.File)
	if err != nil || sum == j.FileSHA256 {
		return false, ""
	}
	return true, "superseded: the file changed after this job was queued; the new content gets its own job"
}

// markUnbuilt records that a plugin's image is missing, so it is not
// dispatched until it is built or imported again.
func (e *Engine) markUnbuilt(name string, cause error) {
	err := e.reg.Update(name, func(p *plugins.Plugin) error {
		if p.Built {
			e.log.Warn("plugin image is missing; its jobs wait until it is built or imported",
				"tool", name, "image", p.Image, "err", cause)
		}
		p.Built = false
		p.BuildError = cause.Error()
		return nil
	})
	if err != nil {
		e.log.Warn("could not mark plugin unbuilt", "tool", name, "err", err)
	}
}

// exitReason says why a plugin failed, quoting its last stderr line.
func exitReason(code int, tail []string) string {
	reason := fmt.Sprintf("plugin exited with code %d", code)
	for i := len(tail) - 1; i >= 0; i-- {
		if line, ok := strings.CutPrefix(tail[i], "stderr: "); ok && strings.TrimSpace(line) != "" {
			return reason + ": " + line
		}
	}
	return reason
}

// containerSpec turns a plugin and a job into a container to run, keeping
// vent's contract: the template's command words, then the file's absolute
// path as one argument, with the file's folder mounted at the same path.
func containerSpec(p *plugins.Plugin, j jobs.Job, input, id string, timeout time.Duration) containers.Spec {
	spec := pluginSpec(p, id)
	spec.Args = append(append([]string{}, p.Settings.Docker.Command...), input)
	spec.ReplaceCmd = true
	spec.Mounts = append([]containers.Mount{{Source: filepath.Dir(input), Target: filepath.Dir(input)}},
		spec.Mounts...)
	spec.Timeout = timeout
	spec.Labels["vent-plugin"] = ""
	spec.Labels["file"] = strings.ToValidUTF8(j.File, "\uFFFD")
	spec.Labels[LabelJob] = j.ID
	return spec
}

// mountCheck returns a check, run after runc has made the container's
// mounts and before the plugin runs, that the folder mounted for input is
// the folder found below the drop folder now, with no symbolic link on
// the way. Between the last look at the file and the mount, a folder
// swapped for a link to elsewhere would otherwise be followed by runc.
// The check needs to see the container's root through /proc (ptrace
// read access: root with CAP_SYS_PTRACE); without it, it warns once and
// lets the plugin run. A folder outside the drop folder (a safe-name copy
// under the data dir) is not checked.
func (e *Engine) mountCheck(input string) (func(pid uint32) error, error) {
	dir := filepath.Dir(input)
	if _, ok := drop.Within(e.cfg.Files, dir); !ok {
		return nil, nil
	}
	want, err := drop.StatDirBeneath(e.cfg.Files, dir)
	if err != nil {
		return nil, err
	}

	return func(pid uint32) error {
		var got unix.Stat_t
		err := unix.Stat(fmt.Sprintf("/proc/%d/root%s", pid, dir), &got)
		switch {
		case errors.Is(err, unix.EACCES), errors.Is(err, unix.EPERM):
			e.mountCheckOff.Do(func() {
				e.log.Warn("cannot see into plugin containers to check their mounted folder "+
					"(needs CAP_SYS_PTRACE); plugins run unchecked", "err", err)
			})
			return nil
		case err != nil:
			return fmt.Errorf("checking the mounted folder %s: %w", dir, err)
		case got.Dev != want.Dev || got.Ino != want.Ino:
			return fmt.Errorf("%s was not the checked folder when it was mounted "+
				"(swapped for a symbolic link?); the plugin did not run", dir)
		}
		return nil
	}, nil
}

// containerPath returns the path the plugin container is given for the
// job's file. containerd's API carries only UTF-8 text, so a file whose
// path is not valid UTF-8 is handed over through a hard link with a safe
// name: a dotfile beside it (which the watcher ignores) when its folder's
// name is valid, else a copy under the data dir. cleanup removes the link.
func (e *Engine) containerPath(j jobs.Job) (string, func(), error) {
	if utf8.ValidString(j.File) {
		return j.File, func() {}, nil
	}

	base := strings.ToValidUTF8(filepath.Base(j.File), "_")
	dir := filepath.Dir(j.File)
	if !utf8.ValidString(dir) {
		dir = filepath.Join(e.cfg.DataDir, "inputs", j.ID)
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return "", nil, fmt.Errorf("folder for a safe name of %q: %w", j.File, err)
		}
	}
	if len(base) > 120 {
		ext := filepath.Ext(base)
		if len(ext) > 20 {
			ext = ""
		}
		base = strings.ToValidUTF8(base[:120-len(ext)], "_") + ext
	}
	alias := filepath.Join(dir, fmt.Sprintf(".ventapp-%s-%s", j.ID, base))
	os.Remove(alias)
	if err := os.Link(j.File, alias); err != nil {
		if err := e.copyInput(j.File, alias); err != nil {
			return "", nil, fmt.Errorf("a safe name for %q (not valid UTF-8): %w", j.File, err)
		}
	}
	e.log.Info("file name is not valid UTF-8; the plugin gets it under a safe name", "job", j.ID, "as", alias)
	return alias, func() {
		os.Remove(alias)
		if filepath.Dir(alias) != filepath.Dir(j.File) {
			os.Remove(filepath.Dir(alias))
		}
	}, nil
}

// copyInput copies a job's file to dst, opened by openInput.
func (e *Engine) copyInput(src, dst string) error {
	in, err := e.openInput(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o640)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		os.Remove(dst)
		return err
	}
	return out.Close()
}

// Labels ventapp puts on job containers, besides vent's own.
const (
	LabelJob  = "ventapp.job"
	LabelTool = "ventapp.tool"
)

func (e *Engine) finish(j jobs.Job, st jobs.State, exit *int, reason string, tail []string) {
	if err := e.store.Finish(j.ID, st, exit, reason, tail); err != nil {
		e.log.Error("could not record job end", "job", j.ID, "err", err)
		return
	}
	e.jobMetrics.finish(j, st)
	switch st {
	case jobs.Done:
		e.counters.jobsDone.Add(1)
	case jobs.Failed:
		e.counters.jobsFailed.Add(1)
	}
	e.log.Info("job ended", "job", j.ID, "tool", j.Tool, "state", st, "reason", reason)
	e.appendStatus(j, st, exit, reason)
}

// retry puts a job back in the queue after an infrastructure failure, with
// an exponential backoff, until it has used its attempts.
func (e *Engine) retry(j jobs.Job, cause error) {
	if j.Attempts >= e.live().MaxAttempts {
		e.finish(j, jobs.Failed, nil, fmt.Sprintf("gave up after %d attempts: %v", j.Attempts, cause), nil)
		return
	}
	delay := e.live().RetryBackoff << (j.Attempts - 1)
	if delay <= 0 || delay > maxBackoff {
		delay = maxBackoff
	}
	e.counters.jobsRetried.Add(1)
	reason := fmt.Sprintf("attempt %d failed, retrying in %s: %v", j.Attempts, delay, cause)
	if errors.Is(cause, ErrContainerdDown) {
		// The retry waits for containerd too, however long that takes.
		reason = fmt.Sprintf("attempt %d failed: %v; it runs again once containerd answers "+
			"(at the earliest in %s)", j.Attempts, cause, delay)
	}
	e.log.Warn("job will be retried", "job", j.ID, "reason", reason)
	if err := e.store.Retry(j.ID, time.Now().Add(delay), reason); err != nil {
		e.log.Error("could not re-queue job", "job", j.ID, "err", err)
	}
}

func (e *Engine) requeue(j jobs.Job, reason string) {
	if err := e.store.Retry(j.ID, time.Time{}, reason); err != nil {
		e.log.Error("could not re-queue job", "job", j.ID, "err", err)
	}
}

// CancelJob cancels a queued job, or kills a running one.
func (e *Engine) CancelJob(id string) error {
	err := e.store.Cancel(id)
	if err == nil {
		e.releaseGPU(id)
	}
	if !errors.Is(err, jobs.ErrRunning) {
		return err
	}
	e.cancelsMu.Lock()
	cancel := e.cancels[id]
	e.cancelsMu.Unlock()
	if cancel == nil {
		return fmt.Errorf("job %s is running but not on this daemon", id)
	}
	cancel()
	return nil
}

// RetryJob queues a finished job again.
func (e *Engine) RetryJob(id string) error {
	if err := e.store.Requeue(id); err != nil {
		return err
	}
	e.nudge()
	return nil
}

// jobOutput receives a job's output lines from both streams.
type jobOutput struct {
	e         *Engine
	job       jobs.Job
	container string

	mu      sync.Mutex
	n       int
	dropped int      // lines over the per-job cap, counted only
	lines   []string // ring of the last tailLines lines
}

func (o *jobOutput) line(stream string) func([]byte) {
	return func(b []byte) {
		o.mu.Lock()
		if o.n >= o.e.live().MaxLinesPerJob {
			o.dropped++
			o.mu.Unlock()
			return
		}
		o.n++
		n := o.n
		keep := string(b)
		if len(keep) > maxTailLine {
			keep = keep[:maxTailLine] + "…"
		}
		o.lines = append(o.lines, stream+": "+strings.ToValidUTF8(keep, "?"))
		if len(o.lines) > tailLines {
			o.lines = o.lines[1:]
		}
		o.mu.Unlock()

		err := o.e.idx.Add(index.Line{
			JobID:      o.job.ID,
			Tool:       o.job.Tool,
			File:       o.job.File,
			FileSHA256: o.job.FileSHA256,
			Container:  o.container,
			Stream:     stream,
			LineNo:     n,
			Time:       time.Now(),
			Text:       b,
		})
		if err != nil {
			o.e.log.Warn("index line", "job", o.job.ID, "err", err)
		}
	}
}

func (o *jobOutput) end() {
	o.mu.Lock()
	dropped, n := o.dropped, o.n
	if dropped > 0 {
		o.lines = append(o.lines, fmt.Sprintf("ventapp: %d more output lines were not indexed (limit %d lines per job)",
			dropped, o.e.live().MaxLinesPerJob))
	}
	o.mu.Unlock()

	if dropped > 0 {
		err := o.e.idx.Add(index.Line{
			JobID: o.job.ID, Tool: o.job.Tool, File: o.job.File, FileSHA256: o.job.FileSHA256,
			Container: o.container, Stream: "ventapp", LineNo: n + 1, Time: time.Now(),
			Text: []byte(fmt.Sprintf("%d more output lines were not indexed (limit %d lines per job)",
				dropped, o.e.live().MaxLinesPerJob)),
		})
		if err != nil {
			o.e.log.Warn("index line", "job", o.job.ID, "err", err)
		}
	}
	if err := o.e.idx.EndJob(o.container); err != nil {
		o.e.log.Warn("close job log", "job", o.job.ID, "err", err)
	}
}

func (o *jobOutput) tail() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.lines...)
}
