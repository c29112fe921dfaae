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
	"strconv"
	"strings"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/leases"
	"github.com/containerd/platforms"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/identity"
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
	// config. A Dockerfile with RUN can only be built for a platform the
	// host runs.
	Platform string

	// Target is the name of the stage to build and tag, like docker build
	// --target. Default: the last stage. Only the stages it needs are built.
	Target string

	// CacheDir is a directory where RUN results are remembered, so that a
	// rebuild with the same inputs skips running the command. It is created
	// if missing. "" disables the cache.
	CacheDir string

	// FIFODir is where the FIFOs of RUN containers' standard streams are
	// made. Default: containerd's default, /run/containerd/fifo.
	FIFODir string

	// Output, if set, receives what RUN commands print (stdout and stderr
	// together). When nil, each line goes to Progress prefixed with " | ",
	// and to Logger at debug level.
	Output io.Writer

	// Progress, if set, is called before each instruction with a line like
	// "Step 2/5 : COPY busybox /bin/busybox", with " ---> Using cache" when
	// a RUN result comes from the cache, and with RUN output (see Output).
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
	dfData   []byte // the Dockerfile's bytes, for the build key
	stages   []*stage
	target   int // index of the stage to tag
	bc       *buildContext
	platform ocispec.Platform
	cache    *runCache // nil without Options.CacheDir

	// Set by run.
	c    *client.Client
	w    blobWriter
	done map[int]*stageState // stages built so far, by index
}

