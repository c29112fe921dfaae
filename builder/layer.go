package builder

import (
	"archive/tar"
	"fmt"
	"io"
	"io/fs"
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
	open func() (io.ReadCloser, error) // a regular file's data; nil for none
}

// layer is the content of one new layer, keyed by absolute image path.
type layer struct {
	entries  map[string]*layerEntry
	root     *rootfs  // the image below this layer
	cleanups []func() // run by close, last first
}

// sourceFS is a tree COPY and ADD read from: the build context, or the
// root file system of an earlier stage or an image (COPY --from).
type sourceFS interface {
	// match returns the paths a source names, expanding glob patterns.
	match(src string) ([]source, error)

	// walk calls fn for everything below the directory rel, parents first,
	// in lexical order, never following links.
	walk(rel string, fn func(rel string, info fs.FileInfo) error) error

	// readlink returns the target of the link rel.
	readlink(rel string) (string, error)

	// opener returns a function that opens the regular file rel.
	opener(rel string) func() (io.ReadCloser, error)

	// owner returns the owner to give a copied entry when no --chown was
	// given, and false when it is root (the build context).
	owner(info fs.FileInfo) (uid, gid int, keep bool)
}

// close releases what the layer's making needed: mounts, spooled files.
func (l *layer) close() {
	for i := len(l.cleanups) - 1; i >= 0; i-- {
		l.cleanups[i]()
	}
	l.cleanups = nil
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
	l.put(p, tar.Header{Typeflag: tar.TypeDir, Mode: 0o755, Uid: uid, Gid: gid}, nil)
	return nil
}

// put adds an entry at the absolute path p, replacing any earlier one.
func (l *layer) put(p string, hdr tar.Header, open func() (io.ReadCloser, error)) {
	hdr.Name = strings.TrimPrefix(p, "/")
	if hdr.Typeflag == tar.TypeDir {
		hdr.Name += "/"
	}
	hdr.ModTime = epoch
	hdr.AccessTime = time.Time{}
	hdr.ChangeTime = time.Time{}
	hdr.Uname, hdr.Gname = "", ""
	hdr.Xattrs = nil //nolint:staticcheck // cleared so no source metadata leaks in
	hdr.PAXRecords = nil
	hdr.Format = tar.FormatPAX
	l.entries[p] = &layerEntry{hdr: hdr, open: open}
}

// addCopy adds the entries one COPY or ADD makes to the layer, reading
// from bc.
func (l *layer) addCopy(bc sourceFS, op *copyOp) error {
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
func (l *layer) addSource(bc sourceFS, op *copyOp, s source, dest string, intoDir bool) error {
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

	if op.add && s.info.Mode().IsRegular() {
		done, err := l.addArchive(bc, op, s, dest)
		if err != nil || done {
			return err
		}
	}

	target := dest
	if intoDir {
		if err := l.mkdirAll(dest, op.uid, op.gid); err != nil {
			return err
		}
		target = path.Join(dest, s.base())
	} else if err := l.mkdirAll(path.Dir(dest), op.uid, op.gid); err != nil {
		return err
	}
	return l.addPath(bc, op, s.rel, s.info, target)
}

// addPath adds a single context path at target. Sockets, devices and pipes
// are left out: a build context has no business holding them.
func (l *layer) addPath(bc sourceFS, op *copyOp, rel string, info fs.FileInfo, target string) error {
	mode := info.Mode()
	hdr := tar.Header{Uid: op.uid, Gid: op.gid, Mode: tarMode(mode, op.chmod)}
	if uid, gid, keep := bc.owner(info); keep && !op.chown {
		hdr.Uid, hdr.Gid = uid, gid
	}
	var open func() (io.ReadCloser, error)

	switch {
	case mode.IsDir():
		hdr.Typeflag = tar.TypeDir
	case mode.IsRegular():
		hdr.Typeflag = tar.TypeReg
		hdr.Size = info.Size()
		open = bc.opener(rel)
	case mode&fs.ModeSymlink != 0:
		link, err := bc.readlink(rel)
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
	l.put(target, hdr, open)
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
		if e.open == nil {
			continue
		}
		if err := copyFile(tw, e.open, p, e.hdr.Size); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("finish layer: %w", err)
	}
	return nil
}

// copyFile writes exactly size bytes of the file open gives to w, failing
// if the file changed size since it was listed. name is the entry's path in
// the image, for messages.
func copyFile(w io.Writer, open func() (io.ReadCloser, error), name string, size int64) error {
	f, err := open()
	if err != nil {
		return fmt.Errorf("read source of %s: %w", name, err)
	}
	defer f.Close()

	n, err := io.Copy(w, io.LimitReader(f, size))
	if err != nil {
		return fmt.Errorf("read source of %s: %w", name, err)
	}
	if n != size {
		return fmt.Errorf("read source of %s: file changed size during the build", name)
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
		case tar.TypeReg, tar.TypeLink:
		default:
			n.kind = kindOther
		}
		l.root.set(p, n)
	}
}
