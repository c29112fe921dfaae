package engine

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ventapp/ventapp/drop"
	"github.com/ventapp/ventapp/jobs"
	"github.com/ventapp/ventapp/plugins"
)

var (
	// ErrNotInDrop marks a path given to Process that is not a file or
	// folder the drop watcher would hand on: outside the drop folder,
	// through a symbolic link, or a name it ignores.
	ErrNotInDrop = errors.New("not a watched path in the drop folder")

	// ErrToolNotReady marks a tool named to Process that is disabled or
	// not built, so it would not run.
	ErrToolNotReady = errors.New("tool would not run")
)

// ProcessResult says what Process did with one file.
type ProcessResult struct {
	File string `json:"file"`

	// FileBytes holds File's bytes when they are not valid UTF-8, which
	// JSON cannot carry as text.
	FileBytes []byte `json:"file_bytes,omitempty"`

	// Jobs are the jobs queued for the file now, one per tool that had
	// none for its content.
	Jobs []jobs.Job `json:"jobs,omitempty"`

	// Note says why nothing was queued, or that the queued jobs failed at
	// once (an empty file).
	Note string `json:"note,omitempty"`
}

// Process queues files that are already in the drop folder for the
// plugins that claim them and have not run on their content yet: a plugin
// added or enabled after the files arrived, or one rebuilt after it was
// unbuilt. Each path is a file or a folder (walked like the watcher walks
// it: no symbolic links, no ignored names) inside the drop folder. tools,
// when not empty, narrows the plugins to those names; each must be
// installed, enabled and built.
//
// Every path and tool is checked before anything is queued, so a bad one
// changes nothing. The files are handled in path order, each once. A file
// that cannot be read, or that changed within the drop quiet period (still
// being written: the watcher queues it when it settles), gets a note and
// no job. A file whose content a plugin already has a job for (in any
// state) gets no second job from that plugin; RetryJob runs one again.
//
// When the job store fails part way, the results so far come back with
// the error: their jobs stay queued.
func (e *Engine) Process(ctx context.Context, paths, tools []string) ([]ProcessResult, error) {
	if err := e.checkTools(tools); err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("no path given: %w", ErrNotInDrop)
	}

	var files []string
	for _, p := range paths {
		found, err := e.dropFiles(p)
		if err != nil {
			return nil, err
		}
		files = append(files, found...)
	}
	slices.Sort(files)
	files = slices.Compact(files)

	out := make([]ProcessResult, 0, len(files))
	for _, path := range files {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		res, err := e.processFile(ctx, path, tools)
		if err != nil {
			return out, fmt.Errorf("%s: %w", showPath(path), err)
		}
		out = append(out, res)
	}
	return out, nil
}

// checkTools refuses tool names that are empty, unknown, disabled or not
// built.
func (e *Engine) checkTools(tools []string) error {
	for _, name := range tools {
		if strings.TrimSpace(name) == "" {
			return fmt.Errorf("an empty tool name: %w", plugins.ErrNotFound)
		}
		p, err := e.reg.Get(name)
		if errors.Is(err, plugins.ErrNotFound) {
			return fmt.Errorf("no tool %s is installed (tools go by the TOOL column of "+
				"`ventapp plugins list`): %w", strconv.Quote(name), plugins.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("tool %s: %w", strconv.Quote(name), err)
		}
		switch {
		case !p.Enabled:
			return fmt.Errorf("tool %s is disabled (ventapp plugins enable %s): %w", name, name, ErrToolNotReady)
		case !p.Built:
			return fmt.Errorf("tool %s is not built (ventapp plugins build %s): %w", name, name, ErrToolNotReady)
		}
	}
	return nil
}

// showPath is path as text safe for one line of a message: quoted when it
// holds control characters or bytes that are not UTF-8.
func showPath(path string) string {
	if q := strconv.Quote(path); path == "" || q[1:len(q)-1] != path {
		return q
	}
	return path
}

// pathErr describes a failed file system call on one line, the path
// shown by showPath; the cause stays wrapped.
func pathErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %s: %w", showPath(pe.Path), pe.Op, pe.Err)
	}
	return err
}

