package builder

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/leases"
	"github.com/containerd/platforms"
	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Snapshotter is the snapshotter a built image is unpacked for.
const Snapshotter = "overlayfs"

// historyComment marks the history entries this builder writes.
const historyComment = "ventapp builder"

// Options describe one build.
type Options struct {
	// ContextDir is the build context: COPY sources are read from it. Its
	// .dockerignore, if any, is honoured.
	ContextDir string

	// Dockerfile is the Dockerfile's path. Default: ContextDir/Dockerfile.
	Dockerfile string

	// Tag is the image name to create or move, e.g.
	// "ventapp-local/pcap-summary:latest". It is stored as given.
	Tag string

	// Labels are added to the image config's labels after the Dockerfile's
	// LABEL instructions, and win over them (vent's "vent", "vent.name",
	// "vent.groups" ... labels).
	Labels map[string]string

	// BuildArgs override ARG defaults, like docker build --build-arg.
	BuildArgs map[string]string

	// Platform is the target platform, e.g. "linux/amd64". Default: the
	// host's. It selects the base image's manifest and is written to the
	// config; nothing is run, so any platform can be built.
	Platform string

	// Progress, if set, is called before each instruction with a line like
	// "Step 2/5 : COPY busybox /bin/busybox".
	Progress func(step string)

	// Logger receives debug and warning messages. Default: discarded.
	Logger *slog.Logger
}

// Result describes a built image.
type Result struct {
	// Image is the image record's name (Options.Tag).
	Image string

	// Digest is the manifest digest.
	Digest string

	// ConfigDigest is the image config digest (the image ID in Docker terms).
	ConfigDigest string

	// Layers is the number of layers, base image layers included.
	Layers int
}

// build is a build whose inputs have been read and checked.
type build struct {
	opts     Options
	log      *slog.Logger
	df       *dockerfile
	st       *stage
	bc       *buildContext
	platform ocispec.Platform
}

// Build builds the Dockerfile in opts into the content store of c, tags the
// image opts.Tag and unpacks it for the overlayfs snapshotter. ctx must carry
// the containerd namespace (namespaces.WithNamespace) unless c has a default
// one. Identical inputs give the identical manifest digest.
func Build(ctx context.Context, c *client.Client, opts Options) (Result, error) {
	b, err := prepare(opts)
	if err != nil {
		return Result{}, err
	}

	leased, done, err := c.WithLease(ctx, leases.WithRandomID(), leases.WithExpiration(time.Hour))
	if err != nil {
		return Result{}, fmt.Errorf("create build lease: %w", err)
	}
	res, err := b.run(leased, c)

	// Release with the caller's context: the leased one would name the lease
	// being deleted.
	if derr := done(ctx); derr != nil {
		b.log.Warn("release build lease", "err", derr)
	}
	return res, err
}

// prepare reads and checks everything the build needs before it touches
// containerd.
func prepare(opts Options) (*build, error) {
	b := &build{opts: opts, log: opts.Logger}
	if b.log == nil {
		b.log = slog.New(slog.DiscardHandler)
	}
	if err := validTag(opts.Tag); err != nil {
		return nil, err
	}
	if opts.ContextDir == "" {
		return nil, fmt.Errorf("%w: empty ContextDir", ErrOptions)
	}

	var err error
	if b.platform, err = targetPlatform(opts.Platform); err != nil {
		return nil, err
	}
	if b.bc, err = openContext(opts.ContextDir); err != nil {
		return nil, err
	}

	dfPath := opts.Dockerfile
	if dfPath == "" {
		dfPath = filepath.Join(opts.ContextDir, "Dockerfile")
	}
	data, err := os.ReadFile(dfPath)
	if err != nil {
		return nil, fmt.Errorf("dockerfile %s: %w", dfPath, ErrNotFound)
	}
	if b.df, err = parseDockerfile(filepath.Base(dfPath), data); err != nil {
		return nil, err
	}
	if b.st, err = splitStage(b.df, opts.BuildArgs, b.platform); err != nil {
		return nil, err
	}
	b.warnUnusedArgs()
	return b, nil
}

