package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/containerd/containerd/v2/pkg/namespaces"

	"github.com/ventapp/ventapp/builder"
	"github.com/ventapp/ventapp/containers"
	"github.com/ventapp/ventapp/plugins"
)

// AddResult reports what adding a plugin folder did to each tool in it.
type AddResult struct {
	Tool   string `json:"tool"`
	Image  string `json:"image"`
	Built  bool   `json:"built"`
	Digest string `json:"digest,omitempty"`
	Error  string `json:"error,omitempty"`
}

// AddPlugins installs every tool found in the local folder dir and builds
// its image. A tool that is already installed is rebuilt from the folder.
// A build failure leaves the tool installed but unbuilt, so it is never
// dispatched, and is reported in its result.
func (e *Engine) AddPlugins(ctx context.Context, dir string, progress func(string)) ([]AddResult, error) {
	found, err := plugins.LoadDir(dir)
	if err != nil {
		return nil, err
	}
	return e.install(ctx, found, progress)
}

// RepoResult reports what adding a git repository did.
type RepoResult struct {
	Repo    string                `json:"repo"`
	Branch  string                `json:"branch"`
	Commit  string                `json:"commit"`
	Tools   []AddResult           `json:"tools"`
	Skipped []plugins.SkippedTool `json:"skipped,omitempty"`
}

// AddRepo clones (or updates) a plugin repository with go-git into the
// data dir, finds its tools as vent did, installs and builds them. A tool
// name that another source already uses is refused before anything is
// installed.
func (e *Engine) AddRepo(ctx context.Context, o plugins.RepoOptions, progress func(string)) (RepoResult, error) {
	o.Logger = e.log.With("part", "git")
	r, err := plugins.FetchRepo(ctx, e.cfg.DataDir, o)
	if err != nil {
		return RepoResult{}, err
	}
	found, err := r.Tools()
	if err != nil {
		return RepoResult{}, err
	}
	res := RepoResult{Repo: r.Canonical, Branch: r.Branch, Commit: r.Commit, Skipped: r.Skipped}
	for _, s := range r.Skipped {
		e.log.Warn("plugin folder skipped", "repo", r.Canonical, "path", s.Path, "reason", s.Reason)
	}
	for _, p := range found {
		if old, err := e.reg.Get(p.Name); err == nil && old.Repo != p.Repo {
			return res, fmt.Errorf("tool %q from %s: %w: the name is used by %s", p.Name, r.Canonical,
				plugins.ErrExists, old.Repo)
		}
	}
	res.Tools, err = e.install(ctx, found, progress)
	return res, err
}

// install registers (or refreshes) each plugin and builds its image.
func (e *Engine) install(ctx context.Context, found []*plugins.Plugin, progress func(string)) ([]AddResult, error) {
	var results []AddResult
	for _, p := range found {
		for _, w := range p.Warnings() {
			e.log.Warn("plugin template", "tool", p.Name, "warning", w)
		}
		err := e.reg.Add(p)
		if errors.Is(err, plugins.ErrExists) {
			if old, gerr := e.reg.Get(p.Name); gerr == nil && old.Dir != p.Dir {
				return results, fmt.Errorf("tool %q: %w from %s; remove it first, or rename the folder %s",
					p.Name, plugins.ErrExists, old.Dir, p.Dir)
			}
			err = e.reg.Update(p.Name, func(old *plugins.Plugin) error {
				enabled := old.Enabled
				*old = *p.Clone()
				old.Enabled = enabled
				return nil
			})
		}
		if err != nil {
			return results, err
		}
		results = append(results, e.buildPlugin(ctx, p.Name, progress))
	}
	e.writeManifest()
	e.nudge()
	return results, nil
}

// BuildPlugin (re)builds an installed plugin's image.
func (e *Engine) BuildPlugin(ctx context.Context, name string, progress func(string)) (AddResult, error) {
	if _, err := e.reg.Get(name); err != nil {
		return AddResult{}, err
	}
	r := e.buildPlugin(ctx, name, progress)
	e.writeManifest()
	e.nudge()
	return r, nil
}

func (e *Engine) buildPlugin(ctx context.Context, name string, progress func(string)) AddResult {
	p, err := e.reg.Get(name)
	if err != nil {
		return AddResult{Tool: name, Error: err.Error()}
	}
	res := AddResult{Tool: p.Name, Image: p.Image}

	c, err := e.containerdSoon(ctx)
	if err != nil {
		res.Error = fmt.Sprintf("not built: %v", err)
		return res
	}

	// The latest build step is shown while the build runs.
	e.setBuildStep(p.Name, "starting")
	defer e.setBuildStep(p.Name, "")
	upstream := progress
	progress = func(step string) {
		e.setBuildStep(p.Name, step)
		if upstream != nil {
			upstream(step)
		}
	}

	digest, err := e.buildImage(ctx, c, p, progress)
	if err != nil {
		res.Error = err.Error()
		e.log.Warn("plugin build failed", "tool", p.Name, "err", err)
		e.reg.Update(p.Name, func(q *plugins.Plugin) error {
			q.Built = false
			q.BuildError = err.Error()
			return nil
		})
		return res
	}

	res.Built, res.Digest = true, digest
	err = e.reg.Update(p.Name, func(q *plugins.Plugin) error {
		q.Built = true
		q.BuildError = ""
		q.ImageDigest = digest
		q.BuiltAt = time.Now().UTC()
		return nil
	})
	if err != nil {
		res.Error = err.Error()
	}
	e.log.Info("plugin built", "tool", p.Name, "image", p.Image, "digest", digest)
	return res
}

