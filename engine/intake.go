package engine

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"syscall"
	"time"

	"github.com/ventapp/ventapp/drop"
	"github.com/ventapp/ventapp/jobs"
	"github.com/ventapp/ventapp/plugins"
)

// fileReady is called by the watcher for every complete file, possibly
// more than once for the same file (rescans). It only hands the file on;
// hashing happens in the intake goroutines. Once the engine is stopping
// the file is dropped (the intake goroutines have returned; the rescan at
// the next start finds it), so the watcher can stop too.
func (e *Engine) fileReady(f drop.File) {
	if _, busy := e.inflight.LoadOrStore(f.Path, struct{}{}); busy {
		return
	}
	select {
	case e.intake <- f:
	case <-e.stopped:
		e.inflight.Delete(f.Path)
	}
}

func (e *Engine) intakeLoop(ctx context.Context) {
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for {
		e.heartbeat.Store(time.Now().UnixNano())
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case f := <-e.intake:
			if err := e.admit(f); err != nil {
				e.counters.intakeErrors.Add(1)
				e.log.Warn("file not queued", "file", f.Path, "err", err)
			}
			e.inflight.Delete(f.Path)
		}
	}
}

// admit records a ready file and queues one job per plugin that claims it.
// A file whose path, size and mtime match the last record is known work
// and costs nothing; new content at a known path is new work.
func (e *Engine) admit(f drop.File) error {
	e.counters.filesSeen.Add(1)

	rec, known, err := e.store.File(f.Path)
	if err != nil {
		return err
	}
	if known && rec.Size == f.Size && rec.ModTime.Equal(f.ModTime) {
		return nil
	}

	matched := plugins.Match(e.reg.List(), e.cfg.Files, f.Path)
	if len(matched) == 0 {
		e.counters.filesIgnored.Add(1)
		e.log.Debug("no plugin claims file", "file", f.Path)
		// Record it anyway so rescans do not hash it again.
		sum, size, err := drop.HashFile(e.cfg.Files, f.Path)
		if err != nil {
			return ignoreVanished(err)
		}
		_, err = e.store.AddFile(jobs.FileRecord{
			Path: f.Path, Size: size, ModTime: f.ModTime, SHA256: sum, SeenAt: time.Now(),
		}, nil)
		return err
	}

	sum, size, err := drop.HashFile(e.cfg.Files, f.Path)
	if err != nil {
		return ignoreVanished(err)
	}
	tools := make([]string, len(matched))
	for i, p := range matched {
		tools[i] = p.Name
	}
	added, err := e.store.AddFile(jobs.FileRecord{
		Path: f.Path, Size: size, ModTime: f.ModTime, SHA256: sum, SeenAt: time.Now(),
	}, tools)
	if err != nil {
		return err
	}
	if len(added) == 0 {
		return nil
	}
	e.queued(jobs.FileRecord{Path: f.Path, Size: size, SHA256: sum}, added)
	return nil
}

// queued counts and logs the new jobs of a recorded file and wakes the
// workers. An empty file cannot hold anything a plugin could read: its jobs
// fail at once with that reason instead of starting containers, and queued
// reports true.
func (e *Engine) queued(rec jobs.FileRecord, added []jobs.Job) (emptyFile bool) {
	e.counters.filesQueued.Add(1)
	e.log.Info("file queued", "file", rec.Path, "jobs", len(added), "sha256", rec.SHA256[:12])

	if rec.Size == 0 {
		for _, j := range added {
			const reason = "empty file: nothing to process"
			if err := e.store.Reject(j.ID, reason); err != nil {
				e.log.Warn("could not fail job of empty file", "job", j.ID, "err", err)
				continue
			}
			e.counters.jobsFailed.Add(1)
			e.appendStatus(j, jobs.Failed, nil, reason)
		}
		return true
	}
	e.nudge()
	return false
}

// ignoreVanished treats a file removed before it could be read as nothing
// to do.
func ignoreVanished(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// DropFile copies the file at src into the drop folder atomically and
// returns its path there.
func (e *Engine) DropFile(src string) (string, error) {
	return drop.PlaceFile(src, e.cfg.Files)
}

// inputFile checks a job's file just before its container starts, by
// opening it (openInput).
func (e *Engine) inputFile(path string) (os.FileInfo, error) {
	f, err := e.openInput(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.Stat()
}

// openInput opens a job's file for reading. Below the drop folder it is
// opened as the watcher sees it (drop.OpenBeneath: no symbolic link on
// the way, so a folder swapped for a link since the file was queued does
// not lead outside); elsewhere (the drop folder moved since) by its path.
// Either way it must be a regular file: a FIFO is refused, not waited on.
func (e *Engine) openInput(path string) (*os.File, error) {
	if _, ok := drop.Within(e.cfg.Files, path); ok {
		return drop.OpenBeneath(e.cfg.Files, path)
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, &fs.PathError{Op: "open", Path: path, Err: drop.ErrNotRegular}
	}
	return f, nil
}
