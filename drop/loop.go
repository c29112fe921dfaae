package drop

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
)

// maxDrain bounds how many queued events are handled before due files are
// looked at, so that an event storm cannot starve readiness forever.
const maxDrain = 4096

// loop is the state of one Run call. Only Run's goroutine touches it.
type loop struct {
	w      *Watcher
	fsw    *fsnotify.Watcher
	ready  func(File)
	log    *slog.Logger
	prefix string // root with a trailing slash

	watched    map[string]fileID    // watched directory → its inode
	byID       map[fileID]string    // inode → watched directory
	failed     map[string]bool      // directories whose watch failed
	pending    map[string]*pending  // files not ready yet
	unreadable map[string]fileState // files that could not be opened
	queue      dueQueue
	gen        uint64
	done       <-chan struct{} // closed when Run's context ends
}

func newLoop(w *Watcher, fsw *fsnotify.Watcher, ready func(File)) *loop {
	prefix := w.root
	if !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	return &loop{
		w:          w,
		fsw:        fsw,
		ready:      ready,
		log:        w.log.With("root", w.root),
		prefix:     prefix,
		watched:    make(map[string]fileID),
		byID:       make(map[fileID]string),
		failed:     make(map[string]bool),
		pending:    make(map[string]*pending),
		unreadable: make(map[string]fileState),
	}
}

// run is Run's main loop.
func (l *loop) run(ctx context.Context) error {
	l.done = ctx.Done()
	l.log.Info("drop watcher starting", "quiet", l.w.quiet, "settle", l.w.settle,
		"rescan", l.w.rescan)
	l.fullScan("start")

	ticker := time.NewTicker(l.w.rescan)
	defer ticker.Stop()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()

	for {
		l.w.pending.Store(int64(len(l.pending)))
		l.armTimer(timer)

		select {
		case <-ctx.Done():
			l.log.Info("drop watcher stopping")
			return nil
		case ev, ok := <-l.fsw.Events:
			if !ok {
				return fmt.Errorf("watching drop folder %s: %w", l.w.root, fsnotify.ErrClosed)
			}
			l.onEvent(ev)
		case err, ok := <-l.fsw.Errors:
			if !ok {
				return fmt.Errorf("watching drop folder %s: %w", l.w.root, fsnotify.ErrClosed)
			}
			l.onWatchError(err)
		case <-l.w.rescanReq:
			l.fullScan("requested")
		case <-ticker.C:
			l.fullScan("timer")
		case <-timer.C:
			l.drain()
			l.fireDue(time.Now())
		}
	}
}

// reset forgets the loop's state when Run returns.
func (l *loop) reset() {
	l.watched, l.byID, l.pending = nil, nil, nil
	l.w.watches.Store(0)
	l.w.pending.Store(0)
}

// drain handles the events already queued, so that a Write that raced with
// a deadline is seen before the deadline is acted on.
func (l *loop) drain() {
	for range maxDrain {
		select {
		case ev, ok := <-l.fsw.Events:
			if !ok {
				return
			}
			l.onEvent(ev)
		case err, ok := <-l.fsw.Errors:
			if !ok {
				return
			}
			l.onWatchError(err)
		default:
			return
		}
	}
}

// onWatchError handles an error from fsnotify. An overflow means events
// were lost, so it asks for a full rescan.
func (l *loop) onWatchError(err error) {
	if errors.Is(err, fsnotify.ErrEventOverflow) {
		l.w.overflows.Add(1)
		l.log.Warn("inotify event queue overflowed; rescanning the drop folder")
		l.w.Rescan()
		return
	}
	l.log.Warn("drop folder watch error", "err", err)
}

// onEvent handles one fsnotify event.
func (l *loop) onEvent(ev fsnotify.Event) {
	l.w.events.Add(1)
	path := ev.Name
	if path == l.w.root {
		l.onRootEvent(ev)
		return
	}
	rel, ok := strings.CutPrefix(path, l.prefix)
	if !ok || ignoredRel(rel) {
		return
	}
	now := time.Now()

	// A rename is reported for the old name and a Create for the new one.
	if ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
		l.forget(path)
	}
	if ev.Has(fsnotify.Create) {
		l.onCreate(path, now)
	}
	if ev.Has(fsnotify.Write) {
		l.onWrite(path, now)
	}
	if ev.Has(fsnotify.Chmod) {
		l.onChmod(path, now)
	}
}

