package drop

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// fullScan walks the whole drop folder: it (re)creates the root when it is
// gone, watches every directory, reports every regular file that has been
// quiet for Quiet, makes the others wait, and drops watches whose directory
// is gone or was replaced.
func (l *loop) fullScan(reason string) {
	start := time.Now()
	if err := ensureRoot(l.w.root); err != nil {
		l.w.errs.Add(1)
		l.log.Error("drop folder unusable; will retry at the next rescan", "err", err)
		return
	}

	readyBefore := l.w.ready.Load()
	files, dirs := l.scanTree(l.w.root, start)
	if l.stopping() {
		l.log.Info("drop folder scan stopped: the watcher is stopping", "reason", reason,
			"dirs", dirs, "files", files, "took", time.Since(start))
		return
	}
	l.pruneWatches()
	l.w.rescans.Add(1)

	level := slog.LevelInfo
	if reason == "timer" || reason == "requested" {
		level = slog.LevelDebug
	}
	l.log.Log(context.Background(), level, "drop folder scanned", "reason", reason,
		"dirs", dirs, "files", files, "reported", l.w.ready.Load()-readyBefore,
		"pending", len(l.pending), "watches", len(l.watched), "took", time.Since(start))
}

// stopping reports whether Run's context has ended.
func (l *loop) stopping() bool {
	select {
	case <-l.done:
		return true
	default:
		return false
	}
}

// scanTree watches top and every directory below it and looks at every
// regular file found. It returns how many files and directories it saw.
// It stops early, between directories, when the watcher is stopping: a
// scan of millions of files must not hold up a shutdown.
func (l *loop) scanTree(top string, now time.Time) (files, dirs int) {
	stack := []string{top}
	for len(stack) > 0 && !l.stopping() {
		dir := stack[len(stack)-1]
		stack = stack[:len(stack)-1]

		if !l.watchDir(dir) {
			if _, err := os.Lstat(dir); err != nil {
				continue
			}
		}
		entries, err := l.readDir(dir)
		if err != nil {
			l.cannotReadDir(dir, err)
			continue
		}
		dirs++

		for _, e := range entries {
			name := e.Name()
			if Ignored(name) {
				continue
			}
			path := filepath.Join(dir, name)

			switch t := e.Type(); {
			case t&os.ModeSymlink != 0:
				l.log.Debug("skipping symbolic link", "path", path)
			case t.IsDir():
				stack = append(stack, path)
			case t.IsRegular():
				fi, err := e.Info()
				if err != nil {
					continue
				}
				files++
				l.scanFile(path, fi, now)
			default:
				l.log.Debug("skipping non-regular file", "path", path, "mode", t.String())
			}
		}
	}
	return files, dirs
}

// readDir lists dir without following a symbolic link in its last
// component; the root alone may be a link.
func (l *loop) readDir(dir string) ([]os.DirEntry, error) {
	flags := os.O_RDONLY | syscall.O_DIRECTORY
	if dir != l.w.root {
		flags |= syscall.O_NOFOLLOW
	}
	f, err := os.OpenFile(dir, flags, 0)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()

	return f.ReadDir(-1)
}

// cannotReadDir logs a directory that could not be listed, unless it
// simply vanished or turned into something else.
func (l *loop) cannotReadDir(dir string, err error) {
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) ||
		errors.Is(err, syscall.ELOOP) {
		l.log.Debug("directory vanished or was replaced", "path", dir, "err", err)
		return
	}
	l.w.errs.Add(1)
	l.log.Warn("cannot read directory in drop folder", "path", dir, "err", err)
	if l.w.onError != nil {
		l.w.onError(dir, err)
	}
}

// scanFile looks at a regular file found by a scan. A file that is already
// pending keeps waiting; one whose modification time is older than Quiet is
// reported now; any other waits for quiet.
func (l *loop) scanFile(path string, fi os.FileInfo, now time.Time) {
	if _, ok := l.pending[path]; ok {
		return
	}
	st := stateOf(fi)

	if l.quietSince(st, now) {
		l.report(path, st, now)
		return
	}
	p := &pending{path: path, mode: quieting, state: st, last: l.lastChange(st, now)}
	l.pending[path] = p
	l.schedule(p, l.dueAt(p))
}

// watchDir makes sure dir is watched and reports whether it is. A watch
// left on the same directory under an old name (after a rename) is removed
// first, since fsnotify would keep reporting the old name.
func (l *loop) watchDir(dir string) bool {
	fi, err := l.statDir(dir)
	if err != nil || !fi.IsDir() {
		return false
	}
	id := idOf(fi)
	if cur, ok := l.watched[dir]; ok {
		if cur == id {
			return true
		}
		l.unwatch(dir, cur)
	}
	if old, ok := l.byID[id]; ok {
		l.unwatch(old, id)
	}

	if err := l.fsw.Add(dir); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return false
		}
		l.w.watchFailures.Add(1)
		if !l.failed[dir] {
			l.failed[dir] = true
			l.log.Warn("cannot watch directory; rescans will cover it", "path", dir, "err", err)
		}
		return false
	}

	// fsnotify follows links: undo the watch if dir was swapped for one.
	fi, err = l.statDir(dir)
	if err != nil || !fi.IsDir() || idOf(fi) != id {
		_ = l.fsw.Remove(dir)
		return false
	}

	delete(l.failed, dir)
	l.watched[dir] = id
	l.byID[id] = dir
	l.w.watches.Store(int64(len(l.watched)))
	return true
}

// statDir stats a directory, following a link only for the root.
func (l *loop) statDir(dir string) (os.FileInfo, error) {
	if dir == l.w.root {
		return os.Stat(dir)
	}
	return os.Lstat(dir)
}

// pruneWatches removes watches whose directory is gone or was replaced,
// and forgets watch failures for directories that are gone.
func (l *loop) pruneWatches() {
	for dir, id := range l.watched {
		fi, err := l.statDir(dir)
		if err != nil || !fi.IsDir() || idOf(fi) != id {
			l.unwatch(dir, id)
		}
	}
	for dir := range l.failed {
		if fi, err := l.statDir(dir); err != nil || !fi.IsDir() {
			delete(l.failed, dir)
		}
	}
}
