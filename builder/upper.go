package builder

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/containerd/containerd/v2/core/mount"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"
)

// Extended attributes overlayfs keeps in an upper directory.
var (
	xattrOpaque   = []string{"trusted.overlay.opaque", "user.overlay.opaque"}
	xattrRedirect = []string{"trusted.overlay.redirect", "user.overlay.redirect"}
	xattrMetacopy = []string{"trusted.overlay.metacopy", "user.overlay.metacopy"}
)

// upperEntry is one entry of a RUN layer.
type upperEntry struct {
	rel  string // absolute path in the image; for whiteouts, the marker's path
	hdr  tar.Header
	data string // host path of a regular file's data
}

// upperDiff makes the layer of a RUN step from the upper directory of the
// overlay the command ran on: only what the command changed is there, with
// deletions as overlay whiteouts. The tar is made here, not by the diff
// service, so it is the same for the same changes: entries in walk order,
// every mtime the epoch, no user or group names, no extended attributes.
type upperDiff struct {
	upper  string             // the upper directory, or the whole tree without a parent
	lowers []*os.Root         // the read-only layers below, topmost first
	dests  map[string]bool    // mount points of the RUN container
	file   *os.File           // the layer tar, once made
	desc   ocispec.Descriptor // the layer's descriptor, once made
	empty  bool               // the command changed nothing
}

// newUpperDiff finds the upper and lower directories in the mounts of an
// active overlayfs snapshot. dests are the container's mount destinations.
func newUpperDiff(mounts []mount.Mount, dests []string) (*upperDiff, error) {
	if len(mounts) != 1 {
		return nil, fmt.Errorf("snapshot has %d mounts, want one overlay or bind mount", len(mounts))
	}
	d := &upperDiff{dests: map[string]bool{}}
	for _, dest := range dests {
		d.dests[path.Clean(dest)] = true
	}

	m := mounts[0]
	switch m.Type {
	case "bind":
		d.upper = m.Source
	case "overlay":
		upper, ok := mountOption(m, "upperdir")
		if !ok {
			return nil, fmt.Errorf("overlay mount without upperdir")
		}
		d.upper = upper
		lowers, _ := mountOption(m, "lowerdir")
		for _, dir := range strings.Split(lowers, ":") {
			if dir == "" {
				continue
			}
			r, err := os.OpenRoot(dir)
			if err != nil {
				d.close()
				return nil, fmt.Errorf("open lower directory: %w", err)
			}
			d.lowers = append(d.lowers, r)
		}
	default:
		return nil, fmt.Errorf("snapshot mount type %q is not overlay or bind", m.Type)
	}
	return d, nil
}

// close removes the layer tar and closes the lower directories.
func (d *upperDiff) close() {
	for _, r := range d.lowers {
		r.Close()
	}
	if d.file != nil {
		d.file.Close()
		os.Remove(d.file.Name())
	}
}

// inLower reports whether the image path rel exists in a lower layer.
func (d *upperDiff) inLower(rel string) bool {
	name := strings.TrimPrefix(rel, "/")
	if name == "" {
		return true
	}
	for _, r := range d.lowers {
		if _, err := r.Lstat(name); err == nil {
			return true
		}
	}
	return false
}

// make walks the upper directory and writes the layer tar. Mount points the
// runtime created for the container (/proc, /sys, /dev, /etc/hosts, ...)
// that the image did not have are left out of the layer and removed from
// the upper directory, and so are directories made only to hold them.
func (d *upperDiff) make() error {
	var entries []upperEntry
	filtered := map[string]bool{} // directories that lost a child to the filter
	inodes := map[[2]uint64]string{}

	err := filepath.WalkDir(d.upper, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == d.upper {
			return nil
		}
		sub, err := filepath.Rel(d.upper, p)
		if err != nil {
			return err
		}
		rel := "/" + filepath.ToSlash(sub)
		info, err := de.Info()
		if err != nil {
			return err
		}
		st, ok := info.Sys().(*syscall.Stat_t)
		if !ok {
			return fmt.Errorf("%s: no stat data", rel)
		}
		mode := info.Mode()

		if mode&fs.ModeCharDevice != 0 && st.Rdev == 0 {
			dir, base := path.Split(rel)
			entries = append(entries, upperEntry{rel: dir + whiteoutPrefix + base,
				hdr: tar.Header{Typeflag: tar.TypeReg}})
			return nil
		}
		if d.dests[rel] && !d.inLower(rel) && emptyMountPoint(p, info) {
			if err := os.Remove(p); err != nil {
				return fmt.Errorf("remove mount point %s: %w", rel, err)
			}
			filtered[path.Dir(rel)] = true
			if info.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if hasXattr(p, xattrRedirect) || hasXattr(p, xattrMetacopy) {
			return fmt.Errorf("%s: overlayfs redirect_dir or metacopy is on; turn both off", rel)
		}

		hdr := tar.Header{Uid: int(st.Uid), Gid: int(st.Gid), Mode: tarMode(mode, nil)}
		e := upperEntry{rel: rel, hdr: hdr}
		switch {
		case mode.IsDir():
			e.hdr.Typeflag = tar.TypeDir
			entries = append(entries, e)
			if hasXattr(p, xattrOpaque) {
				entries = append(entries, upperEntry{rel: path.Join(rel, whiteoutOpaque),
					hdr: tar.Header{Typeflag: tar.TypeReg}})
			}
			return nil
		case mode.IsRegular():
			key := [2]uint64{st.Dev, st.Ino}
			if first, ok := inodes[key]; ok && st.Nlink > 1 {
				e.hdr.Typeflag = tar.TypeLink
				e.hdr.Linkname = strings.TrimPrefix(first, "/")
				break
			}
			inodes[key] = rel
			e.hdr.Typeflag = tar.TypeReg
			e.hdr.Size = info.Size()
			e.data = p
		case mode&fs.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			e.hdr.Typeflag = tar.TypeSymlink
			e.hdr.Linkname = link
			e.hdr.Mode = 0o777
		case mode&fs.ModeNamedPipe != 0:
			e.hdr.Typeflag = tar.TypeFifo
		case mode&fs.ModeDevice != 0:
			e.hdr.Typeflag = tar.TypeBlock
			if mode&fs.ModeCharDevice != 0 {
				e.hdr.Typeflag = tar.TypeChar
			}
			e.hdr.Devmajor = int64(unix.Major(st.Rdev))
			e.hdr.Devminor = int64(unix.Minor(st.Rdev))
		default:
			// Sockets do not belong in a layer.
			return nil
		}
		entries = append(entries, e)
		return nil
	})
	if err != nil {
		return err
	}

	entries = d.dropMountParents(entries, filtered)
	d.empty = len(entries) == 0
	if d.empty {
		return nil
	}
	return d.writeTar(entries)
}

