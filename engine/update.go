package engine

// Updating a tool from its source, rolling an update back, and
// configuring a tool's template.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/containerd/containerd/v2/pkg/namespaces"

	"github.com/ventapp/ventapp/builder"
	"github.com/ventapp/ventapp/containers"
	"github.com/ventapp/ventapp/plugins"
	"github.com/ventapp/ventapp/pylit"
)

// previousRef names the image an update keeps: the tag gets "-previous".
func previousRef(image string) string {
	i := strings.LastIndex(image, ":")
	if i < 0 || strings.Contains(image[i:], "/") {
		return image + ":previous"
	}
	tag := image[i+1:] + "-previous"
	if len(tag) > 128 {
		tag = tag[len(tag)-128:]
	}
	return image[:i] + ":" + tag
}

// tagImage makes dst name the same image as src.
func tagImage(ctx context.Context, c *containers.Client, src, dst string) error {
	ctx = namespaces.WithNamespace(ctx, c.Namespace())
	is := c.Raw().ImageService()
	img, err := is.Get(ctx, src)
	if err != nil {
		return fmt.Errorf("tag %s as %s: %w", src, dst, err)
	}
	img.Name = dst
	img.CreatedAt, img.UpdatedAt = time.Time{}, time.Time{}
	if _, err := is.Create(ctx, img); err != nil {
		if _, uerr := is.Update(ctx, img); uerr != nil {
			return fmt.Errorf("tag %s as %s: %w", src, dst, err)
		}
	}
	return nil
}

// UpdateTools fetches each named tool's source again (the branch tip of
// its git repository, or its local folder), rebuilds its image and, when
// it runs, restarts it and the running tools whose [docker] links name it.
// The image from before is kept as "<image>-previous" so RollbackTool can
// bring it back. A tool whose commit did not change is reported as up to
// date; a template set with configure is kept.
func (e *Engine) UpdateTools(ctx context.Context, names []string, progress func(string)) ([]ToolResult, error) {
	if _, err := e.Containerd(); err != nil {
		return nil, err
	}
	for _, n := range names {
		if _, err := e.reg.Get(n); err != nil {
			return nil, err
		}
	}
	var results []ToolResult
	for _, n := range names {
		results = append(results, e.updateTool(ctx, n, progress))
	}
	e.writeManifest()
	e.nudge()
	return results, nil
}

func (e *Engine) updateTool(ctx context.Context, name string, progress func(string)) ToolResult {
	res := ToolResult{Tool: name}
	old, err := e.reg.Get(name)
	if err != nil {
		res.Error = err.Error()
		return res
	}
	fresh, err := e.freshSource(ctx, old)
	if err != nil {
		res.Error = err.Error()
		return res
	}
	l := e.lc()
	l.mu.Lock()
	configured, hasConfigured := l.state.Configured[name]
	l.mu.Unlock()
	if hasConfigured {
		if err := applyTemplate(fresh, configured); err != nil {
			e.log.Warn("configured template no longer applies; using the repository's", "tool", name, "err", err)
		} else {
			// The fetch put the repository's text back in the file.
			e.writeTemplateFile(fresh, configured)
		}
	}
	if old.RepoURL != "" && fresh.Commit == old.Commit && old.Built && fresh.Template == old.Template {
		res.Done = "up to date at " + short12(old.Commit)
		return res
	}

	c, err := e.Containerd()
	if err != nil {
		res.Error = err.Error()
		return res
	}
	prev := previousRef(old.Image)
	keep := false
	if old.Built {
		if err := tagImage(ctx, c, old.Image, prev); err != nil {
			e.log.Warn("could not keep the previous image", "tool", name, "err", err)
		} else {
			keep = true
		}
	}

	digest, err := e.rebuild(ctx, c, fresh, progress)
	if err != nil {
		if keep {
			c.RemoveImage(ctx, prev)
		}
		res.Error = fmt.Sprintf("update not applied, %s keeps its current version: %v", name, err)
		return res
	}

	err = e.reg.Update(name, func(p *plugins.Plugin) error {
		enabled := p.Enabled
		*p = *fresh.Clone()
		p.Enabled = enabled
		p.Built, p.BuildError, p.ImageDigest, p.BuiltAt = true, "", digest, time.Now().UTC()
		return nil
	})
	if err != nil {
		res.Error = err.Error()
		return res
	}
	if keep {
		kept := old.Clone()
		kept.Image = prev
		l.mu.Lock()
		if l.state.Previous == nil {
			l.state.Previous = map[string]*plugins.Plugin{}
		}
		l.state.Previous[name] = kept
		e.saveLifecycle(l)
		l.mu.Unlock()
	}
	res.Done = "updated"
	if fresh.Commit != "" {
		res.Done = fmt.Sprintf("updated %s → %s", short12(old.Commit), short12(fresh.Commit))
	}
	e.log.Info("plugin updated", "tool", name, "from", old.Commit, "to", fresh.Commit, "digest", digest)
	res.Containers = e.restartWithDependents(ctx, name)
	return res
}