// targetPlatform parses Options.Platform.
func targetPlatform(s string) (ocispec.Platform, error) {
	if s == "" {
		return platforms.DefaultSpec(), nil
	}
	p, err := platforms.Parse(s)
	if err != nil {
		return p, fmt.Errorf("%w: Platform %q: %s", ErrOptions, s, err)
	}
	return platforms.Normalize(p), nil
}

// warnUnusedArgs logs build arguments that no ARG declares, as Docker warns.
func (b *build) warnUnusedArgs() {
	declared := map[string]bool{}
	for _, inst := range b.df.insts {
		if inst.cmd != "arg" {
			continue
		}
		for _, w := range inst.args {
			name, _, _ := strings.Cut(w, "=")
			declared[name] = true
		}
	}
	for _, k := range slices.Sorted(maps.Keys(b.opts.BuildArgs)) {
		if !declared[k] {
			b.log.Warn("build argument not consumed by any ARG", "arg", k)
		}
	}
}

// progress reports step n (counted from 1) of the Dockerfile.
func (b *build) progress(n int, inst instruction) {
	line := fmt.Sprintf("Step %d/%d : %s", n, len(b.df.insts), inst.original)
	b.log.Debug("build step", "step", line)
	if b.opts.Progress != nil {
		b.opts.Progress(line)
	}
}

// run carries out the build under a lease held by ctx.
func (b *build) run(ctx context.Context, c *client.Client) (Result, error) {
	cs := c.ContentStore()
	w := blobWriter{cs: cs, leases: c.LeasesService()}
	steps := len(b.df.insts) - len(b.st.insts)
	for i := range steps {
		b.progress(i+1, b.df.insts[i])
	}

	// Start from the base image, or from nothing.
	img := ocispec.Image{Platform: b.platform, RootFS: ocispec.RootFS{Type: "layers"}}
	var layers []ocispec.Descriptor
	var baseConfig *ocispec.ImageConfig
	if b.st.base != "scratch" {
		base, err := loadBase(ctx, c, b.st.base, platforms.Only(b.platform))
		if err != nil {
			return Result{}, b.df.errorf(b.st.from.line, "FROM %w", err)
		}
		for _, l := range base.layers {
			if err := w.protect(ctx, l.Digest); err != nil {
				return Result{}, err
			}
		}
		img.RootFS.DiffIDs = slices.Clone(base.config.RootFS.DiffIDs)
		img.History = slices.Clone(base.config.History)
		img.Author = base.config.Author
		layers = slices.Clone(base.layers)
		baseConfig = &base.config.Config
	}

	// Apply each instruction; COPY and WORKDIR may add a layer.
	ev := newEvaluator(b.df, b.st, baseConfig, b.opts.BuildArgs)
	var root *rootfs
	for i, inst := range b.st.insts {
		b.progress(steps+i+1, inst)
		s, err := ev.apply(inst)
		if err != nil {
			return Result{}, err
		}
		hist := ocispec.History{CreatedBy: s.comment, Comment: historyComment, EmptyLayer: true}
		if s.copy == nil && s.mkdir == "" {
			img.History = append(img.History, hist)
			continue
		}

		if root == nil {
			if root, err = loadRootfs(ctx, cs, layers); err != nil {
				return Result{}, b.df.errorf(b.st.from.line, "FROM %s: %w", b.st.base, err)
			}
		}
		l, err := b.layerFor(inst, s, root)
		if err != nil {
			return Result{}, err
		}
		if !l.empty() {
			desc, err := storeLayer(ctx, w, l)
			if err != nil {
				return Result{}, b.df.errorf(inst.line, "%s: %w", strings.ToUpper(inst.cmd), err)
			}
			l.commit()
			layers = append(layers, desc)
			img.RootFS.DiffIDs = append(img.RootFS.DiffIDs, desc.Digest)
			hist.EmptyLayer = false
		}
		img.History = append(img.History, hist)
	}

	img.Config = ev.config
	if ev.author != "" {
		img.Author = ev.author
	}
	if len(b.opts.Labels) > 0 {
		if img.Config.Labels == nil {
			img.Config.Labels = map[string]string{}
		}
		maps.Copy(img.Config.Labels, b.opts.Labels)
	}
	return b.finish(ctx, c, w, img, layers)
}