// onRootEvent handles the drop folder itself being removed or renamed: all
// state goes, and a rescan recreates the folder and its watch.
func (l *loop) onRootEvent(ev fsnotify.Event) {
	if !ev.Has(fsnotify.Remove) && !ev.Has(fsnotify.Rename) {
		return
	}
	l.log.Warn("drop folder was removed or renamed; recreating it")
	l.unwatchTree(l.w.root)
	clear(l.pending)
	clear(l.unreadable)
	l.w.Rescan()
}

// onCreate handles a new name: a directory is watched and scanned, since
// files may land in it before its watch exists; a regular file starts
// settling.
func (l *loop) onCreate(path string, now time.Time) {
	fi, err := os.Lstat(path)
	if err != nil {
		l.log.Debug("created entry vanished", "path", path, "err", err)
		return
	}

	switch mode := fi.Mode(); {
	case mode&os.ModeSymlink != 0:
		l.log.Debug("skipping symbolic link", "path", path)
	case mode.IsDir():
		files, dirs := l.scanTree(path, now)
		l.log.Debug("new directory scanned", "path", path, "files", files, "dirs", dirs)
	case mode.IsRegular():
		l.settle(path, stateOf(fi), now)
	default:
		l.log.Debug("skipping non-regular file", "path", path, "mode", mode.Type().String())
	}
}

// settle starts (or restarts) the settle wait for a file that appeared.
// A file already being written keeps waiting for quiet.
func (l *loop) settle(path string, st fileState, now time.Time) {
	p := l.pending[path]
	if p != nil && p.mode == quieting {
		p.last = now
		return
	}
	if p == nil {
		p = &pending{path: path}
		l.pending[path] = p
	}
	p.mode, p.state, p.last = settling, st, now
	l.schedule(p, l.dueAt(p))
}

// onWrite moves a file to the quiet wait and restarts its timer.
func (l *loop) onWrite(path string, now time.Time) {
	if p := l.pending[path]; p != nil {
		p.mode, p.last = quieting, now
		return
	}

	fi, err := os.Lstat(path)
	if err != nil || !fi.Mode().IsRegular() {
		return
	}
	p := &pending{path: path, mode: quieting, state: stateOf(fi), last: now}
	l.pending[path] = p
	l.schedule(p, l.dueAt(p))
}

// onChmod restarts the wait of a pending file, and gives a file that could
// not be read another chance (its permissions may have been fixed).
func (l *loop) onChmod(path string, now time.Time) {
	if p := l.pending[path]; p != nil {
		p.last = now
		return
	}
	if _, ok := l.unreadable[path]; !ok {
		return
	}

	delete(l.unreadable, path)
	fi, err := os.Lstat(path)
	if err != nil || !fi.Mode().IsRegular() {
		return
	}
	l.settle(path, stateOf(fi), now)
}

// forget drops what the loop knows about a path that was removed or
// renamed away, and everything under it when it was a directory.
func (l *loop) forget(path string) {
	if _, ok := l.pending[path]; ok {
		delete(l.pending, path)
		l.log.Debug("file vanished before it was ready", "path", path)
	}
	delete(l.unreadable, path)

	_, watched := l.watched[path]
	if watched || l.failed[path] {
		l.unwatchTree(path)
	}
}

// unwatchTree removes the watches on dir and every directory under it and
// forgets the files under it. Watches on a renamed directory keep their old
// path inside fsnotify, so they must go before the new path is watched.
func (l *loop) unwatchTree(dir string) {
	under := func(p string) bool {
		return p == dir || strings.HasPrefix(p, dir+"/")
	}

	for p, id := range l.watched {
		if under(p) {
			l.unwatch(p, id)
		}
	}
	for p := range l.failed {
		if under(p) {
			delete(l.failed, p)
		}
	}
	for p := range l.pending {
		if under(p) {
			delete(l.pending, p)
		}
	}
	for p := range l.unreadable {
		if under(p) {
			delete(l.unreadable, p)
		}
	}
}

// unwatch removes one directory watch. Errors are expected (the kernel
// drops the watch of a deleted directory by itself) and ignored.
func (l *loop) unwatch(dir string, id fileID) {
	_ = l.fsw.Remove(dir)
	delete(l.watched, dir)
	if l.byID[id] == dir {
		delete(l.byID, id)
	}
	l.w.watches.Store(int64(len(l.watched)))
}