// dropMountParents removes directories that hold nothing, lost a child to
// the mount point filter, and are new or only copied up from a lower layer
// with the same owner and mode. Children come after their parent
// in entries, so one backward pass sees every child first.
func (d *upperDiff) dropMountParents(entries []upperEntry, filtered map[string]bool) []upperEntry {
	hasChild := map[string]bool{}
	keep := make([]bool, len(entries))
	for i := len(entries) - 1; i >= 0; i-- {
		e := entries[i]
		if e.hdr.Typeflag == tar.TypeDir && filtered[e.rel] && !hasChild[e.rel] && d.sameAsLower(e) {
			if os.Remove(filepath.Join(d.upper, filepath.FromSlash(e.rel))) == nil {
				filtered[path.Dir(e.rel)] = true
				continue
			}
		}
		keep[i] = true
		hasChild[path.Dir(e.rel)] = true
	}
	out := entries[:0]
	for i, e := range entries {
		if keep[i] {
			out = append(out, e)
		}
	}
	return out
}

// sameAsLower reports whether the directory entry e is new, or exists in
// the topmost lower layer that has it with the same owner and mode.
func (d *upperDiff) sameAsLower(e upperEntry) bool {
	name := strings.TrimPrefix(e.rel, "/")
	for _, r := range d.lowers {
		info, err := r.Lstat(name)
		if err != nil {
			continue
		}
		st, ok := info.Sys().(*syscall.Stat_t)
		return ok && info.IsDir() && int(st.Uid) == e.hdr.Uid && int(st.Gid) == e.hdr.Gid &&
			tarMode(info.Mode(), nil) == e.hdr.Mode
	}
	return true
}

// writeTar writes entries to a temporary file and computes the layer's
// descriptor.
func (d *upperDiff) writeTar(entries []upperEntry) error {
	f, err := os.CreateTemp("", "ventapp-run-layer-")
	if err != nil {
		return err
	}
	d.file = f

	dg := digest.Canonical.Digester()
	var n countWriter
	tw := tar.NewWriter(io.MultiWriter(f, dg.Hash(), &n))
	for _, e := range entries {
		hdr := e.hdr
		hdr.Name = strings.TrimPrefix(e.rel, "/")
		if hdr.Typeflag == tar.TypeDir {
			hdr.Name += "/"
		}
		hdr.ModTime = epoch
		hdr.Format = tar.FormatPAX
		if err := tw.WriteHeader(&hdr); err != nil {
			return fmt.Errorf("write %s: %w", e.rel, err)
		}
		if e.data == "" {
			continue
		}
		if err := copyFile(tw, func() (io.ReadCloser, error) { return os.Open(e.data) }, e.rel,
			hdr.Size); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	d.desc = ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: dg.Digest(), Size: int64(n)}
	return nil
}

// writeTo copies the layer tar to w.
func (d *upperDiff) writeTo(w io.Writer) error {
	if _, err := d.file.Seek(0, io.SeekStart); err != nil {
		return err
	}
	_, err := io.Copy(w, d.file)
	return err
}

// emptyMountPoint reports whether p is an empty directory or an empty
// regular file, as the runtime leaves a mount point it created.
func emptyMountPoint(p string, info fs.FileInfo) bool {
	if info.Mode().IsRegular() {
		return info.Size() == 0
	}
	if !info.IsDir() {
		return false
	}
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	_, err = f.Readdirnames(1)
	return errors.Is(err, io.EOF)
}

// hasXattr reports whether p carries any of the attributes names with the
// value "y" (opaque) or any value (redirect, metacopy).
func hasXattr(p string, names []string) bool {
	buf := make([]byte, 256)
	for _, name := range names {
		n, err := unix.Lgetxattr(p, name, buf)
		if err != nil {
			continue
		}
		if name == xattrOpaque[0] || name == xattrOpaque[1] {
			if n == 1 && buf[0] == 'y' {
				return true
			}
			continue
		}
		return true
	}
	return false
}