// dropFiles checks that p is a file or folder the watcher would hand on
// and returns the regular files at or under it, in lexical order.
func (e *Engine) dropFiles(p string) ([]string, error) {
	if strings.IndexByte(p, 0) >= 0 {
		return nil, fmt.Errorf("%s: the path holds a NUL byte: %w", showPath(p), ErrNotInDrop)
	}
	if !filepath.IsAbs(p) {
		return nil, fmt.Errorf("%s: the path must be absolute: %w", showPath(p), ErrNotInDrop)
	}
	p = filepath.Clean(p)
	root := filepath.Clean(e.cfg.Files)
	rel, ok := drop.Within(root, p)
	if !ok {
		// The drop folder may be a link (the watcher follows that one):
		// a path under its target names the same files.
		if real, err := filepath.EvalSymlinks(root); err == nil && real != root {
			if rel, ok = drop.Within(real, p); ok {
				p = filepath.Join(root, rel)
			}
		}
	}
	if !ok {
		return nil, fmt.Errorf("%s: outside the drop folder %s: %w", showPath(p), root, ErrNotInDrop)
	}

	// The watcher follows no symbolic link, so none may stand between the
	// drop folder and the path, or be the path.
	if rel != "." {
		at := root
		for comp := range strings.SplitSeq(rel, "/") {
			if drop.Ignored(comp) {
				return nil, fmt.Errorf("%s: the drop watcher ignores %s: %w",
					showPath(p), strconv.Quote(comp), ErrNotInDrop)
			}
			at = filepath.Join(at, comp)
			fi, err := os.Lstat(at)
			if err != nil {
				return nil, pathErr(err)
			}
			if fi.Mode()&fs.ModeSymlink != 0 {
				return nil, fmt.Errorf("%s: %s is a symbolic link (the watcher does not follow them): %w",
					showPath(p), showPath(at), ErrNotInDrop)
			}
		}
	}

	stat := os.Lstat
	if rel == "." {
		stat = os.Stat // the drop folder itself may be a link
	}
	fi, err := stat(p)
	if err != nil {
		return nil, pathErr(err)
	}
	switch {
	case fi.Mode().IsRegular():
		return []string{p}, nil
	case !fi.IsDir():
		return nil, fmt.Errorf("%s: not a regular file or folder: %w", showPath(p), ErrNotInDrop)
	}

	// The drop folder itself may be a link, which the watcher follows: a
	// trailing slash makes the walk start at its target.
	top := p
	if rel == "." {
		top = p + "/"
	}
	var files []string
	err = filepath.WalkDir(top, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return pathErr(err)
		}
		if path != top && drop.Ignored(d.Name()) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.Type().IsRegular() {
			files = append(files, path)
		}
		return nil
	})
	return files, err
}

// processFile queues path for the plugins that claim it (narrowed to
// tools) and lack a job for its content. Only a failing job store is an
// error; a file that cannot be processed now gets a note.
func (e *Engine) processFile(ctx context.Context, path string, tools []string) (ProcessResult, error) {
	res := ProcessResult{File: path}
	if !utf8.ValidString(path) {
		res.FileBytes = []byte(path)
	}

	var names []string
	for _, p := range plugins.Match(e.reg.List(), e.cfg.Files, path) {
		if len(tools) == 0 || slices.Contains(tools, p.Name) {
			names = append(names, p.Name)
		}
	}
	if len(names) == 0 {
		res.Note = "no enabled, built plugin claims it"
		if len(tools) > 0 {
			res.Note = "not claimed by " + strings.Join(tools, ", ")
		}
		return res, nil
	}

	// The intake may be hashing the same file now; wait for it, so the
	// record written last is never the older one.
	for {
		if _, busy := e.inflight.LoadOrStore(path, struct{}{}); !busy {
			break
		}
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	defer e.inflight.Delete(path)

	rec, note := e.settledRecord(path)
	if note != "" {
		res.Note = note
		return res, nil
	}
	missing, err := e.store.MissingTools(path, rec.SHA256, names)
	if err != nil {
		return res, err
	}
	if len(missing) == 0 {
		res.Note = "already has a job from " + strings.Join(names, ", ") + " for this content"
		return res, nil
	}

	rec.SeenAt = time.Now()
	added, err := e.store.AddFile(rec, missing)
	if err != nil {
		return res, err
	}
	if e.queued(rec, added) {
		res.Note = "empty file: its jobs failed at once"
	}
	for _, j := range added {
		if now, err := e.store.Get(j.ID); err == nil {
			j = now
		}
		res.Jobs = append(res.Jobs, j)
	}
	return res, nil
}

// settledRecord returns the record of the file at path as it is now,
// hashing it only when it changed since it was last recorded, or a note
// saying why it cannot be queued now.
func (e *Engine) settledRecord(path string) (jobs.FileRecord, string) {
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return jobs.FileRecord{}, "removed before it could be queued"
	case err != nil:
		return jobs.FileRecord{}, "cannot be read: " + err.Error()
	case !fi.Mode().IsRegular():
		return jobs.FileRecord{}, "no longer a regular file"
	}

	// Written in place within the quiet period: still being written, as
	// far as the watcher can tell. A time in the future is not that.
	if age := time.Since(fi.ModTime()); age > -time.Second && age < e.cfg.QuietPeriod {
		return jobs.FileRecord{}, fmt.Sprintf("changed less than %s ago, so may still be written; "+
			"the watcher queues it when it settles", e.cfg.QuietPeriod)
	}

	rec, known, err := e.store.File(path)
	if err == nil && known && rec.Size == fi.Size() && rec.ModTime.Equal(fi.ModTime()) {
		return rec, ""
	}
	sum, size, err := drop.HashFile(e.cfg.Files, path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return jobs.FileRecord{}, "removed before it could be queued"
		}
		return jobs.FileRecord{}, "cannot be read: " + err.Error()
	}
	return jobs.FileRecord{Path: path, Size: size, ModTime: fi.ModTime(), SHA256: sum}, ""
}