// freshSource reads the tool again from its git repository or folder.
func (e *Engine) freshSource(ctx context.Context, old *plugins.Plugin) (*plugins.Plugin, error) {
	var found []*plugins.Plugin
	if old.RepoURL != "" {
		r, err := plugins.FetchRepo(ctx, e.cfg.DataDir, plugins.RepoOptions{
			URL: old.RepoURL, Branch: old.Branch, Tools: []string{old.Name},
			Auth: plugins.CredentialsFromEnv(), Logger: e.log.With("part", "git"),
		})
		if err != nil {
			return nil, err
		}
		if found, err = r.Tools(); err != nil {
			return nil, err
		}
	} else {
		var err error
		if found, err = plugins.LoadDir(old.Dir); err != nil {
			return nil, err
		}
	}
	for _, p := range found {
		if p.Name == old.Name {
			return p, nil
		}
	}
	return nil, fmt.Errorf("update %s: %w: the tool is gone from %s", old.Name, plugins.ErrToolNotInRepo,
		cmpOr(old.RepoURL, old.Dir))
}

// rebuild builds p's image from source, pulling missing base images when a
// registry is reachable; unlike a first build, an existing image is never
// reused.
func (e *Engine) rebuild(ctx context.Context, c *containers.Client, p *plugins.Plugin,
	progress func(string)) (string, error) {
	e.EnsureBaseImages(ctx, p, progress)
	nctx := namespaces.WithNamespace(ctx, e.cfg.ContainerdNamespace)
	r, err := builder.Build(nctx, c.Raw(), e.buildOptions(p, progress))
	if err != nil {
		return "", err
	}
	return r.Digest, nil
}

// restartWithDependents restarts tool, when it runs, and every running
// tool whose [docker] links name it; it returns the containers started.
func (e *Engine) restartWithDependents(ctx context.Context, tool string) []string {
	p, err := e.reg.Get(tool)
	if err != nil {
		return nil
	}
	l := e.lc()
	l.mu.Lock()
	var again []string
	for name, svs := range l.services {
		if len(svs) == 0 {
			continue
		}
		if name == tool {
			again = append(again, name)
			continue
		}
		if q, err := e.reg.Get(name); err == nil && slices.Contains(linkNames(q), p.LinkName) {
			again = append(again, name)
		}
	}
	l.mu.Unlock()

	var out []string
	for _, n := range again {
		e.stopTool(ctx, n, false)
	}
	for _, r := range e.startTools(ctx, again, false) {
		if r.Error != "" {
			e.log.Warn("service not restarted after update", "tool", r.Tool, "err", r.Error)
		}
		out = append(out, r.Containers...)
	}
	return out
}

