package builder

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"maps"
	"path"
	"strings"
)

// maxLinkHops bounds how many symbolic links one path resolution follows.
const maxLinkHops = 40

// nodeKind is the type of a path in an image's root file system.
type nodeKind uint8

const (
	kindDir nodeKind = iota
	kindFile
	kindSymlink
	kindOther
)

// fsNode is what rootfs knows of one path: its type and, for a symbolic
// link, its target.
type fsNode struct {
	kind nodeKind
	link string
}

// rootfs is the shape of an image's root file system: the type of every path
// the layers so far create, without file contents. It answers where a COPY
// destination lands once links are followed inside the image.
type rootfs struct {
	nodes map[string]fsNode // clean absolute path -> node; "/" is always a directory
}

// newRootfs returns an empty root file system, as FROM scratch gives.
func newRootfs() *rootfs {
	return &rootfs{nodes: map[string]fsNode{"/": {kind: kindDir}}}
}

// clone returns a copy of r that can change without changing r.
func (r *rootfs) clone() *rootfs {
	return &rootfs{nodes: maps.Clone(r.nodes)}
}

// lookup returns the node at the clean absolute path p.
func (r *rootfs) lookup(p string) (fsNode, bool) {
	n, ok := r.nodes[p]
	return n, ok
}

// resolve returns the real absolute path that p names inside the image,
// following symbolic links in every component, and in the last one too when
// followLast is set. Absolute link targets start again at the image root, and
// ".." never climbs above it, so the result is always inside the image.
func (r *rootfs) resolve(p string, followLast bool) (string, error) {
	rest := strings.Split(p, "/")
	cur := "/"
	hops := 0
	for len(rest) > 0 {
		c := rest[0]
		rest = rest[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			cur = path.Dir(cur)
			continue
		}

		next := path.Join(cur, c)
		n, ok := r.nodes[next]
		if ok && n.kind == kindSymlink && (len(rest) > 0 || followLast) {
			hops++
			if hops > maxLinkHops {
				return "", fmt.Errorf("%w: %s: too many levels of symbolic links", ErrDestination, p)
			}
			if strings.HasPrefix(n.link, "/") {
				cur = "/"
			}
			rest = append(strings.Split(n.link, "/"), rest...)
			continue
		}
		cur = next
	}
	return cur, nil
}

// set records node n at the clean absolute path p. A directory replaced by
// anything else loses its descendants, as it does when a layer is applied.
func (r *rootfs) set(p string, n fsNode) {
	if old, ok := r.nodes[p]; ok && old.kind == kindDir && n.kind != kindDir {
		r.removeBelow(p)
	}
	r.nodes[p] = n
}

// remove deletes p and everything below it.
func (r *rootfs) remove(p string) {
	if p == "/" {
		r.removeBelow(p)
		return
	}
	r.removeBelow(p)
	delete(r.nodes, p)
}

// removeBelow deletes everything below the directory p.
func (r *rootfs) removeBelow(p string) {
	prefix := strings.TrimSuffix(p, "/") + "/"
	for k := range r.nodes {
		if strings.HasPrefix(k, prefix) {
			delete(r.nodes, k)
		}
	}
}

// whiteout markers of the OCI layer format.
const (
	whiteoutPrefix = ".wh."
	whiteoutOpaque = ".wh..wh..opq"
)

// applyTar applies one uncompressed layer tar to r, honouring whiteouts.
// Deletions take effect on the lower layers only, so entries of the same
// layer survive whatever order the tar lists them in.
func (r *rootfs) applyTar(rd io.Reader) error {
	type added struct {
		path string
		node fsNode
	}
	var adds []added
	var opaque, whiteouts []string

	tr := tar.NewReader(rd)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("read layer: %w", err)
		}

		p := path.Clean("/" + hdr.Name)
		dir, base := path.Split(p)
		switch {
		case base == whiteoutOpaque:
			opaque = append(opaque, path.Clean(dir))
		case strings.HasPrefix(base, whiteoutPrefix):
			whiteouts = append(whiteouts, path.Join(dir, strings.TrimPrefix(base, whiteoutPrefix)))
		default:
			adds = append(adds, added{p, nodeFromHeader(hdr)})
		}
	}

	for _, d := range opaque {
		r.removeBelow(d)
	}
	for _, w := range whiteouts {
		r.remove(w)
	}
	for _, a := range adds {
		r.set(a.path, a.node)
	}
	return nil
}

// nodeFromHeader returns the node a tar entry creates. Hard links count as
// files: only the type of a path matters here.
func nodeFromHeader(hdr *tar.Header) fsNode {
	switch hdr.Typeflag {
	case tar.TypeDir:
		return fsNode{kind: kindDir}
	case tar.TypeSymlink:
		return fsNode{kind: kindSymlink, link: hdr.Linkname}
	case tar.TypeReg, tar.TypeLink:
		return fsNode{kind: kindFile}
	default:
		return fsNode{kind: kindOther}
	}
}
