package containers

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/images/archive"
	"github.com/containerd/errdefs"
	"github.com/containerd/platforms"
	digest "github.com/opencontainers/go-digest"
)

// unnamedPrefix names images imported from an archive that gives them no
// name: "import@" followed by the manifest digest.
const unnamedPrefix = "import@"

// ImageInfo describes an image in the namespace.
type ImageInfo struct {
	// Name is the image reference, e.g. "docker.io/cyberreboot/vent-file-drop:latest".
	Name string

	// Digest is the digest of the image's manifest or index.
	Digest string

	// Size is the size in bytes of the image's content for this platform
	// (compressed layers, config, manifest); -1 when content is missing.
	Size int64

	// Created is when the image record was created in containerd.
	Created time.Time

	// Labels are the image record's labels.
	Labels map[string]string
}

// ImportArchive reads an OCI image layout tar or a `docker save` tar from r,
// stores its images for this host's platform and unpacks them for
// Snapshotter. It returns the names of the images created or updated; a
// manifest the archive does not name is called "import@<digest>". Errors
// wrap ErrArchive when r is not such an archive, ErrUnavailable when
// containerd is unreachable.
func (c *Client) ImportArchive(ctx context.Context, r io.Reader) ([]string, error) {
	ctx = c.nsCtx(ctx)

	imgs, err := c.cli.Import(ctx, r,
		client.WithDigestRef(func(d digest.Digest) string { return unnamedPrefix + d.String() }),
		client.WithSkipDigestRef(func(name string) bool { return name != "" }),
	)
	if err != nil {
		if isUnavailable(err) {
			return nil, c.wrapErr(err, "import image archive")
		}
		if strings.Contains(err.Error(), "unrecognized image format") {
			return nil, fmt.Errorf("%w: no OCI index.json or docker manifest.json in the tar: %w",
				ErrArchive, err)
		}
		return nil, fmt.Errorf("%w: not an OCI or docker-save image tar: %w", ErrArchive, err)
	}
	if len(imgs) == 0 {
		return nil, fmt.Errorf("%w: archive holds no image manifest", ErrArchive)
	}

	names := make([]string, 0, len(imgs))
	for _, rec := range imgs {
		img := client.NewImage(c.cli, rec)
		if err := img.Unpack(ctx, Snapshotter); err != nil {
			if isUnavailable(err) {
				return names, c.wrapErr(err, "unpack imported image %s", rec.Name)
			}
			return names, fmt.Errorf("%w: unpack imported image %s for %s: %w",
				ErrArchive, rec.Name, platforms.DefaultString(), err)
		}
		names = append(names, rec.Name)
		c.log.Info("imported image", "image", rec.Name, "digest", rec.Target.Digest.String())
	}
	return names, nil
}

// ExportImage writes refs to w as one OCI image layout tar that also holds a
// docker-compatible manifest.json, for this host's platform. It fails with
// ErrImageNotFound, naming the reference, when one is missing.
func (c *Client) ExportImage(ctx context.Context, w io.Writer, refs ...string) error {
	ctx = c.nsCtx(ctx)
	if len(refs) == 0 {
		return fmt.Errorf("export images: no image reference given")
	}

	is := c.cli.ImageService()
	opts := []archive.ExportOpt{archive.WithPlatform(platforms.DefaultStrict())}
	for _, ref := range refs {
		if _, err := is.Get(ctx, ref); err != nil {
			return c.imageErr(err, ref, "export")
		}
		opts = append(opts, archive.WithImage(is, ref))
	}

	if err := c.cli.Export(ctx, w, opts...); err != nil {
		return c.wrapErr(err, "export images %v", refs)
	}
	return nil
}

// ImageExists reports whether ref is in the namespace.
func (c *Client) ImageExists(ctx context.Context, ref string) (bool, error) {
	_, err := c.cli.ImageService().Get(c.nsCtx(ctx), ref)
	if errdefs.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, c.wrapErr(err, "look up image %s", ref)
	}
	return true, nil
}

// Images lists the images in the namespace.
func (c *Client) Images(ctx context.Context) ([]ImageInfo, error) {
	ctx = c.nsCtx(ctx)

	recs, err := c.cli.ImageService().List(ctx)
	if err != nil {
		return nil, c.wrapErr(err, "list images in namespace %s", c.ns)
	}

	infos := make([]ImageInfo, 0, len(recs))
	for _, rec := range recs {
		size, err := client.NewImage(c.cli, rec).Size(ctx)
		if err != nil {
			if isUnavailable(err) {
				return nil, c.wrapErr(err, "size image %s", rec.Name)
			}
			size = -1
		}
		infos = append(infos, ImageInfo{
			Name:    rec.Name,
			Digest:  rec.Target.Digest.String(),
			Size:    size,
			Created: rec.CreatedAt,
			Labels:  rec.Labels,
		})
	}
	return infos, nil
}

// RemoveImage deletes ref from the namespace and lets containerd collect
// the content and snapshots no other image uses before it returns.
func (c *Client) RemoveImage(ctx context.Context, ref string) error {
	err := c.cli.ImageService().Delete(c.nsCtx(ctx), ref, images.SynchronousDelete())
	if err != nil {
		return c.imageErr(err, ref, "remove")
	}
	c.log.Info("removed image", "image", ref)
	return nil
}

// imageErr wraps an image store error for ref, mapping not-found to
// ErrImageNotFound.
func (c *Client) imageErr(err error, ref, op string) error {
	if errdefs.IsNotFound(err) {
		return fmt.Errorf("%s image: %w: %s in namespace %s", op, ErrImageNotFound, ref, c.ns)
	}
	return c.wrapErr(err, "%s image %s", op, ref)
}