// layerFor makes the layer of a COPY or WORKDIR step.
func (b *build) layerFor(inst instruction, s step, root *rootfs) (*layer, error) {
	l := newLayer(root)
	if s.copy != nil {
		if err := l.addCopy(b.bc, s.copy); err != nil {
			return nil, b.df.errorf(inst.line, "COPY: %w", err)
		}
		return l, nil
	}

	dir, err := root.resolve(s.mkdir, true)
	if err == nil {
		err = l.mkdirAll(dir, 0, 0)
	}
	if err != nil {
		return nil, b.df.errorf(inst.line, "WORKDIR: %w", err)
	}
	return l, nil
}

// storeLayer computes the layer's digest, then writes it to the content
// store unless the store already has it.
func storeLayer(ctx context.Context, w blobWriter, l *layer) (ocispec.Descriptor, error) {
	dg := digest.Canonical.Digester()
	var n countWriter
	if err := l.writeTar(io.MultiWriter(dg.Hash(), &n)); err != nil {
		return ocispec.Descriptor{}, err
	}
	desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayer, Digest: dg.Digest(), Size: int64(n)}
	if err := w.putStream(ctx, desc, l.writeTar); err != nil {
		return ocispec.Descriptor{}, err
	}
	return desc, nil
}

// finish writes the config and manifest, tags the image and unpacks it.
func (b *build) finish(ctx context.Context, c *client.Client, w blobWriter, img ocispec.Image,
	layers []ocispec.Descriptor) (Result, error) {
	configDesc, err := w.putJSON(ctx, ocispec.MediaTypeImageConfig, img, nil)
	if err != nil {
		return Result{}, err
	}

	manifest := ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    configDesc,
		Layers:    layers,
	}
	if manifest.Layers == nil {
		manifest.Layers = []ocispec.Descriptor{}
	}
	manifestDesc, err := w.putJSON(ctx, ocispec.MediaTypeImageManifest, manifest, manifestLabels(manifest))
	if err != nil {
		return Result{}, err
	}

	// Unpack before the tag moves: until then the image the tag names now
	// keeps the snapshots this one shares with it from being collected.
	rec := images.Image{Name: b.opts.Tag, Target: manifestDesc}
	image := client.NewImageWithPlatform(c, rec, platforms.Only(b.platform))
	unpacked, err := image.IsUnpacked(ctx, Snapshotter)
	if err != nil || !unpacked {
		if err := image.Unpack(ctx, Snapshotter); err != nil {
			return Result{}, fmt.Errorf("unpack %s: %w", b.opts.Tag, err)
		}
	}
	if _, err := tagImage(ctx, c.ImageService(), b.opts.Tag, manifestDesc); err != nil {
		return Result{}, err
	}

	b.log.Info("image built", "image", b.opts.Tag, "digest", manifestDesc.Digest, "layers", len(layers))
	return Result{
		Image:        b.opts.Tag,
		Digest:       manifestDesc.Digest.String(),
		ConfigDigest: configDesc.Digest.String(),
		Layers:       len(layers),
	}, nil
}

// countWriter counts the bytes written to it.
type countWriter int64

// Write counts p.
func (n *countWriter) Write(p []byte) (int, error) {
	*n += countWriter(len(p))
	return len(p), nil
}
