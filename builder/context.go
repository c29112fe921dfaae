package builder

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// buildContext is the directory COPY reads from, less what .dockerignore
// excludes.
type buildContext struct {
	dir    string
	ignore *patternmatcher.PatternMatcher // nil without a .dockerignore
}

// source is one path in a source tree that a COPY source matched.
type source struct {
	rel  string      // slash-separated path relative to the tree's root; "." is the root
	info fs.FileInfo // from Lstat: links are not followed
	name string      // name the copy gets in a destination directory; "" for path.Base(rel)
}

// base returns the name a copy of s gets inside a destination directory.
func (s source) base() string {
	if s.name != "" {
		return s.name
	}
	return path.Base(s.rel)
}

// openContext checks that dir is a directory and reads its .dockerignore.
func openContext(dir string) (*buildContext, error) {
	fi, err := os.Stat(dir)
	if err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("build context %s: %w", dir, ErrNotFound)
	}
	bc := &buildContext{dir: dir}

	name := filepath.Join(dir, ".dockerignore")
	f, err := os.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return bc, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	defer f.Close()

	patterns, err := ignorefile.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if len(patterns) == 0 {
		return bc, nil
	}
	if bc.ignore, err = patternmatcher.New(patterns); err != nil {
		return nil, fmt.Errorf("%s: %w: %s", name, ErrSyntax, err)
	}
	return bc, nil
}

// excluded reports whether .dockerignore excludes rel or a parent of it.
func (bc *buildContext) excluded(rel string) (bool, error) {
	if bc.ignore == nil || rel == "." {
		return false, nil
	}
	return bc.ignore.MatchesOrParentMatches(rel)
}

// contextPath returns the cleaned, context-relative form of a COPY source,
// refusing one that climbs out of the context. A leading "/" means the
// context root, as in Docker.
func contextPath(src string) (string, error) {
	if src == "" {
		return "", fmt.Errorf("%w: empty source", ErrNotFound)
	}
	c := path.Clean(src)
	if c == ".." || strings.HasPrefix(c, "../") {
		return "", fmt.Errorf("%w: %s", ErrOutsideContext, src)
	}
	c = strings.TrimLeft(c, "/")
	if c == "" {
		c = "."
	}
	return c, nil
}

// hasMeta reports whether a path component is a glob pattern.
func hasMeta(s string) bool {
	return strings.ContainsAny(s, `*?[\`)
}

// match returns the context paths a COPY source names, expanding glob
// patterns one component at a time. Directories on the way must be real
// directories: a literal component that is a symbolic link is refused, and
// a pattern never descends through one, so nothing outside the context is
// ever read. Excluded paths count as absent.
func (bc *buildContext) match(src string) ([]source, error) {
	rel, err := contextPath(src)
	if err != nil {
		return nil, err
	}

	cands := []string{"."}
	if rel != "." {
		parts := strings.Split(rel, "/")
		for i, part := range parts {
			last := i == len(parts)-1
			if cands, err = bc.step(src, cands, part, last); err != nil {
				return nil, err
			}
		}
	}

	var out []source
	for _, c := range cands {
		ex, err := bc.excluded(c)
		if err != nil {
			return nil, fmt.Errorf("%w: .dockerignore: %s", ErrSyntax, err)
		}
		if ex {
			continue
		}
		fi, err := os.Lstat(bc.abs(c))
		if err != nil {
			continue
		}
		out = append(out, source{rel: c, info: fi})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, src)
	}
	return out, nil
}

// step extends each candidate directory by one path component.
func (bc *buildContext) step(src string, cands []string, part string, last bool) ([]string, error) {
	var next []string
	for _, dir := range cands {
		if !hasMeta(part) {
			p := path.Join(dir, part)
			fi, err := os.Lstat(bc.abs(p))
			if err != nil {
				continue
			}
			if !last && fi.Mode()&fs.ModeSymlink != 0 {
				return nil, fmt.Errorf("%w: %s goes through the symbolic link %s", ErrOutsideContext, src, p)
			}
			if last || fi.IsDir() {
				next = append(next, p)
			}
			continue
		}

		entries, err := os.ReadDir(bc.abs(dir))
		if err != nil {
			continue
		}
		for _, e := range entries {
			ok, err := path.Match(part, e.Name())
			if err != nil {
				return nil, fmt.Errorf("%w: COPY source pattern %q: %s", ErrSyntax, src, err)
			}
			if ok && (last || e.IsDir()) {
				next = append(next, path.Join(dir, e.Name()))
			}
		}
	}
	slices.Sort(next)
	return next, nil
}

// readlink returns the target of the context link rel.
func (bc *buildContext) readlink(rel string) (string, error) {
	return os.Readlink(bc.abs(rel))
}

// opener returns a function that opens the context file rel.
func (bc *buildContext) opener(rel string) func() (io.ReadCloser, error) {
	name := bc.abs(rel)
	return func() (io.ReadCloser, error) { return os.Open(name) }
}

// owner reports that context files are copied as owned by root.
func (bc *buildContext) owner(fs.FileInfo) (int, int, bool) { return 0, 0, false }

// abs returns the host path of a context path.
func (bc *buildContext) abs(rel string) string {
	return filepath.Join(bc.dir, filepath.FromSlash(rel))
}

// walk calls fn for everything below the context directory rel, parents
// before children and in lexical order, skipping excluded paths. Symbolic
// links are reported, never followed.
func (bc *buildContext) walk(rel string, fn func(rel string, info fs.FileInfo) error) error {
	root := bc.abs(rel)
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("read build context: %w", err)
		}
		if p == root {
			return nil
		}
		sub, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		r := path.Join(rel, filepath.ToSlash(sub))

		ex, err := bc.excluded(r)
		if err != nil {
			return fmt.Errorf("%w: .dockerignore: %s", ErrSyntax, err)
		}
		if ex {
			// An excluded directory is still entered when "!" patterns may
			// bring back something inside it.
			if d.IsDir() && !bc.ignore.Exclusions() {
				return filepath.SkipDir
			}
			return nil
		}

		info, err := d.Info()
		if err != nil {
			return fmt.Errorf("read build context: %w", err)
		}
		return fn(r, info)
	})
}
