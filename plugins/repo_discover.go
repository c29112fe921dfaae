package plugins

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
)

// Tools finds the tools of the checked-out repository as vent did: every
// folder holding a file whose name starts with "Dockerfile" is a tool
// folder, read with LoadDir (so several Dockerfile.<suffix> give
// "<dir>@<suffix>" tools described by <suffix>.template). RepoOptions.Core
// and RepoOptions.Tools select the tools. Each tool gets vent's image name
// "<org>/<repo>-<folder path parts joined by ->[-<suffix>]:<branch>",
// lower-cased with "_" and "@" turned into "-", and records the
// repository, branch, commit and folder.
//
// Where vent registered a folder anyway, Tools leaves it out, lists it in
// r.Skipped with the reason and logs a warning, and goes on with the other
// folders:
//   - a missing or unreadable template (vent added the tool with no
//     settings at all, so it never matched a file);
//   - a template or setting error (named with file and line);
//   - only Dockerfile-like names LoadDir does not read ("Dockerfile-dev");
//   - a Dockerfile or template that is a symbolic link leading out of the
//     clone;
//   - a tool name another folder already gave (the first in path order
//     is kept; vent's manifest kept both, but ventapp names tools
//     uniquely);
//   - an image name that is not a valid reference.
//
// A branch name is made a valid image tag by turning every character other
// than letters, digits, "_", "." and "-" into "-" ("feature/x" gives the
// tag "feature-x"; vent produced an invalid reference).
//
// It returns ErrToolNotInRepo when a name in RepoOptions.Tools matches no
// tool folder and ErrNoTools when no tool is left. Tools is not safe for
// concurrent use on one Repo because it sets r.Skipped.
func (r *Repo) Tools() ([]*Plugin, error) {
	r.Skipped = nil
	root, err := filepath.EvalSymlinks(r.Dir)
	if err != nil {
		return nil, fmt.Errorf("plugin repository %s: %w", r.URL, err)
	}
	folders, err := toolFolders(root)
	if err != nil {
		return nil, fmt.Errorf("plugin repository %s: %w", r.URL, err)
	}

	sel := newToolSelector(r.opts.Tools, strings.ToLower(filepath.Base(root)))
	var (
		out  []*Plugin
		seen = map[string]string{} // tool name → folder
	)
	for _, rel := range folders {
		if r.opts.Core && !strings.Contains(strings.ToLower(rel), "core") {
			continue
		}
		if !sel.folder(rel) {
			continue
		}
		for _, p := range r.loadFolder(root, rel, sel) {
			if other, dup := seen[p.Name]; dup {
				r.skip(rel, fmt.Sprintf("the tool name %s is already given by %s", p.Name, other))
				continue
			}
			seen[p.Name] = rel
			out = append(out, p)
		}
	}

	if missing := sel.unmatched(); len(missing) > 0 {
		return nil, fmt.Errorf("%w: plugin repository %s has no tool %s (tool folders: %s)",
			ErrToolNotInRepo, r.URL, strings.Join(missing, ", "), listNames(folders))
	}
	if len(out) == 0 {
		var why []string
		for _, s := range r.Skipped {
			why = append(why, s.Path+": "+s.Reason)
		}
		msg := "no tool folder (a folder with a Dockerfile)"
		if len(why) > 0 {
			msg = "every tool was skipped: " + strings.Join(why, "; ")
		} else if r.opts.Core || len(r.opts.Tools) > 0 {
			msg = "no tool folder matches the selection"
		}
		return nil, fmt.Errorf("%w: plugin repository %s at %s: %s", ErrNoTools, r.URL, r.Branch, msg)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// loadFolder loads the tools of one folder, skipping what cannot be used.
func (r *Repo) loadFolder(root, rel string, sel *toolSelector) []*Plugin {
	dir := filepath.Join(root, filepath.FromSlash(strings.TrimPrefix(rel, "/")))
	if err := linksStayInside(root, dir); err != nil {
		r.skip(rel, err.Error())
		return nil
	}

	tools, err := LoadDir(dir)
	if err != nil {
		if errors.Is(err, ErrNoDockerfile) {
			err = errors.New("ventapp reads only Dockerfile and Dockerfile.<name>, not other " +
				"Dockerfile* names")
		}
		r.skip(rel, err.Error())
		return nil
	}

	var out []*Plugin
	for _, p := range tools {
		if !sel.tool(rel, p.Name) {
			continue
		}
		subdir := rel
		if _, suffix, multi := strings.Cut(p.Name, "@"); multi {
			subdir += "@" + suffix
		}
		image := ImageName(r.Org, r.Name, subdir, imageTag(r.Branch))
		if !validImage(image) {
			r.skip(rel, fmt.Sprintf("tool %s gives the image name %q, which is not a valid image "+
				"reference", p.Name, image))
			continue
		}
		p.Image = image
		p.Repo = r.Canonical
		p.RepoURL = r.URL
		p.RelPath = rel
		p.Branch = r.Branch
		p.Commit = r.Commit
		out = append(out, p)
	}
	return out
}

// skip records and logs a folder left out.
func (r *Repo) skip(rel, reason string) {
	r.Skipped = append(r.Skipped, SkippedTool{Path: rel, Reason: reason})
	r.log.Warn("plugin tool skipped", "url", r.URL, "path", rel, "reason", reason)
}

// toolFolders returns the folders under root (root included, .git folders
// excluded) holding a file whose name starts with "Dockerfile", as
// "/"-rooted slash paths, sorted. Symbolic links to folders are not
// followed.
func toolFolders(root string) ([]string, error) {
	set := map[string]bool{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == ".git" {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasPrefix(d.Name(), "Dockerfile") && d.Type()&fs.ModeSymlink == 0 || isFileLink(p, d) {
			rel, err := filepath.Rel(root, filepath.Dir(p))
			if err != nil {
				return err
			}
			set[path.Clean("/"+filepath.ToSlash(rel))] = true
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	folders := make([]string, 0, len(set))
	for f := range set {
		folders = append(folders, f)
	}
	sort.Strings(folders)
	return folders, nil
}

// isFileLink reports whether d is a symbolic link named Dockerfile* that
// leads to a regular file.
func isFileLink(p string, d fs.DirEntry) bool {
	if !strings.HasPrefix(d.Name(), "Dockerfile") || d.Type()&fs.ModeSymlink == 0 {
		return false
	}
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

// linksStayInside checks that no Dockerfile or template of dir is a
// symbolic link leading out of root.
func linksStayInside(root, dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		name := e.Name()
		if e.Type()&fs.ModeSymlink == 0 ||
			!strings.HasPrefix(name, "Dockerfile") && !strings.HasSuffix(name, ".template") {
			continue
		}
		target, err := filepath.EvalSymlinks(filepath.Join(dir, name))
		if err != nil {
			return fmt.Errorf("%s is a broken symbolic link", name)
		}
		if rel, err := filepath.Rel(root, target); err != nil || rel == ".." ||
			strings.HasPrefix(rel, "../") {
			return fmt.Errorf("%s is a symbolic link leading out of the repository", name)
		}
	}
	return nil
}

// tagChar matches characters an image tag cannot hold.
var tagChar = regexp.MustCompile(`[^A-Za-z0-9_.-]`)

// imageTag turns a branch name into an image tag.
func imageTag(branch string) string {
	tag := tagChar.ReplaceAllString(branch, "-")
	if tag != "" && (tag[0] == '.' || tag[0] == '-') {
		tag = "_" + tag[1:]
	}
	return tag[:min(len(tag), 128)]
}

// toolSelector applies RepoOptions.Tools.
type toolSelector struct {
	root    string // the name of the root folder's tool
	names   []string
	matched map[string]bool
}

// newToolSelector lower-cases and trims the names, dropping empty ones.
func newToolSelector(names []string, root string) *toolSelector {
	s := &toolSelector{root: root, matched: map[string]bool{}}
	for _, n := range names {
		if n = strings.ToLower(strings.TrimSpace(n)); n != "" && !slices.Contains(s.names, n) {
			s.names = append(s.names, n)
		}
	}
	return s
}

// folder reports whether a name could select a tool of folder rel: its
// last component or its path, or any "@suffix" or "dir@suffix" name
// (checked per tool). Folder-level matches count as matched.
func (s *toolSelector) folder(rel string) bool {
	if len(s.names) == 0 {
		return true
	}
	ok := false
	for _, n := range s.names {
		if s.folderName(rel, n) {
			s.matched[n] = true
			ok = true
		}
		if strings.HasPrefix(n, "@") || strings.HasPrefix(n, s.base(rel)+"@") {
			ok = true
		}
	}
	return ok
}

// base returns the tool name of folder rel before any "@".
func (s *toolSelector) base(rel string) string {
	if rel == "/" {
		return s.root
	}
	return strings.ToLower(path.Base(rel))
}

// folderName reports whether n names folder rel.
func (s *toolSelector) folderName(rel, n string) bool {
	lrel := strings.ToLower(rel)
	if lrel == "/" {
		return n == s.root || n == "/"
	}
	return n == path.Base(lrel) || "/"+strings.Trim(n, "/") == lrel
}

// tool reports whether the tool named name in folder rel is selected.
func (s *toolSelector) tool(rel, name string) bool {
	if len(s.names) == 0 {
		return true
	}
	ok := false
	for _, n := range s.names {
		_, suffix, multi := strings.Cut(name, "@")
		if s.folderName(rel, n) || n == name || multi && n == "@"+suffix {
			s.matched[n] = true
			ok = true
		}
	}
	return ok
}

// unmatched returns the names that selected nothing.
func (s *toolSelector) unmatched() []string {
	var out []string
	for _, n := range s.names {
		if !s.matched[n] {
			out = append(out, n)
		}
	}
	return out
}
