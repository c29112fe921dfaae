package builder

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/leases"
	"github.com/containerd/containerd/v2/pkg/archive/compression"
	"github.com/containerd/errdefs"
	"github.com/containerd/platforms"
	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// gc labels that make containerd's garbage collector keep what a manifest
// refers to.
const (
	gcRefConfig = "containerd.io/gc.ref.content.config"
	gcRefLayer  = "containerd.io/gc.ref.content.l."
)

// baseImage is the image FROM names, as found in the namespace.
type baseImage struct {
	name   string
	config imageJSON
	layers []ocispec.Descriptor
}

// lookupNames returns the image names FROM name may be stored under: as
// written, with ":latest" added, and in Docker's normalised form.
func lookupNames(name string) []string {
	names := []string{name}
	if ref, err := reference.ParseNormalizedNamed(name); err == nil {
		if reference.IsNameOnly(ref) {
			names = append(names, name+":latest")
		}
		names = append(names, reference.TagNameOnly(ref).String())
	}
	return names
}

// loadBase finds the image name in the namespace and reads its manifest and
// config for platform.
func loadBase(ctx context.Context, c *client.Client, name string,
	platform platforms.MatchComparer) (*baseImage, error) {
	var img images.Image
	var err error
	for _, n := range lookupNames(name) {
		img, err = c.ImageService().Get(ctx, n)
		if err == nil {
			break
		}
		if !errdefs.IsNotFound(err) {
			return nil, fmt.Errorf("look up image %s: %w", n, err)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w: not in this containerd namespace "+
			"(import it with `ventapp images import`)", name, ErrBaseImage)
	}

	cs := c.ContentStore()
	manifest, err := images.Manifest(ctx, cs, img.Target, platform)
	if err != nil {
		return nil, fmt.Errorf("%s: %w: manifest: %s", name, ErrBaseImage, err)
	}
	raw, err := content.ReadBlob(ctx, cs, manifest.Config)
	if err != nil {
		return nil, fmt.Errorf("%s: %w: config: %s", name, ErrBaseImage, err)
	}
	base := &baseImage{name: name, layers: manifest.Layers}
	if err := json.Unmarshal(raw, &base.config); err != nil {
		return nil, fmt.Errorf("%s: %w: config: %s", name, ErrBaseImage, err)
	}
	if len(base.config.RootFS.DiffIDs) != len(manifest.Layers) {
		return nil, fmt.Errorf("%s: %w: %d layers but %d diff IDs", name, ErrBaseImage,
			len(manifest.Layers), len(base.config.RootFS.DiffIDs))
	}

	// The new manifest refers to the base layers, so they must be here.
	for _, l := range manifest.Layers {
		if _, err := cs.Info(ctx, l.Digest); err != nil {
			return nil, fmt.Errorf("%s: %w: layer %s: %s", name, ErrBaseImage, l.Digest, err)
		}
	}
	return base, nil
}

// loadRootfs reads the base image's layers to learn the shape of its root
// file system.
func loadRootfs(ctx context.Context, cs content.Store, layers []ocispec.Descriptor) (*rootfs, error) {
	root := newRootfs()
	for _, l := range layers {
		if err := applyBlob(ctx, cs, l, root); err != nil {
			return nil, fmt.Errorf("read base layer %s: %w", l.Digest, err)
		}
	}
	return root, nil
}

// applyBlob applies one stored layer blob, compressed or not, to root.
func applyBlob(ctx context.Context, cs content.Store, desc ocispec.Descriptor, root *rootfs) error {
	ra, err := cs.ReaderAt(ctx, desc)
	if err != nil {
		return err
	}
	defer ra.Close()

	rd, err := compression.DecompressStream(content.NewReader(ra))
	if err != nil {
		return err
	}
	defer rd.Close()
	return root.applyTar(rd)
}

// blobWriter writes blobs to the content store, skipping those it already
// holds.
type blobWriter struct {
	cs     content.Store
	leases leases.Manager
}

// has reports whether the store holds dgst. A blob found there is added to
// the build's lease, so it cannot be collected before the new manifest
// refers to it.
func (w blobWriter) has(ctx context.Context, dgst digest.Digest) (bool, error) {
	_, err := w.cs.Info(ctx, dgst)
	if err == nil {
		return true, w.protect(ctx, dgst)
	}
	if errdefs.IsNotFound(err) {
		return false, nil
	}
	return false, fmt.Errorf("content info %s: %w", dgst, err)
}

