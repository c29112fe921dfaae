package builder

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/platforms"
)

// Labels on the image record of a build made with a CacheDir: the key of
// everything the build read, and the result's config digest and layer
// count, so an unchanged rebuild returns at once.
const (
	labelBuildKey    = "ventapp.build-key"
	labelBuildConfig = "ventapp.build-config"
	labelBuildLayers = "ventapp.build-layers"
	labelBuildDigest = "ventapp.build-digest"
)

// buildKey hashes everything a build's result depends on: the Dockerfile,
// the options, the digest of every base image, and the whole build context
// (paths, modes, link targets and contents — also of files .dockerignore
// leaves out, which only makes the key stricter). It reports false when
// the build reads something the key cannot pin down: COPY --from an image,
// or a base image that does not resolve by its name as written.
func (b *build) buildKey(ctx context.Context, c *client.Client) (string, bool) {
	if strings.Contains(string(b.dfData), "--from") {
		return "", false
	}
	h := sha256.New()
	fmt.Fprintf(h, "dockerfile %q %d\n", b.df.name, len(b.dfData))
	h.Write(b.dfData)
	fmt.Fprintf(h, "\ntag %q target %q platform %q\n", b.opts.Tag, b.opts.Target, platforms.Format(b.platform))
	for _, k := range slices.Sorted(maps.Keys(b.opts.BuildArgs)) {
		fmt.Fprintf(h, "arg %q=%q\n", k, b.opts.BuildArgs[k])
	}
	for _, k := range slices.Sorted(maps.Keys(b.opts.Labels)) {
		fmt.Fprintf(h, "label %q=%q\n", k, b.opts.Labels[k])
	}

	stageNames := map[string]bool{}
	for _, st := range b.stages {
		base := st.base
		if base != "scratch" && !stageNames[strings.ToLower(base)] {
			img, err := c.ImageService().Get(ctx, base)
			if err != nil {
				return "", false
			}
			fmt.Fprintf(h, "base %q %s\n", base, img.Target.Digest)
		}
		stageNames[strconv.Itoa(st.index)] = true
		if st.name != "" {
			stageNames[st.name] = true
		}
	}

	err := filepath.WalkDir(b.opts.ContextDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(b.opts.ContextDir, path)
		info, err := d.Info()
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "entry %q %v\n", rel, info.Mode())
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(path)
			if err != nil {
				return err
			}
			fmt.Fprintf(h, "link %q\n", target)
		case info.Mode().IsRegular():
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			defer f.Close()
			if _, err := io.Copy(h, f); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return "", false
	}
	return hex.EncodeToString(h.Sum(nil)), true
}

// cachedResult returns the image already tagged for key, when its content
// is still in the store.
func cachedResult(ctx context.Context, c *client.Client, tag, key string) (Result, bool) {
	img, err := c.ImageService().Get(ctx, tag)
	// The tag may have been moved since by a build without a cache, which
	// leaves the labels alone: the key counts only for the manifest it
	// was recorded with.
	if err != nil || img.Labels[labelBuildKey] != key || img.Labels[labelBuildDigest] != img.Target.Digest.String() {
		return Result{}, false
	}
	if _, err := c.ContentStore().Info(ctx, img.Target.Digest); err != nil {
		return Result{}, false
	}
	layers, err := strconv.Atoi(img.Labels[labelBuildLayers])
	if err != nil {
		return Result{}, false
	}
	return Result{Image: tag, Digest: img.Target.Digest.String(), ConfigDigest: img.Labels[labelBuildConfig],
		Layers: layers}, true
}

// recordKey labels the freshly built image with its build key.
func recordKey(ctx context.Context, c *client.Client, key string, res Result) error {
	img := images.Image{Name: res.Image, Labels: map[string]string{
		labelBuildKey:    key,
		labelBuildConfig: res.ConfigDigest,
		labelBuildLayers: strconv.Itoa(res.Layers),
		labelBuildDigest: res.Digest,
	}}
	_, err := c.ImageService().Update(ctx, img, "labels."+labelBuildKey, "labels."+labelBuildConfig,
		"labels."+labelBuildLayers, "labels."+labelBuildDigest)
	return err
}
