package ctrdtest

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/errdefs"
	digest "github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// BusyboxPath is the static busybox binary that test images are built from
// (Debian's busybox-static package).
const BusyboxPath = "/bin/busybox"

// busyboxApplets are the commands linked to busybox in the test image.
var busyboxApplets = []string{
	"cat", "chmod", "dd", "echo", "env", "false", "grep", "head", "id", "ifconfig",
	"ip", "kill", "ls", "mkdir", "nproc", "printf", "ps", "pwd", "rm", "seq", "sh",
	"sleep", "stat", "tail", "test", "touch", "tr", "true", "wc", "whoami", "yes",
}

// epoch is the modification time of every file in the test layer, so that the
// layer, and with it every digest, is the same byte for byte on every build.
var epoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// DefaultBusyboxConfig is the image configuration BusyboxImage uses: no
// entrypoint, /bin/sh as the command, and a PATH.
func DefaultBusyboxConfig() ocispec.ImageConfig {
	return ocispec.ImageConfig{
		Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
		Cmd: []string{"/bin/sh"},
	}
}

// BusyboxImage builds a one-layer image holding /bin/busybox and its applet
// links, stores it in c's default namespace under ref and unpacks it for the
// overlayfs snapshotter. No registry is involved and the result is
// deterministic. It returns the manifest descriptor.
func BusyboxImage(tb testing.TB, c *client.Client, ref string) ocispec.Descriptor {
	tb.Helper()
	return BusyboxImageWith(tb, c, ref, DefaultBusyboxConfig())
}

// BusyboxImageWith is BusyboxImage with the given image configuration
// (entrypoint, command, environment, labels, user, working directory).
func BusyboxImageWith(tb testing.TB, c *client.Client, ref string,
	cfg ocispec.ImageConfig) ocispec.Descriptor {
	tb.Helper()

	blobs, err := busyboxBlobs(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	manifest, err := storeImage(context.Background(), c, ref, blobs)
	if err != nil {
		tb.Fatalf("store busybox image %s: %v", ref, err)
	}
	return manifest
}

// BusyboxDockerArchive returns a tar in `docker save` layout (manifest.json,
// config JSON, layer tar) holding the busybox image tagged ref. It needs no
// containerd.
func BusyboxDockerArchive(tb testing.TB, ref string) []byte {
	tb.Helper()

	blobs, err := busyboxBlobs(DefaultBusyboxConfig())
	if err != nil {
		tb.Fatal(err)
	}
	configName := blobs.config.Digest.Encoded() + ".json"
	layerName := blobs.layer.Digest.Encoded() + "/layer.tar"
	manifest, err := json.Marshal([]map[string]any{{
		"Config":   configName,
		"RepoTags": []string{ref},
		"Layers":   []string{layerName},
	}})
	if err != nil {
		tb.Fatal(err)
	}

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	files := []struct {
		name string
		data []byte
	}{
		{configName, blobs.configJSON},
		{layerName, blobs.layerTar},
		{"manifest.json", manifest},
	}
	for _, f := range files {
		hdr := &tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.data)), ModTime: epoch}
		if err := tw.WriteHeader(hdr); err != nil {
			tb.Fatal(err)
		}
		if _, err := tw.Write(f.data); err != nil {
			tb.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// imageBlobs are the three blobs of a one-layer image and their descriptors.
type imageBlobs struct {
	layerTar, configJSON, manifestJSON []byte
	layer, config, manifest            ocispec.Descriptor
}

// busyboxBlobs assembles the layer, config and manifest for cfg.
func busyboxBlobs(cfg ocispec.ImageConfig) (imageBlobs, error) {
	var b imageBlobs

	layer, err := busyboxLayer()
	if err != nil {
		return b, err
	}
	b.layerTar = layer
	b.layer = ocispec.Descriptor{
		MediaType: ocispec.MediaTypeImageLayer,
		Digest:    digest.FromBytes(layer),
		Size:      int64(len(layer)),
	}

	created := epoch
	img := ocispec.Image{
		Created:  &created,
		Platform: ocispec.Platform{Architecture: runtime.GOARCH, OS: "linux"},
		Config:   cfg,
		RootFS:   ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{b.layer.Digest}},
	}
	if b.configJSON, err = json.Marshal(img); err != nil {
		return b, err
	}
	b.config = ocispec.Descriptor{
		MediaType: ocispec.MediaTypeImageConfig,
		Digest:    digest.FromBytes(b.configJSON),
		Size:      int64(len(b.configJSON)),
	}

	m := ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    b.config,
		Layers:    []ocispec.Descriptor{b.layer},
	}
	if b.manifestJSON, err = json.Marshal(m); err != nil {
		return b, err
	}
	b.manifest = ocispec.Descriptor{
		MediaType: ocispec.MediaTypeImageManifest,
		Digest:    digest.FromBytes(b.manifestJSON),
		Size:      int64(len(b.manifestJSON)),
	}
	return b, nil
}

