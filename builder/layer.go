package builder

import (
	"archive/tar"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"time"
)

// epoch is the modification time of every layer entry.
var epoch = time.Unix(0, 0).UTC()

// layerEntry is one file, directory or link of a layer being made.
type layerEntry struct {
	hdr  tar.Header
	from string // host path a regular file's data is read from
}

// layer is the content of one new layer, keyed by absolute image path.
type layer struct {
	entries map[string]*layerEntry
	root    *rootfs // the image below this layer
}

// newLayer starts an empty layer on top of root.
func newLayer(root *rootfs) *layer {
	return &layer{entries: map[string]*layerEntry{}, root: root}
}

// empty reports whether the layer has no entries.
func (l *layer) empty() bool { return len(l.entries) == 0 }

// isDir reports whether p is a directory in this layer or below it.
func (l *layer) isDir(p string) (exists, dir bool) {
	if e, ok := l.entries[p]; ok {
		return true, e.hdr.Typeflag == tar.TypeDir
	}
	if n, ok := l.root.lookup(p); ok {
		return true, n.kind == kindDir
	}
	return false, false
}

// mkdirAll makes sure p and its parents are directories, creating the
// missing ones with mode 0755 and owner uid:gid.
func (l *layer) mkdirAll(p string, uid, gid int) error {
	if p == "/" {
		return nil
	}
	exists, dir := l.isDir(p)
	if exists {
		if !dir {
			return fmt.Errorf("%w: %s exists and is not a directory", ErrDestination, p)
		}
		return nil
	}
	if err := l.mkdirAll(path.Dir(p), uid, gid); err != nil {
		return err
	}
	l.put(p, tar.Header{Typeflag: tar.TypeDir, Mode: 0o755, Uid: uid, Gid: gid}, "")
	return nil
}

// put adds an entry at the absolute path p, replacing any earlier one.
func (l *layer) put(p string, hdr tar.Header, from string) {
	hdr.Name = strings.TrimPrefix(p, "/")
	if hdr.Typeflag == tar.TypeDir {
		hdr.Name += "/"
	}
	hdr.ModTime = epoch
	hdr.Format = tar.FormatPAX
	l.entries[p] = &layerEntry{hdr: hdr, from: from}
}

// addCopy adds the entries one COPY makes to the layer.
func (l *layer) addCopy(bc *buildContext, op *copyOp) error {
	var srcs []source
	for _, s := range op.sources {
		m, err := bc.match(s)
		if err != nil {
			return err
		}
		srcs = append(srcs, m...)
	}

	// Resolve where the destination really is inside the image. It is a
	// directory when written with a trailing "/" (or as "." or ".."), when
	// several paths are copied, or when it already is one.
	dest := op.dest
	if !path.IsAbs(dest) {
		dest = path.Join(op.workdir, dest)
	}
	base := path.Base(op.dest)
	intoDir := strings.HasSuffix(op.dest, "/") || base == "." || base == ".." || len(srcs) > 1
	real, err := l.root.resolve(dest, true)
	if err != nil {
		return err
	}
	if exists, dir := l.isDir(real); exists && dir {
		intoDir = true
	}

	for _, s := range srcs {
		if err := l.addSource(bc, op, s, real, intoDir); err != nil {
			return err
		}
	}
	return nil
}

// addSource copies one matched context path to the resolved destination.
func (l *layer) addSource(bc *buildContext, op *copyOp, s source, dest string, intoDir bool) error {
	if s.info.IsDir() {
		// A directory's contents go into the destination directory.
		if err := l.mkdirAll(dest, op.uid, op.gid); err != nil {
			return err
		}
		return bc.walk(s.rel, func(rel string, info fs.FileInfo) error {
			sub := strings.TrimPrefix(rel, s.rel+"/")
			if s.rel == "." {
				sub = rel
			}
			return l.addPath(bc, op, rel, info, path.Join(dest, sub))
		})
	}

	target := dest
	if intoDir {
		if err := l.mkdirAll(dest, op.uid, op.gid); err != nil {
			return err
		}
		target = path.Join(dest, path.Base(s.rel))
	} else if err := l.mkdirAll(path.Dir(dest), op.uid, op.gid); err != nil {
		return err
	}
	return l.addPath(bc, op, s.rel, s.info, target)
}