// evaluate looks at a pending file whose deadline has passed and either
// reports it or makes it wait again.
func (l *loop) evaluate(p *pending, now time.Time) {
	fi, err := os.Lstat(p.path)
	if err != nil {
		delete(l.pending, p.path)
		l.log.Debug("file vanished before it was ready", "path", p.path, "err", err)
		return
	}
	if !fi.Mode().IsRegular() {
		delete(l.pending, p.path)
		l.log.Debug("no longer a regular file", "path", p.path, "mode", fi.Mode().Type().String())
		return
	}
	st := stateOf(fi)

	switch {
	case p.mode == settling && st == p.state && st.size > 0:
		l.report(p.path, st, now)
	case p.mode == settling:
		// Changed, or empty: wait for quiet instead.
		p.mode, p.state, p.last = quieting, st, now
		l.schedule(p, l.dueAt(p))
	case st == p.state, l.quietSince(st, now):
		l.report(p.path, st, now)
	default:
		p.state, p.last = st, l.lastChange(st, now)
		l.schedule(p, l.dueAt(p))
	}
}

// quietSince reports whether st's modification time lies at least Quiet in
// the past (and not in the future).
func (l *loop) quietSince(st fileState, now time.Time) bool {
	age := now.Sub(time.Unix(0, st.mtime))
	return age >= l.w.quiet
}

// lastChange turns st's modification time into a time on the loop's clock,
// clamped to [now-Quiet, now].
func (l *loop) lastChange(st fileState, now time.Time) time.Time {
	age := now.Sub(time.Unix(0, st.mtime))
	age = max(0, min(age, l.w.quiet))
	return now.Add(-age)
}

// report makes the last checks on a file found ready and calls the ready
// callback: every directory between the root and the file must still be a
// real directory, and the file must open (without following a link) and
// still match st.
func (l *loop) report(path string, st fileState, now time.Time) {
	delete(l.pending, path)
	if !l.realDirs(filepath.Dir(path)) {
		l.log.Debug("skipping file below a symbolic link", "path", path)
		return
	}

	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	switch {
	case errors.Is(err, os.ErrNotExist):
		l.log.Debug("file vanished before it was ready", "path", path)
		return
	case errors.Is(err, syscall.ELOOP):
		l.log.Debug("skipping symbolic link", "path", path)
		return
	case err != nil:
		l.cannotRead(path, st, err)
		return
	}
	fi, err := f.Stat()
	_ = f.Close()
	if err != nil {
		l.cannotRead(path, st, err)
		return
	}
	if !fi.Mode().IsRegular() {
		return
	}

	// Changed between the stat and the open: wait for quiet again.
	if got := stateOf(fi); got != st {
		p := &pending{path: path, mode: quieting, state: got, last: now}
		l.pending[path] = p
		l.schedule(p, l.dueAt(p))
		return
	}

	delete(l.unreadable, path)
	l.w.ready.Add(1)
	l.log.Debug("file ready", "path", path, "size", fi.Size())
	l.ready(File{Path: path, Size: fi.Size(), ModTime: fi.ModTime()})
}

// realDirs reports whether dir and every directory above it up to the root
// is a directory and not a symbolic link.
func (l *loop) realDirs(dir string) bool {
	for dir != l.w.root {
		if !strings.HasPrefix(dir, l.prefix) {
			return false
		}
		fi, err := os.Lstat(dir)
		if err != nil || !fi.IsDir() {
			return false
		}
		dir = filepath.Dir(dir)
	}
	return true
}

// cannotRead records a file that could not be opened, logs it and passes
// it to OnError, unless it already failed unchanged before. It is tried
// again after a Chmod event and at every rescan.
func (l *loop) cannotRead(path string, st fileState, err error) {
	if prev, ok := l.unreadable[path]; ok && prev == st {
		l.log.Debug("file still unreadable", "path", path, "err", err)
		return
	}
	l.unreadable[path] = st
	l.w.errs.Add(1)
	l.log.Warn("cannot read file in drop folder", "path", path, "err", err)
	if l.w.onError != nil {
		l.w.onError(path, err)
	}
}