// busyboxLayer writes the uncompressed layer tar: /bin/busybox, one symlink
// per applet, a minimal /etc/passwd and /etc/group, and /tmp.
func busyboxLayer() ([]byte, error) {
	bin, err := os.ReadFile(BusyboxPath)
	if err != nil {
		return nil, fmt.Errorf("read %s (apt-get install busybox-static): %w", BusyboxPath, err)
	}

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	add := func(hdr *tar.Header, data []byte) error {
		hdr.ModTime = epoch
		hdr.Format = tar.FormatPAX
		if hdr.Typeflag == tar.TypeReg {
			hdr.Size = int64(len(data))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	dir := func(name string, mode int64) error {
		return add(&tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: mode}, nil)
	}
	file := func(name string, mode int64, data []byte) error {
		return add(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode}, data)
	}

	steps := []func() error{
		func() error { return dir("bin/", 0o755) },
		func() error { return file("bin/busybox", 0o755, bin) },
	}
	for _, applet := range busyboxApplets {
		steps = append(steps, func() error {
			return add(&tar.Header{
				Typeflag: tar.TypeSymlink, Name: "bin/" + applet, Linkname: "busybox", Mode: 0o777,
			}, nil)
		})
	}
	steps = append(steps,
		func() error { return dir("etc/", 0o755) },
		func() error {
			return file("etc/group", 0o644, []byte("root:x:0:\nnogroup:x:65534:\n"))
		},
		func() error {
			passwd := "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n"
			return file("etc/passwd", 0o644, []byte(passwd))
		},
		func() error { return dir("tmp/", 0o1777) },
	)
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, fmt.Errorf("write busybox layer: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("write busybox layer: %w", err)
	}
	return buf.Bytes(), nil
}

// storeImage writes blobs into c's content store with the labels that keep
// them from garbage collection, creates or updates the image record ref and
// unpacks it for overlayfs.
func storeImage(ctx context.Context, c *client.Client, ref string,
	b imageBlobs) (ocispec.Descriptor, error) {
	ctx, done, err := c.WithLease(ctx)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	defer done(ctx)

	cs := c.ContentStore()
	writes := []struct {
		data   []byte
		desc   ocispec.Descriptor
		labels map[string]string
	}{
		{b.layerTar, b.layer, nil},
		{b.configJSON, b.config, nil},
		{b.manifestJSON, b.manifest, map[string]string{
			"containerd.io/gc.ref.content.config": b.config.Digest.String(),
			"containerd.io/gc.ref.content.l.0":    b.layer.Digest.String(),
		}},
	}
	for _, w := range writes {
		err := content.WriteBlob(ctx, cs, w.desc.Digest.String(), bytes.NewReader(w.data), w.desc,
			content.WithLabels(w.labels))
		if err != nil {
			return ocispec.Descriptor{}, fmt.Errorf("write blob %s: %w", w.desc.Digest, err)
		}
	}

	rec := images.Image{Name: ref, Target: b.manifest}
	if _, err := c.ImageService().Create(ctx, rec); err != nil {
		if !errdefs.IsAlreadyExists(err) {
			return ocispec.Descriptor{}, fmt.Errorf("create image record: %w", err)
		}
		if _, err := c.ImageService().Update(ctx, rec, "target"); err != nil {
			return ocispec.Descriptor{}, fmt.Errorf("update image record: %w", err)
		}
	}

	img := client.NewImage(c, rec)
	if err := img.Unpack(ctx, "overlayfs"); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("unpack: %w", err)
	}
	return b.manifest, nil
}