// addPath adds a single context path at target. Sockets, devices and pipes
// are left out: a build context has no business holding them.
func (l *layer) addPath(bc *buildContext, op *copyOp, rel string, info fs.FileInfo, target string) error {
	mode := info.Mode()
	hdr := tar.Header{Uid: op.uid, Gid: op.gid, Mode: tarMode(mode, op.chmod)}
	from := ""

	switch {
	case mode.IsDir():
		hdr.Typeflag = tar.TypeDir
	case mode.IsRegular():
		hdr.Typeflag = tar.TypeReg
		hdr.Size = info.Size()
		from = bc.abs(rel)
	case mode&fs.ModeSymlink != 0:
		link, err := os.Readlink(bc.abs(rel))
		if err != nil {
			return fmt.Errorf("read link %s: %w", rel, err)
		}
		hdr.Typeflag = tar.TypeSymlink
		hdr.Linkname = link
		hdr.Mode = 0o777
	default:
		return nil
	}

	if parent := path.Dir(target); parent != "/" {
		if exists, dir := l.isDir(parent); !exists || !dir {
			if err := l.mkdirAll(parent, op.uid, op.gid); err != nil {
				return err
			}
		}
	}
	l.put(target, hdr, from)
	return nil
}

// tarMode converts a file mode to tar permission bits, or uses chmod when
// COPY --chmod gave one.
func tarMode(m fs.FileMode, chmod *fs.FileMode) int64 {
	if chmod != nil {
		m = *chmod
	}
	mode := int64(m.Perm())
	if m&fs.ModeSetuid != 0 {
		mode |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		mode |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		mode |= 0o1000
	}
	return mode
}

// paths returns the layer's paths in the order they are written: sorted, so
// every directory comes before what it holds.
func (l *layer) paths() []string {
	ps := make([]string, 0, len(l.entries))
	for p := range l.entries {
		ps = append(ps, p)
	}
	slices.Sort(ps)
	return ps
}

// writeTar writes the layer as a tar archive. The same entries always give
// the same bytes.
func (l *layer) writeTar(w io.Writer) error {
	tw := tar.NewWriter(w)
	for _, p := range l.paths() {
		e := l.entries[p]
		if err := tw.WriteHeader(&e.hdr); err != nil {
			return fmt.Errorf("write layer entry %s: %w", p, err)
		}
		if e.from == "" {
			continue
		}
		if err := copyFile(tw, e.from, e.hdr.Size); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("finish layer: %w", err)
	}
	return nil
}

// copyFile writes exactly size bytes of the file name to w, failing if the
// file changed size since it was listed.
func copyFile(w io.Writer, name string, size int64) error {
	f, err := os.Open(name)
	if err != nil {
		return fmt.Errorf("read build context: %w", err)
	}
	defer f.Close()

	n, err := io.Copy(w, io.LimitReader(f, size))
	if err != nil {
		return fmt.Errorf("read build context %s: %w", name, err)
	}
	if n != size {
		return fmt.Errorf("read build context %s: file changed size during the build", name)
	}
	return nil
}

// commit records the layer's entries in the root file system below it, so
// the next instruction sees them.
func (l *layer) commit() {
	for _, p := range l.paths() {
		e := l.entries[p]
		n := fsNode{kind: kindFile}
		switch e.hdr.Typeflag {
		case tar.TypeDir:
			n.kind = kindDir
		case tar.TypeSymlink:
			n = fsNode{kind: kindSymlink, link: e.hdr.Linkname}
		}
		l.root.set(p, n)
	}
}
