package engine

// Offline plugin bundles: one tar with the templates, the images as an
// OCI layout and a manifest of SHA-256 sums, verified before import.

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/ventapp/ventapp/plugins"
)

// bundleFormat names the layout of an offline plugin bundle.
const bundleFormat = "ventapp-plugin-bundle/1"

// maxBundleFile bounds one file of a bundle on import (an image tar).
const maxBundleFile = 32 << 30

// ErrBundle is returned by ImportBundle for a bundle that is not one,
// is truncated, or whose contents do not match its sums.
var ErrBundle = errors.New("bad plugin bundle")

// bundleManifest is bundle.json, the first member of a bundle.
type bundleManifest struct {
	Format string            `json:"format"`
	Tools  []bundleTool      `json:"tools"`
	Images string            `json:"images"` // member holding the OCI image tar
	Files  map[string]string `json:"files"`  // member → SHA-256 (hex), every member but bundle.json
	Made   time.Time         `json:"made"`
	From   string            `json:"from,omitempty"`
}

// bundleTool is one tool in a bundle: its record and where its folder is.
type bundleTool struct {
	Plugin  *plugins.Plugin `json:"plugin"`
	Context string          `json:"context"` // member prefix of the tool folder
}

// ExportBundle writes the named tools to w as one tar for an air-gapped
// box: bundle.json (the tools' records and the SHA-256 of every other
// member), each tool's folder (Dockerfile, template, build context; no
// .git, no symbolic links) and images.tar, the tools' images as an OCI
// layout. Only built tools can be exported.
func (e *Engine) ExportBundle(ctx context.Context, w io.Writer, names []string) error {
	c, err := e.Containerd()
	if err != nil {
		return err
	}
	if len(names) == 0 {
		return fmt.Errorf("export: %w: name at least one tool", plugins.ErrSetting)
	}
	var list []*plugins.Plugin
	var refs []string
	for _, n := range names {
		p, err := e.reg.Get(n)
		if err != nil {
			return err
		}
		if !p.Built {
			return fmt.Errorf("export %s: %w: the tool is not built", n, plugins.ErrSetting)
		}
		list = append(list, p)
		if !slices.Contains(refs, p.Image) {
			refs = append(refs, p.Image)
		}
	}

	// The image goes to a temporary file first: its sum is in bundle.json,
	// which comes first in the tar.
	tmp, err := os.CreateTemp(e.cfg.DataDir, ".export-*.tar")
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	h := sha256.New()
	if err := c.ExportImage(ctx, io.MultiWriter(tmp, h), refs...); err != nil {
		return err
	}
	m := bundleManifest{Format: bundleFormat, Images: "images.tar", Made: time.Now().UTC(),
		Files: map[string]string{"images.tar": hex.EncodeToString(h.Sum(nil))}, From: e.version}

	type member struct{ name, src string }
	var members []member
	for _, p := range list {
		prefix := "tools/" + p.Name + "/"
		files, err := bundleFiles(p.Dir)
		if err != nil {
			return fmt.Errorf("export %s: %w", p.Name, err)
		}
		for _, rel := range files {
			sum, err := fileSHA256(filepath.Join(p.Dir, rel))
			if err != nil {
				return fmt.Errorf("export %s: %w", p.Name, err)
			}
			name := prefix + filepath.ToSlash(rel)
			m.Files[name] = sum
			members = append(members, member{name, filepath.Join(p.Dir, rel)})
		}
		rec := p.Clone()
		m.Tools = append(m.Tools, bundleTool{Plugin: rec, Context: prefix})
	}

	tw := tar.NewWriter(w)
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	if err := writeTarBytes(tw, "bundle.json", data); err != nil {
		return err
	}
	for _, mb := range members {
		if err := writeTarFile(tw, mb.name, mb.src); err != nil {
			return err
		}
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return err
	}
	if err := writeTarFile(tw, "images.tar", tmp.Name()); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	e.log.Info("plugins exported", "tools", names, "images", refs)
	return nil
}