// protect adds the blob dgst to the lease ctx carries, if any.
func (w blobWriter) protect(ctx context.Context, dgst digest.Digest) error {
	id, ok := leases.FromContext(ctx)
	if !ok || w.leases == nil {
		return nil
	}
	err := w.leases.AddResource(ctx, leases.Lease{ID: id},
		leases.Resource{ID: dgst.String(), Type: "content"})
	if err != nil {
		return fmt.Errorf("lease blob %s: %w", dgst, err)
	}
	return nil
}

// putStream stores the blob desc, which write produces. The store checks the
// digest, so a source that changed since desc was computed is an error.
func (w blobWriter) putStream(ctx context.Context, desc ocispec.Descriptor,
	write func(io.Writer) error) error {
	ok, err := w.has(ctx, desc.Digest)
	if err != nil || ok {
		return err
	}

	cw, err := content.OpenWriter(ctx, w.cs, content.WithRef("ventapp-build-"+desc.Digest.String()),
		content.WithDescriptor(desc))
	if errdefs.IsAlreadyExists(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("open content writer: %w", err)
	}
	defer cw.Close()

	// A writer left behind by an interrupted build may hold some bytes.
	if err := cw.Truncate(0); err != nil {
		return fmt.Errorf("reset content writer: %w", err)
	}
	if err := write(cw); err != nil {
		return err
	}
	err = cw.Commit(ctx, desc.Size, desc.Digest)
	if err != nil && !errdefs.IsAlreadyExists(err) {
		return fmt.Errorf("commit blob %s: %w", desc.Digest, err)
	}
	return nil
}

// putJSON stores v as a JSON blob of the given media type with labels, and
// returns its descriptor. Labels are set even when the blob already exists.
func (w blobWriter) putJSON(ctx context.Context, mediaType string, v any,
	labels map[string]string) (ocispec.Descriptor, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("encode %s: %w", mediaType, err)
	}
	desc := ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(raw), Size: int64(len(raw))}

	err = content.WriteBlob(ctx, w.cs, "ventapp-build-"+desc.Digest.String(), bytes.NewReader(raw), desc,
		content.WithLabels(labels))
	if err != nil {
		return desc, fmt.Errorf("write %s: %w", mediaType, err)
	}
	if len(labels) == 0 {
		return desc, nil
	}

	info := content.Info{Digest: desc.Digest, Labels: labels}
	fields := make([]string, 0, len(labels))
	for k := range labels {
		fields = append(fields, "labels."+k)
	}
	if _, err := w.cs.Update(ctx, info, fields...); err != nil {
		return desc, fmt.Errorf("label %s: %w", desc.Digest, err)
	}
	return desc, nil
}

// manifestLabels returns the gc labels that keep a manifest's config and
// layers alive.
func manifestLabels(m ocispec.Manifest) map[string]string {
	labels := map[string]string{gcRefConfig: m.Config.Digest.String()}
	for i, l := range m.Layers {
		labels[gcRefLayer+strconv.Itoa(i)] = l.Digest.String()
	}
	return labels
}

// tagImage points the image record name at target, creating it if needed.
func tagImage(ctx context.Context, is images.Store, name string,
	target ocispec.Descriptor) (images.Image, error) {
	img := images.Image{Name: name, Target: target}
	created, err := is.Create(ctx, img)
	if err == nil {
		return created, nil
	}
	if !errdefs.IsAlreadyExists(err) {
		return img, fmt.Errorf("create image %s: %w", name, err)
	}
	updated, err := is.Update(ctx, img, "target")
	if err != nil {
		return img, fmt.Errorf("update image %s: %w", name, err)
	}
	return updated, nil
}

// validTag checks an image name given in Options.Tag.
func validTag(tag string) error {
	if tag == "" {
		return fmt.Errorf("%w: empty Tag", ErrOptions)
	}
	if strings.ContainsAny(tag, " \t\n") {
		return fmt.Errorf("%w: Tag %q contains white space", ErrOptions, tag)
	}
	if _, err := reference.ParseAnyReference(tag); err != nil {
		return fmt.Errorf("%w: Tag %q: %s", ErrOptions, tag, err)
	}
	return nil
}
