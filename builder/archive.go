package builder

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// Magic numbers of the compressions ADD recognises.
var (
	magicGzip  = []byte{0x1f, 0x8b}
	magicBzip2 = []byte("BZh")
	magicXz    = []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}
	magicZstd  = []byte{0x28, 0xb5, 0x2f, 0xfd}
)

// decompress returns a reader of the uncompressed data of r, recognising
// gzip, bzip2, xz and zstd by their magic numbers; anything else is read as
// it is.
func decompress(r io.Reader) (io.Reader, func(), error) {
	br := bufio.NewReader(r)
	head, _ := br.Peek(6)
	switch {
	case bytes.HasPrefix(head, magicGzip):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, err
		}
		return zr, func() { zr.Close() }, nil
	case bytes.HasPrefix(head, magicBzip2):
		return bzip2.NewReader(br), func() {}, nil
	case bytes.HasPrefix(head, magicXz):
		xr, err := xz.NewReader(br)
		if err != nil {
			return nil, nil, err
		}
		return xr, func() {}, nil
	case bytes.HasPrefix(head, magicZstd):
		zr, err := zstd.NewReader(br)
		if err != nil {
			return nil, nil, err
		}
		return zr, zr.Close, nil
	}
	return br, func() {}, nil
}

// openArchive opens the source s as a tar archive. It returns a nil reader
// when s is not one (then ADD copies it as a plain file, as Docker does).
func openArchive(bc sourceFS, s source) (*tar.Reader, func(), error) {
	f, err := bc.opener(s.rel)()
	if err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", s.rel, err)
	}
	rd, closeRd, err := decompress(f)
	if err != nil {
		f.Close()
		return nil, nil, nil
	}
	done := func() { closeRd(); f.Close() }

	// A tar archive starts with a header block whose checksum is valid; the
	// tar reader checks it.
	var head bytes.Buffer
	tr := tar.NewReader(io.TeeReader(rd, &head))
	if _, err := tr.Next(); err != nil {
		done()
		return nil, nil, nil
	}
	return tar.NewReader(io.MultiReader(&head, rd)), done, nil
}

// addArchive extracts s into the directory dest when s is a tar archive,
// compressed or not, and reports whether it was one. Entry paths are taken
// relative to dest and can never climb above it; an entry whose parent is
// a link made by the same archive is refused, so an archive cannot plant a
// link and write through it. File data is spooled to a temporary directory
// until the layer is written. Owners come from the archive unless --chown
// is given; modification times are clamped like every other entry.
func (l *layer) addArchive(bc sourceFS, op *copyOp, s source, dest string) (bool, error) {
	tr, done, err := openArchive(bc, s)
	if err != nil || tr == nil {
		return false, err
	}
	defer done()

	spool, err := os.MkdirTemp("", "ventapp-add-")
	if err != nil {
		return true, fmt.Errorf("spool %s: %w", s.rel, err)
	}
	l.cleanups = append(l.cleanups, func() { os.RemoveAll(spool) })

	if err := l.mkdirAll(dest, op.uid, op.gid); err != nil {
		return true, err
	}
	for n := 0; ; n++ {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return true, nil
		}
		if err != nil {
			return true, fmt.Errorf("extract %s: %w", s.rel, err)
		}
		if err := l.addArchiveEntry(op, s, hdr, tr, dest, filepath.Join(spool, fmt.Sprint(n))); err != nil {
			return true, err
		}
	}
}

// addArchiveEntry adds one entry of an archive extracted into dest.
func (l *layer) addArchiveEntry(op *copyOp, s source, hdr *tar.Header, data io.Reader,
	dest, spoolName string) error {
	rel := path.Clean("/" + hdr.Name)
	if rel == "/" || strings.HasPrefix(path.Base(rel), whiteoutPrefix) {
		return nil
	}
	target := path.Join(dest, rel)
	for p := path.Dir(target); p != dest && p != "/"; p = path.Dir(p) {
		if e, ok := l.entries[p]; ok && e.hdr.Typeflag == tar.TypeSymlink {
			return fmt.Errorf("%w: %s: entry %s goes through the link %s it made",
				ErrDestination, s.rel, hdr.Name, p)
		}
	}
	real, err := l.root.resolve(path.Dir(target), true)
	if err != nil {
		return err
	}
	target = path.Join(real, path.Base(target))

	out := tar.Header{Typeflag: hdr.Typeflag, Mode: hdr.Mode & 0o7777, Uid: hdr.Uid, Gid: hdr.Gid}
	if op.chown {
		out.Uid, out.Gid = op.uid, op.gid
	}
	var open func() (io.ReadCloser, error)
	switch hdr.Typeflag {
	case tar.TypeDir:
	case tar.TypeReg, tar.TypeRegA: //nolint:staticcheck // old archives use TypeRegA
		out.Typeflag = tar.TypeReg
		if err := spoolFile(spoolName, data); err != nil {
			return fmt.Errorf("extract %s: %w", s.rel, err)
		}
		out.Size = hdr.Size
		open = func() (io.ReadCloser, error) { return os.Open(spoolName) }
	case tar.TypeSymlink:
		out.Linkname = hdr.Linkname
	case tar.TypeLink:
		linked := path.Join(dest, path.Clean("/"+hdr.Linkname))
		if e, ok := l.entries[linked]; !ok || e.hdr.Typeflag != tar.TypeReg {
			return fmt.Errorf("%w: %s: hard link %s to %s, which the archive does not hold",
				ErrDestination, s.rel, hdr.Name, hdr.Linkname)
		}
		out.Linkname = strings.TrimPrefix(linked, "/")
	default:
		// Devices, pipes and the like are left out.
		return nil
	}

	if err := l.mkdirAll(path.Dir(target), out.Uid, out.Gid); err != nil {
		return err
	}
	l.put(target, out, open)
	return nil
}

// spoolFile writes data to the new file name.
func spoolFile(name string, data io.Reader) error {
	f, err := os.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