// bundleFiles lists the regular files under dir, relative, skipping .git
// folders and anything that is not a regular file or folder.
func bundleFiles(dir string) ([]string, error) {
	var out []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".git" {
			return filepath.SkipDir
		}
		if d.Type().IsRegular() {
			rel, err := filepath.Rel(dir, path)
			if err != nil {
				return err
			}
			out = append(out, rel)
		}
		return nil
	})
	return out, err
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func writeTarBytes(tw *tar.Writer, name string, data []byte) error {
	hdr := &tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), ModTime: time.Now(), Typeflag: tar.TypeReg}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("export %s: %w", name, err)
	}
	_, err := tw.Write(data)
	return err
}

func writeTarFile(tw *tar.Writer, name, src string) error {
	f, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("export %s: %w", name, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	hdr := &tar.Header{Name: name, Mode: int64(fi.Mode().Perm()), Size: fi.Size(), ModTime: fi.ModTime(),
		Typeflag: tar.TypeReg}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("export %s: %w", name, err)
	}
	if _, err := io.Copy(tw, f); err != nil {
		return fmt.Errorf("export %s: %w", name, err)
	}
	return nil
}

// ImportBundle installs the tools of a bundle made by ExportBundle. The
// whole tar is unpacked into a scratch folder and every member is checked
// against the SHA-256 in bundle.json before anything is registered; a
// member that is missing, extra or different, a truncated tar, or a tool
// name already installed is refused and leaves nothing behind. Each tool's
// folder is kept under <data>/plugins/imported/<tool> so it can be rebuilt
// on this box; its image comes from the bundle and it is marked built.
func (e *Engine) ImportBundle(ctx context.Context, r io.Reader) ([]AddResult, error) {
	c, err := e.Containerd()
	if err != nil {
		return nil, err
	}
	scratch, err := os.MkdirTemp(e.cfg.DataDir, ".import-*")
	if err != nil {
		return nil, fmt.Errorf("import bundle: %w", err)
	}
	defer os.RemoveAll(scratch)

	m, err := unpackBundle(r, scratch)
	if err != nil {
		return nil, err
	}
	for _, bt := range m.Tools {
		if _, err := e.reg.Get(bt.Plugin.Name); err == nil {
			return nil, fmt.Errorf("import bundle: tool %s: %w", bt.Plugin.Name, plugins.ErrExists)
		}
	}

	// Images: note which exist already, so a failure removes only new ones.
	var had []string
	for _, bt := range m.Tools {
		if ok, _ := c.ImageExists(ctx, bt.Plugin.Image); ok {
			had = append(had, bt.Plugin.Image)
		}
	}
	f, err := os.Open(filepath.Join(scratch, filepath.FromSlash(m.Images)))
	if err != nil {
		return nil, fmt.Errorf("import bundle: %w", err)
	}
	names, err := c.ImportArchive(ctx, f)
	f.Close()
	undoImages := func() {
		for _, n := range names {
			if !slices.Contains(had, n) {
				c.RemoveImage(context.WithoutCancel(ctx), n)
			}
		}
	}
	if err != nil {
		undoImages()
		return nil, fmt.Errorf("import bundle: %w", err)
	}

	var results []AddResult
	var added []string
	fail := func(err error) ([]AddResult, error) {
		for _, n := range added {
			e.reg.Remove(n)
			os.RemoveAll(e.importedDir(n))
		}
		undoImages()
		return nil, err
	}
	for _, bt := range m.Tools {
		p := bt.Plugin.Clone()
		infos, err := c.Images(ctx)
		if err != nil {
			return fail(err)
		}
		digest := ""
		for _, in := range infos {
			if in.Name == p.Image {
				digest = in.Digest
			}
		}
		if digest == "" {
			return fail(fmt.Errorf("import bundle: %w: images.tar does not hold %s for tool %s",
				ErrBundle, p.Image, p.Name))
		}

		dst := e.importedDir(p.Name)
		os.RemoveAll(dst)
		if err := os.MkdirAll(filepath.Dir(dst), 0o750); err != nil {
			return fail(err)
		}
		src := filepath.Join(scratch, filepath.FromSlash(strings.TrimSuffix(bt.Context, "/")))
		if _, err := os.Stat(src); err != nil {
			if err := os.MkdirAll(src, 0o750); err != nil {
				return fail(err)
			}
		}
		if err := os.Rename(src, dst); err != nil {
			return fail(fmt.Errorf("import bundle: %w", err))
		}
		p.Dockerfile = filepath.Join(dst, filepath.Base(p.Dockerfile))
		p.TemplatePath = filepath.Join(dst, filepath.Base(p.TemplatePath))
		p.Dir = dst
		p.Built, p.BuildError, p.ImageDigest, p.BuiltAt = true, "", digest, time.Now().UTC()
		p.AddedAt = time.Now().UTC()
		if err := e.reg.Add(p); err != nil {
			os.RemoveAll(dst)
			return fail(err)
		}
		added = append(added, p.Name)
		results = append(results, AddResult{Tool: p.Name, Image: p.Image, Built: true, Digest: digest})
	}
	e.writeManifest()
	e.nudge()
	e.log.Info("plugins imported from a bundle", "tools", added)
	return results, nil
}