func (e *Engine) buildImage(ctx context.Context, c *containers.Client, p *plugins.Plugin, progress func(string)) (string, error) {
	if e.live().UseExistingImages {
		if ok, _ := c.ImageExists(ctx, p.Image); ok {
			return "existing", nil
		}
	}

	// vent's ~/.plugin_config.yml fills the tool's config file first.
	if err := e.FillPluginConfig(p); err != nil {
		return "", err
	}

	// A FROM image that is not here yet is pulled when a registry can be
	// reached (an air-gapped box imports it instead).
	e.EnsureBaseImages(ctx, p, progress)

	nctx := namespaces.WithNamespace(ctx, e.cfg.ContainerdNamespace)
	r, err := builder.Build(nctx, c.Raw(), e.buildOptions(p, progress))
	if err != nil {
		return "", err
	}
	return r.Digest, nil
}

// buildOptions are the builder options for a plugin's image: its folder
// and Dockerfile, vent's labels, the RUN cache under the data dir, and the
// FIFO folder of the configured containerd.
func (e *Engine) buildOptions(p *plugins.Plugin, progress func(string)) builder.Options {
	return builder.Options{
		ContextDir: p.Dir,
		Dockerfile: p.Dockerfile,
		Tag:        p.Image,
		Labels:     p.ImageLabels(),
		CacheDir:   filepath.Join(e.cfg.DataDir, "build-cache"),
		FIFODir:    e.cfg.ContainerdFIFODir,
		Progress:   progress,
		Logger:     e.log.With("part", "build", "tool", p.Name),
	}
}

// setBuildStep records the step a running build is at; "" ends it.
func (e *Engine) setBuildStep(name, step string) {
	e.buildsMu.Lock()
	defer e.buildsMu.Unlock()
	if step == "" {
		delete(e.builds, name)
		return
	}
	e.builds[name] = step
}

// BuildProgress returns the step each running build is at, by tool.
func (e *Engine) BuildProgress() map[string]string {
	e.buildsMu.Lock()
	defer e.buildsMu.Unlock()
	out := make(map[string]string, len(e.builds))
	for k, v := range e.builds {
		out[k] = v
	}
	return out
}

// SetEnabled turns dispatching to a plugin on or off.
func (e *Engine) SetEnabled(name string, on bool) error {
	err := e.reg.Update(name, func(p *plugins.Plugin) error {
		p.Enabled = on
		return nil
	})
	if err == nil {
		e.writeManifest()
		e.nudge()
	}
	return err
}

// writeManifest rewrites vent's plugin_manifest.cfg beside the registry so
// tools that read vent's file see the installed plugins.
func (e *Engine) writeManifest() {
	var buf bytes.Buffer
	if err := e.reg.WriteManifest(&buf); err != nil {
		e.log.Warn("plugin manifest", "err", err)
		return
	}
	tmp := e.cfg.ManifestFile() + ".tmp"
	if err := os.WriteFile(tmp, buf.Bytes(), 0o640); err != nil {
		e.log.Warn("plugin manifest", "err", err)
		return
	}
	if err := os.Rename(tmp, e.cfg.ManifestFile()); err != nil {
		e.log.Warn("plugin manifest", "err", err)
	}
}

// ImportImages loads an OCI or docker-save archive into containerd and
// marks plugins whose image it brings as built.
func (e *Engine) ImportImages(ctx context.Context, r io.Reader) ([]string, error) {
	c, err := e.Containerd()
	if err != nil {
		return nil, err
	}
	names, err := c.ImportArchive(ctx, r)
	if err != nil {
		return nil, err
	}
	e.log.Info("images imported", "images", strings.Join(names, ", "))

	// A plugin whose image arrived this way is built now.
	for _, p := range e.reg.List() {
		if !slices.Contains(names, p.Image) || p.Built {
			continue
		}
		e.reg.Update(p.Name, func(q *plugins.Plugin) error {
			q.Built, q.BuildError, q.BuiltAt = true, "", time.Now().UTC()
			return nil
		})
		e.log.Info("plugin image imported; the plugin is built", "tool", p.Name, "image", p.Image)
	}
	e.writeManifest()
	e.nudge()
	return names, nil
}

// Images lists the images in ventapp's containerd namespace.
func (e *Engine) Images(ctx context.Context) ([]containers.ImageInfo, error) {
	c, err := e.Containerd()
	if err != nil {
		return nil, err
	}
	return c.Images(ctx)
}