// linkNames returns the tool names p's [docker] links dict points at.
func linkNames(p *plugins.Plugin) []string {
	t, err := plugins.ParseTemplate(p.TemplatePath, []byte(p.Template))
	if err != nil {
		return nil
	}
	raw, ok := t.Get("docker", "links")
	if !ok {
		return nil
	}
	m, _ := mustLiteral(raw).(map[string]any)
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func mustLiteral(raw string) any {
	v, err := pylit.Parse(raw)
	if err != nil {
		return raw
	}
	return v
}

// RollbackTool brings back the version of a tool from before its last
// update: its template, commit and image. A tool from a git repository
// also gets its clone checked out at that commit (offline), so a later
// rebuild builds the version rolled back to; when the kept image is gone
// (backups do not carry images), it is rebuilt from that commit. A tool
// from a local folder can only go back to its kept image: the folder holds
// the newer files. The newer image is removed.
func (e *Engine) RollbackTool(ctx context.Context, name string) (ToolResult, error) {
	c, err := e.Containerd()
	if err != nil {
		return ToolResult{}, err
	}
	cur, err := e.reg.Get(name)
	if err != nil {
		return ToolResult{}, err
	}
	l := e.lc()
	l.mu.Lock()
	prev := l.state.Previous[name]
	l.mu.Unlock()
	if prev == nil {
		return ToolResult{}, fmt.Errorf("roll back %s: %w", name, ErrNoPrevious)
	}

	fromGit := prev.RepoURL != "" && prev.Commit != ""
	if fromGit {
		if err := plugins.CheckoutCommit(ctx, prev.Dir, prev.Branch, prev.Commit); err != nil {
			return ToolResult{}, fmt.Errorf("roll back %s: %w", name, err)
		}
	}
	// undo puts the clone back at the current commit when the rollback
	// fails after the checkout.
	undo := func() {
		if fromGit && cur.Commit != "" {
			if err := plugins.CheckoutCommit(ctx, cur.Dir, cur.Branch, cur.Commit); err != nil {
				e.log.Warn("rollback failed and the clone stays at the older commit", "tool", name, "err", err)
			}
		}
	}

	have, err := c.ImageExists(ctx, prev.Image)
	if err != nil {
		undo()
		return ToolResult{}, fmt.Errorf("roll back %s: %w", name, err)
	}
	digest, rebuilt := prev.ImageDigest, false
	switch {
	case have:
		if err := tagImage(ctx, c, prev.Image, cur.Image); err != nil {
			undo()
			return ToolResult{}, err
		}
	case fromGit:
		build := prev.Clone()
		build.Image = cur.Image
		if digest, err = e.rebuild(ctx, c, build, nil); err != nil {
			undo()
			return ToolResult{}, fmt.Errorf("roll back %s: rebuilding %s at %s: %w", name, build.Image,
				short12(prev.Commit), err)
		}
		rebuilt = true
	default:
		return ToolResult{}, fmt.Errorf("roll back %s: %w: the kept image %s is gone (backups do not carry "+
			"images) and %s holds only the current version", name, ErrNoPrevious, prev.Image, prev.Dir)
	}

	err = e.reg.Update(name, func(p *plugins.Plugin) error {
		enabled := p.Enabled
		*p = *prev.Clone()
		p.Image, p.Enabled = cur.Image, enabled
		if rebuilt {
			p.Built, p.BuildError, p.ImageDigest, p.BuiltAt = true, "", digest, time.Now().UTC()
		}
		return nil
	})
	if err != nil {
		undo()
		return ToolResult{}, err
	}
	if have {
		c.RemoveImage(ctx, prev.Image)
	}
	l.mu.Lock()
	delete(l.state.Previous, name)
	e.saveLifecycle(l)
	l.mu.Unlock()
	e.writeManifest()
	res := ToolResult{Tool: name, Done: "rolled back to " + cmpOr(short12(prev.Commit), "the previous build")}
	if rebuilt {
		res.Done += " (rebuilt: the kept image was gone)"
	}
	res.Containers = e.restartWithDependents(ctx, name)
	return res, nil
}

// ToolTemplate returns the template text a tool runs with.
func (e *Engine) ToolTemplate(name string) (string, error) {
	p, err := e.reg.Get(name)
	if err != nil {
		return "", err
	}
	return p.Template, nil
}

// applyTemplate checks text as p's template and sets p's template and
// settings from it.
// writeTemplateFile writes a configured template over the tool's
// template file, where that file exists, so the folder shows what runs.
func (e *Engine) writeTemplateFile(p *plugins.Plugin, text string) {
	if p.TemplatePath == "" {
		return
	}
	if _, err := os.Stat(p.TemplatePath); err != nil {
		return
	}
	if err := os.WriteFile(p.TemplatePath, []byte(text), 0o644); err != nil {
		e.log.Warn("template file not updated; the registry has the new text", "file", p.TemplatePath, "err", err)
	}
}

func applyTemplate(p *plugins.Plugin, text string) error {
	t, err := plugins.ParseTemplate(p.TemplatePath, []byte(text))
	if err != nil {
		return err
	}
	s, err := plugins.ParseSettings(t, filepath.Base(p.Dir))
	if err != nil {
		return err
	}
	p.Template, p.Settings, p.LinkName, p.Groups = text, s, s.Info.Name, slices.Clone(s.Info.Groups)
	return nil
}

// ConfigureTool replaces a tool's template with text after checking it.
// An invalid template is refused (the error names the line) and nothing
// changes. Otherwise the registry and the template file are updated, the
// text is kept over the repository's on update, and a running tool is
// restarted with the new settings (instances included), with the running
// tools that link to it, as vent's configure did.
func (e *Engine) ConfigureTool(ctx context.Context, name, text string) (*plugins.Plugin, error) {
	p, err := e.reg.Get(name)
	if err != nil {
		return nil, err
	}
	if err := applyTemplate(p, text); err != nil {
		return nil, fmt.Errorf("configure %s: %w", name, err)
	}
	err = e.reg.Update(name, func(q *plugins.Plugin) error {
		q.Template, q.Settings, q.LinkName, q.Groups = p.Template, p.Settings, p.LinkName, p.Groups
		return nil
	})
	if err != nil {
		return nil, err
	}
	e.writeTemplateFile(p, text)
	l := e.lc()
	l.mu.Lock()
	if l.state.Configured == nil {
		l.state.Configured = map[string]string{}
	}
	l.state.Configured[name] = text
	e.saveLifecycle(l)
	l.mu.Unlock()
	e.writeManifest()
	e.nudge()
	e.log.Info("plugin configured", "tool", name)
	e.restartWithDependents(ctx, name)
	return e.reg.Get(name)
}
