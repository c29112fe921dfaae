package builder

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"syscall"

	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/platforms"
)

// fromSource returns the tree COPY --from=name reads: an earlier stage, by
// AS name or number, or else an image in the containerd namespace. The tree
// is mounted read-only on a temporary directory until l is closed.
func (b *build) fromSource(ctx context.Context, st *stage, from string, l *layer) (sourceFS, error) {
	var state *stageState
	src := b.stageRef(from, st.index)
	switch {
	case src != nil:
		state = b.done[src.index]
		if state == nil {
			return nil, fmt.Errorf("stage %s was not built", from)
		}
	case isNumber(from):
		return nil, fmt.Errorf("%w: no stage %s before this one", ErrNotFound, from)
	default:
		base, err := loadBase(ctx, b.c, from, platforms.Only(b.platform))
		if err != nil {
			return nil, err
		}
		for _, d := range base.layers {
			if err := b.w.protect(ctx, d.Digest); err != nil {
				return nil, err
			}
		}
		state = &stageState{img: base.config, layers: base.layers}
		src = &stage{base: from, from: st.from}
	}

	model, err := b.rootOf(ctx, src, state)
	if err != nil {
		return nil, err
	}
	dir, err := b.mountView(ctx, state, l)
	if err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("open mounted file system: %w", err)
	}
	l.cleanups = append(l.cleanups, func() { root.Close() })
	return &imageFS{root: root, model: model}, nil
}

// mountView mounts the stage's layers read-only on a new temporary
// directory; l's cleanups unmount and remove it.
func (b *build) mountView(ctx context.Context, state *stageState, l *layer) (string, error) {
	dir, err := os.MkdirTemp("", "ventapp-from-")
	if err != nil {
		return "", err
	}
	l.cleanups = append(l.cleanups, func() { os.Remove(dir) })
	if len(state.layers) == 0 {
		return dir, nil
	}

	parent, err := b.ensureChain(ctx, state)
	if err != nil {
		return "", fmt.Errorf("%w: prepare the file system: %s", ErrRun, err)
	}
	sn := b.c.SnapshotService(Snapshotter)
	key := "ventapp-build-view-" + randomHex()
	mounts, err := sn.View(ctx, key, parent)
	if err != nil {
		return "", fmt.Errorf("view snapshot: %w", err)
	}
	l.cleanups = append(l.cleanups, func() {
		if err := sn.Remove(context.WithoutCancel(ctx), key); err != nil {
			b.log.Warn("remove view snapshot", "snapshot", key, "err", err)
		}
	})
	if err := mount.All(mounts, dir); err != nil {
		return "", fmt.Errorf("mount snapshot: %w", err)
	}
	l.cleanups = append(l.cleanups, func() {
		if err := mount.UnmountAll(dir, 0); err != nil {
			b.log.Warn("unmount view", "dir", dir, "err", err)
		}
	})
	return dir, nil
}

// imageFS is the mounted root file system of a stage or image, read by
// COPY --from. Paths are resolved with the image's own links (absolute
// targets start at the image root, ".." stops there) and every access goes
// through an os.Root, so nothing outside the mount is ever reached.
type imageFS struct {
	root  *os.Root
	model *rootfs
}

// candidate is a path being matched: where it really is, and the name it
// was reached by.
type candidate struct {
	real string // absolute path in the image with every link resolved
	name string
}

// rel converts an absolute image path to the os.Root form.
func rel(real string) string {
	if r := strings.TrimPrefix(real, "/"); r != "" {
		return r
	}
	return "."
}

// match returns what src names in the image. Links are followed, the last
// component's too, as Docker does for COPY --from; the copy keeps the name
// the source was given by.
func (f *imageFS) match(src string) ([]source, error) {
	var parts []string
	for _, p := range strings.Split(path.Clean("/"+src), "/") {
		if p != "" {
			parts = append(parts, p)
		}
	}

	cands := []candidate{{real: "/", name: "/"}}
	for i, part := range parts {
		last := i == len(parts)-1
		var next []candidate
		for _, c := range cands {
			names := []string{part}
			if hasMeta(part) {
				entries, err := f.readDir(c.real)
				if err != nil {
					continue
				}
				names = names[:0]
				for _, e := range entries {
					ok, err := path.Match(part, e.Name())
					if err != nil {
						return nil, fmt.Errorf("%w: COPY source pattern %q: %s", ErrSyntax, src, err)
					}
					if ok {
						names = append(names, e.Name())
					}
				}
			}
			for _, name := range names {
				real, err := f.model.resolve(path.Join(c.real, name), true)
				if err != nil {
					return nil, err
				}
				info, err := f.root.Lstat(rel(real))
				if err != nil || (!last && !info.IsDir()) {
					continue
				}
				next = append(next, candidate{real: real, name: name})
			}
		}
		cands = next
	}

	var out []source
	for _, c := range cands {
		info, err := f.root.Lstat(rel(c.real))
		if err != nil {
			continue
		}
		out = append(out, source{rel: rel(c.real), info: info, name: c.name})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, src)
	}
	return out, nil
}

// readDir lists the directory at the absolute image path dir, sorted.
func (f *imageFS) readDir(dir string) ([]fs.DirEntry, error) {
	entries, err := fs.ReadDir(f.root.FS(), rel(dir))
	if err != nil {
		return nil, err
	}
	slices.SortFunc(entries, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return entries, nil
}

// walk calls fn for everything below the directory r, parents first.
func (f *imageFS) walk(r string, fn func(rel string, info fs.FileInfo) error) error {
	return fs.WalkDir(f.root.FS(), r, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("read %s: %w", p, err)
		}
		if p == r {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		return fn(p, info)
	})
}

// readlink returns a link's target.
func (f *imageFS) readlink(r string) (string, error) { return f.root.Readlink(r) }

// opener returns a function opening the regular file r.
func (f *imageFS) opener(r string) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) { return f.root.Open(r) }
}

// owner keeps the owner a file has in the source image.
func (f *imageFS) owner(info fs.FileInfo) (int, int, bool) {
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0, false
	}
	return int(st.Uid), int(st.Gid), true
}
