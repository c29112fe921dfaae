package engine

// Base images a Dockerfile needs, and image pulls, exports and removals.

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/distribution/reference"
	"github.com/moby/buildkit/frontend/dockerfile/parser"

	"github.com/ventapp/ventapp/containers"
	"github.com/ventapp/ventapp/plugins"
)

// EnsureBaseImages pulls the images p's Dockerfile builds FROM that are
// not in the namespace, when a registry is reachable. With vent.cfg
// [build-options] use_existing_images = yes nothing is pulled: only local
// images are used (the air-gapped setting). A failed pull is reported
// through progress and the log; the build then says which base is missing.
// vent pulled the tool's own image from Docker Hub before building;
// ventapp always builds the tool from its source.
func (e *Engine) EnsureBaseImages(ctx context.Context, p *plugins.Plugin, progress func(string)) {
	if e.live().UseExistingImages {
		return
	}
	c, err := e.Containerd()
	if err != nil {
		return
	}
	for _, base := range baseImages(p.Dockerfile) {
		if imageKnown(ctx, c, base) {
			continue
		}
		if progress != nil {
			progress("pulling base image " + base)
		}
		if _, err := c.Pull(ctx, base, containers.PullOptions{}); err != nil {
			e.log.Warn("base image not pulled", "tool", p.Name, "image", base, "err", err)
			if progress != nil {
				progress("pull " + base + " failed: " + err.Error())
			}
		}
	}
}

// imageKnown reports whether ref is in the namespace under any of the
// names the builder looks it up by.
func imageKnown(ctx context.Context, c *containers.Client, ref string) bool {
	names := []string{ref}
	if !strings.Contains(ref[strings.LastIndex(ref, "/")+1:], ":") && !strings.Contains(ref, "@") {
		names = append(names, ref+":latest")
	}
	if full, err := normalizedRef(ref); err == nil {
		names = append(names, full)
	}
	for _, n := range names {
		if ok, _ := c.ImageExists(ctx, n); ok {
			return true
		}
	}
	return false
}

// baseImages returns the external images a Dockerfile names in FROM: not
// scratch, not an earlier stage, not a name built from ARGs.
func baseImages(dockerfile string) []string {
	f, err := os.Open(dockerfile)
	if err != nil {
		return nil
	}
	defer f.Close()
	res, err := parser.Parse(f)
	if err != nil {
		return nil
	}
	stages := map[string]bool{}
	var out []string
	for _, n := range res.AST.Children {
		if !strings.EqualFold(n.Value, "from") || n.Next == nil {
			continue
		}
		img := n.Next.Value
		if n.Next.Next != nil && strings.EqualFold(n.Next.Next.Value, "as") && n.Next.Next.Next != nil {
			stages[strings.ToLower(n.Next.Next.Next.Value)] = true
		}
		if img == "scratch" || stages[strings.ToLower(img)] || strings.Contains(img, "$") ||
			slices.Contains(out, img) {
			continue
		}
		out = append(out, img)
	}
	return out
}

// PullImage pulls ref from its registry into the namespace.
func (e *Engine) PullImage(ctx context.Context, ref string) (containers.ImageInfo, error) {
	c, err := e.Containerd()
	if err != nil {
		return containers.ImageInfo{}, err
	}
	return c.Pull(ctx, ref, containers.PullOptions{})
}

// ExportImages writes the images refs as one OCI (and docker-load) tar.
func (e *Engine) ExportImages(ctx context.Context, w io.Writer, refs []string) error {
	c, err := e.Containerd()
	if err != nil {
		return err
	}
	return c.ExportImage(ctx, w, refs...)
}

// RemoveImage deletes an image that no installed tool uses (remove the
// tool with `plugins remove` instead) and lets containerd collect its
// content.
func (e *Engine) RemoveImage(ctx context.Context, ref string) error {
	c, err := e.Containerd()
	if err != nil {
		return err
	}
	for _, p := range e.reg.List() {
		if p.Image == ref {
			return fmt.Errorf("remove image %s: %w by tool %s (use `ventapp plugins remove %s`)",
				ref, ErrImageInUse, p.Name, p.Name)
		}
	}
	l := e.lc()
	l.mu.Lock()
	for tool, prev := range l.state.Previous {
		if prev.Image == ref {
			delete(l.state.Previous, tool)
			e.saveLifecycle(l)
		}
	}
	l.mu.Unlock()
	return c.RemoveImage(ctx, ref)
}

// normalizedRef returns ref in docker's full form, e.g.
// "docker.io/library/debian:latest" for "debian".
func normalizedRef(ref string) (string, error) {
	named, err := reference.ParseDockerRef(ref)
	if err != nil {
		return "", err
	}
	return named.String(), nil
}