// stageState is a stage being built, or built: its image config and
// layers, and the shape of its root file system once something needed it.
type stageState struct {
	img    imageJSON
	layers []ocispec.Descriptor
	root   *rootfs // nil until loaded
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

	// With a cache, a build whose every input is unchanged returns the
	// image it made last time without touching anything.
	key, keyed := "", false
	if b.cache != nil {
		key, keyed = b.buildKey(ctx, c)
		if keyed {
			if res, ok := cachedResult(ctx, c, opts.Tag, key); ok {
				if opts.Progress != nil {
					opts.Progress(" ---> Using cached image " + res.Digest)
				}
				return res, nil
			}
		}
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
	if err == nil && keyed {
		if rerr := recordKey(ctx, c, key, res); rerr != nil {
			b.log.Warn("record build key", "err", rerr)
		}
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
	if opts.CacheDir != "" {
		if b.cache, err = openRunCache(opts.CacheDir); err != nil {
			return nil, err
		}
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
	b.dfData = data
	if b.stages, err = splitStages(b.df, opts.BuildArgs, b.platform); err != nil {
		return nil, err
	}
	if b.target, err = b.targetStage(); err != nil {
		return nil, err
	}
	b.warnUnusedArgs()
	return b, nil
}

// targetStage returns the index of the stage Options.Target names, or of
// the last stage.
func (b *build) targetStage() (int, error) {
	if b.opts.Target == "" {
		return len(b.stages) - 1, nil
	}
	want := strings.ToLower(b.opts.Target)
	for _, st := range b.stages {
		if st.name == want {
			return st.index, nil
		}
	}
	return 0, fmt.Errorf("%w: Target %q: %s has no stage of that name", ErrOptions, b.opts.Target, b.df.name)
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

// progress reports an instruction of the Dockerfile.
func (b *build) progress(inst instruction) {
	b.say(fmt.Sprintf("Step %d/%d : %s", inst.n, len(b.df.insts), inst.original))
}

// say passes a progress line to Options.Progress and the log.
func (b *build) say(line string) {
	b.log.Debug("build step", "step", line)
	if b.opts.Progress != nil {
		b.opts.Progress(line)
	}
}

// run carries out the build under a lease held by ctx.
func (b *build) run(ctx context.Context, c *client.Client) (Result, error) {
	b.c = c
	b.w = blobWriter{cs: c.ContentStore(), leases: c.LeasesService()}
	b.done = map[int]*stageState{}
	for _, inst := range b.df.insts {
		if inst.cmd == "from" {
			break
		}
		b.progress(inst)
	}

	needed := b.neededStages()
	for _, st := range b.stages[:b.target+1] {
		if !needed[st.index] {
			continue
		}
		state, err := b.buildStage(ctx, st)
		if err != nil {
			return Result{}, err
		}
		b.done[st.index] = state
	}

	final := b.done[b.target]
	img := final.img
	if len(b.opts.Labels) > 0 {
		img.Config.Labels = cloneMap(img.Config.Labels)
		if img.Config.Labels == nil {
			img.Config.Labels = map[string]string{}
		}
		maps.Copy(img.Config.Labels, b.opts.Labels)
	}
	return b.finish(ctx, c, b.w, img, final.layers)
}

// neededStages returns the stages the target stage depends on, through FROM
// or COPY --from, itself included. A --from value holding a variable could
// name any earlier stage, so all of them are then built.
func (b *build) neededStages() map[int]bool {
	needed := map[int]bool{}
	var visit func(i int)
	visit = func(i int) {
		if needed[i] {
			return
		}
		needed[i] = true
		st := b.stages[i]
		if ref := b.stageRef(st.base, i); ref != nil && !isNumber(st.base) {
			visit(ref.index)
		}
		for _, inst := range st.insts {
			for _, f := range inst.flags {
				v, ok := strings.CutPrefix(f, "--from=")
				if !ok || inst.cmd != "copy" {
					continue
				}
				if strings.Contains(v, "$") {
					for j := range i {
						visit(j)
					}
					continue
				}
				if ref := b.stageRef(v, i); ref != nil {
					visit(ref.index)
				}
			}
		}
	}
	visit(b.target)
	return needed
}

// stageRef returns the stage before stage index before that name refers
// to, by AS name or by number, or nil.
func (b *build) stageRef(name string, before int) *stage {
	if n, err := strconv.Atoi(name); err == nil {
		if n >= 0 && n < before {
			return b.stages[n]
		}
		return nil
	}
	want := strings.ToLower(name)
	for _, st := range b.stages[:before] {
		if st.name == want {
			return st
		}
	}
	return nil
}

// buildStage builds one stage.
func (b *build) buildStage(ctx context.Context, st *stage) (*stageState, error) {
	b.progress(st.from)
	state := &stageState{img: imageJSON{Image: ocispec.Image{Platform: b.platform,
		RootFS: ocispec.RootFS{Type: "layers"}}}}
	var baseConfig *imageConfig

	// Start from an earlier stage, from an image, or from nothing.
	if ref := b.stageRef(st.base, st.index); ref != nil && !isNumber(st.base) {
		from := b.done[ref.index]
		state.img = from.img
		state.img.RootFS.DiffIDs = slices.Clone(from.img.RootFS.DiffIDs)
		state.img.History = slices.Clone(from.img.History)
		state.layers = slices.Clone(from.layers)
		if from.root != nil {
			state.root = from.root.clone()
		}
		baseConfig = &from.img.Config
	} else if st.base != "scratch" {
		base, err := loadBase(ctx, b.c, st.base, platforms.Only(b.platform))
		if err != nil {
			return nil, b.df.errorf(st.from.line, "FROM %w", err)
		}
		for _, l := range base.layers {
			if err := b.w.protect(ctx, l.Digest); err != nil {
				return nil, err
			}
		}
		state.img.RootFS.DiffIDs = slices.Clone(base.config.RootFS.DiffIDs)
		state.img.History = slices.Clone(base.config.History)
		state.img.Author = base.config.Author
		state.layers = slices.Clone(base.layers)
		baseConfig = &base.config.Config
		if len(base.config.Config.OnBuild) > 0 {
			b.log.Warn("base image has ONBUILD triggers; this builder does not run them",
				"image", st.base, "triggers", base.config.Config.OnBuild)
		}
	}

	// Apply each instruction; COPY, ADD, RUN and WORKDIR may add a layer.
	ev := newEvaluator(b.df, st, baseConfig, b.opts.BuildArgs)
	for _, inst := range st.insts {
		b.progress(inst)
		s, err := ev.apply(inst)
		if err != nil {
			return nil, err
		}
		hist := ocispec.History{CreatedBy: s.comment, Comment: historyComment, EmptyLayer: true}
		var desc *ocispec.Descriptor
		switch {
		case s.run != nil:
			desc, err = b.runStep(ctx, state, s.run)
		case s.copy != nil || s.mkdir != "":
			desc, err = b.fileStep(ctx, st, state, inst, s)
		}
		if err != nil {
			return nil, err
		}
		if desc != nil {
			state.layers = append(state.layers, *desc)
			state.img.RootFS.DiffIDs = append(state.img.RootFS.DiffIDs, desc.Digest)
			hist.EmptyLayer = false
		}
		state.img.History = append(state.img.History, hist)
	}

	state.img.Config = ev.config
	if ev.author != "" {
		state.img.Author = ev.author
	}
	return state, nil
}

// isNumber reports whether s is a decimal number.
func isNumber(s string) bool {
	_, err := strconv.Atoi(s)
	return err == nil
}

// rootOf returns the shape of the stage's root file system, reading its
// layers the first time.
func (b *build) rootOf(ctx context.Context, st *stage, state *stageState) (*rootfs, error) {
	if state.root != nil {
		return state.root, nil
	}
	root, err := loadRootfs(ctx, b.c.ContentStore(), state.layers)
	if err != nil {
		return nil, b.df.errorf(st.from.line, "FROM %s: %w", st.base, err)
	}
	state.root = root
	return root, nil
}

// fileStep makes the layer of a COPY, ADD or WORKDIR step and stores it. It
// returns nil when the step changes nothing.
func (b *build) fileStep(ctx context.Context, st *stage, state *stageState, inst instruction,
	s step) (*ocispec.Descriptor, error) {
	root, err := b.rootOf(ctx, st, state)
	if err != nil {
		return nil, err
	}
	keyword := strings.ToUpper(inst.cmd)
	l := newLayer(root)
	defer l.close()

	if s.copy != nil {
		var src sourceFS = b.bc
		if s.copy.from != "" {
			if src, err = b.fromSource(ctx, st, s.copy.from, l); err != nil {
				return nil, b.df.errorf(inst.line, "COPY --from=%s: %w", s.copy.from, err)
			}
		}
		if err := l.addCopy(src, s.copy); err != nil {
			return nil, b.df.errorf(inst.line, "%s: %w", keyword, err)
		}
	} else {
		dir, err := root.resolve(s.mkdir, true)
		if err == nil {
			err = l.mkdirAll(dir, 0, 0)
		}
		if err != nil {
			return nil, b.df.errorf(inst.line, "WORKDIR: %w", err)
		}
	}
	if l.empty() {
		return nil, nil
	}

	desc, err := storeLayer(ctx, b.w, l)
	if err != nil {
		return nil, b.df.errorf(inst.line, "%s: %w", keyword, err)
	}
	l.commit()
	return &desc, nil
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
func (b *build) finish(ctx context.Context, c *client.Client, w blobWriter, img imageJSON,
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
	// Snapshots RUN committed are found by their chain IDs and not made
	// again; Unpack also labels the config so the collector keeps them.
	rec := images.Image{Name: b.opts.Tag, Target: manifestDesc}
	image := client.NewImageWithPlatform(c, rec, platforms.Only(b.platform))
	if !b.unpacked(ctx, c, image, configDesc, img.RootFS.DiffIDs) {
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

// unpacked reports whether the image's top snapshot exists and its config
// already carries the label that keeps that snapshot from the collector.
func (b *build) unpacked(ctx context.Context, c *client.Client, image client.Image,
	config ocispec.Descriptor, diffIDs []digest.Digest) bool {
	if ok, err := image.IsUnpacked(ctx, Snapshotter); err != nil || !ok {
		return false
	}
	info, err := c.ContentStore().Info(ctx, config.Digest)
	if err != nil {
		return false
	}
	want := ""
	if len(diffIDs) > 0 {
		want = identity.ChainID(diffIDs).String()
	}
	return info.Labels["containerd.io/gc.ref.snapshot."+Snapshotter] == want
}

// countWriter counts the bytes written to it.
type countWriter int64

// Write counts p.
func (n *countWriter) Write(p []byte) (int, error) {
	*n += countWriter(len(p))
	return len(p), nil
}
