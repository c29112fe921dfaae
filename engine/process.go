package engine

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ventapp/ventapp/drop"
	"github.com/ventapp/ventapp/jobs"
	"github.com/ventapp/ventapp/plugins"
)

// ErrNotInDrop marks a path given to Process that is not a file or folder
// the drop watcher would hand on: outside the drop folder, a symbolic
// link, or a name it ignores.
var ErrNotInDrop = errors.New("not a watched path in the drop folder")

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
// installed.
//
// Every path and tool is checked before anything is queued, so a bad one
// changes nothing. A file whose content a plugin already has a job for
// (in any state) gets no second job from that plugin; RetryJob runs one
// again.
func (e *Engine) Process(ctx context.Context, paths, tools []string) ([]ProcessResult, error) {
	for _, name := range tools {
		if _, err := e.reg.Get(name); err != nil {
			return nil, err
		}
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("process: no path given: %w", ErrNotInDrop)
	}

	var files []string
	for _, p := range paths {
		found, err := e.dropFiles(p)
		if err != nil {
			return nil, err
		}
		files = append(files, found...)
	}

	out := make([]ProcessResult, 0, len(files))
	for _, path := range files {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		res, err := e.processFile(ctx, path, tools)
		if err != nil {
			return out, fmt.Errorf("process %s: %w", path, err)
		}
		out = append(out, res)
	}
	return out, nil
}

// dropFiles checks that p is a file or folder the watcher would hand on
// and returns the regular files at or under it, in lexical order.
func (e *Engine) dropFiles(p string) ([]string, error) {
	if !filepath.IsAbs(p) {
		return nil, fmt.Errorf("process %q: the path must be absolute: %w", p, ErrNotInDrop)
	}
	p = filepath.Clean(p)
	root := filepath.Clean(e.cfg.Files)
	rel, err := filepath.Rel(root, p)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return nil, fmt.Errorf("process %s: outside the drop folder %s: %w", p, root, ErrNotInDrop)
	}
	if rel != "." {
		for comp := range strings.SplitSeq(rel, "/") {
			if drop.Ignored(comp) {
				return nil, fmt.Errorf("process %s: the drop watcher ignores %q: %w", p, comp, ErrNotInDrop)
			}
		}
	}

	fi, err := os.Lstat(p)
	if err != nil {
		return nil, fmt.Errorf("process: %w", err)
	}
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		return nil, fmt.Errorf("process %s: a symbolic link (the watcher does not follow them): %w",
			p, ErrNotInDrop)
	case fi.Mode().IsRegular():
		return []string{p}, nil
	case !fi.IsDir():
		return nil, fmt.Errorf("process %s: not a regular file or folder: %w", p, ErrNotInDrop)
	}

	var files []string
	err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("process: %w", err)
		}
		if path != p && drop.Ignored(d.Name()) {
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
// tools) and lack a job for its content.
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
			res.Note = "none of " + strings.Join(tools, ", ") + " claims it (or they are disabled or unbuilt)"
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

	fi, err := statFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			res.Note = "removed before it could be queued"
			return res, nil
		}
		return res, err
	}
	rec, known, err := e.store.File(path)
	if err != nil {
		return res, err
	}
	if !known || rec.Size != fi.Size() || !rec.ModTime.Equal(fi.ModTime()) {
		// Unknown or changed since it was recorded: the watcher has not
		// admitted this content yet, so hash it here.
		sum, size, err := drop.HashFile(path)
		if err != nil {
			return res, err
		}
		rec = jobs.FileRecord{Path: path, Size: size, ModTime: fi.ModTime(), SHA256: sum}
	}
	rec.SeenAt = time.Now()

	added, err := e.store.AddFile(rec, names)
	if err != nil {
		return res, err
	}
	if len(added) == 0 {
		res.Note = "already has a job from " + strings.Join(names, ", ") + " for this content"
		return res, nil
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