// importedDir is where an imported tool's folder is kept.
func (e *Engine) importedDir(tool string) string {
	return filepath.Join(e.cfg.DataDir, "plugins", "imported", strings.ReplaceAll(tool, "@", "_"))
}

// unpackBundle extracts a bundle into dir and checks every sum.
func unpackBundle(r io.Reader, dir string) (*bundleManifest, error) {
	tr := tar.NewReader(r)
	sums := map[string]string{}
	var m *bundleManifest
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("import bundle: %w: the tar is damaged or cut short: %w", ErrBundle, err)
		}
		name := path.Clean(hdr.Name)
		if hdr.Typeflag == tar.TypeDir {
			continue
		}
		if hdr.Typeflag != tar.TypeReg || path.IsAbs(name) || name == ".." || strings.HasPrefix(name, "../") {
			return nil, fmt.Errorf("import bundle: %w: member %q is not a plain file inside the bundle",
				ErrBundle, hdr.Name)
		}
		if hdr.Size > maxBundleFile {
			return nil, fmt.Errorf("import bundle: %w: member %q is too large", ErrBundle, hdr.Name)
		}
		if _, dup := sums[name]; dup || (name == "bundle.json" && m != nil) {
			return nil, fmt.Errorf("import bundle: %w: member %q appears twice", ErrBundle, name)
		}
		if name == "bundle.json" {
			data, err := io.ReadAll(io.LimitReader(tr, 16<<20))
			if err != nil {
				return nil, fmt.Errorf("import bundle: %w: bundle.json: %w", ErrBundle, err)
			}
			m = &bundleManifest{}
			if err := json.Unmarshal(data, m); err != nil || m.Format != bundleFormat {
				return nil, fmt.Errorf("import bundle: %w: bundle.json is not a %s manifest", ErrBundle, bundleFormat)
			}
			continue
		}
		dst := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(dst), 0o750); err != nil {
			return nil, err
		}
		f, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, os.FileMode(hdr.Mode).Perm()|0o600)
		if err != nil {
			return nil, fmt.Errorf("import bundle: %w", err)
		}
		h := sha256.New()
		_, err = io.Copy(io.MultiWriter(f, h), tr)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("import bundle: %w: member %s is cut short: %w", ErrBundle, name, err)
		}
		sums[name] = hex.EncodeToString(h.Sum(nil))
	}

	if m == nil {
		return nil, fmt.Errorf("import bundle: %w: no bundle.json (not a ventapp plugin bundle)", ErrBundle)
	}
	for name, want := range m.Files {
		got, ok := sums[name]
		switch {
		case !ok:
			return nil, fmt.Errorf("import bundle: %w: %s is listed but missing", ErrBundle, name)
		case got != want:
			return nil, fmt.Errorf("import bundle: %w: %s has SHA-256 %s, bundle.json says %s",
				ErrBundle, name, got, want)
		}
	}
	for name := range sums {
		if _, ok := m.Files[name]; !ok {
			return nil, fmt.Errorf("import bundle: %w: %s is not listed in bundle.json", ErrBundle, name)
		}
	}
	if m.Images == "" || m.Files[m.Images] == "" || len(m.Tools) == 0 {
		return nil, fmt.Errorf("import bundle: %w: bundle.json names no tools or no image tar", ErrBundle)
	}
	for _, bt := range m.Tools {
		if bt.Plugin == nil || bt.Plugin.Name == "" || bt.Plugin.Image == "" ||
			strings.ContainsAny(bt.Plugin.Name, "/\\") || strings.Contains(bt.Context, "..") {
			return nil, fmt.Errorf("import bundle: %w: a tool record is incomplete", ErrBundle)
		}
	}
	return m, nil
}
