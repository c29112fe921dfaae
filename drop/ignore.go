package drop

import (
	"fmt"
	"path/filepath"
	"strings"
)

// maxNameLen is the longest file name (in bytes) that Place accepts. It is
// Linux's NAME_MAX.
const maxNameLen = 255

// Ignored reports whether the watcher skips a file or directory with this
// base name: dotfiles (which include Place's temporary files), names ending
// in ".part" or ".tmp", and names containing "-miscellaneous" (the junk that
// vent's pcap splitter leaves behind). The match is case-sensitive.
func Ignored(name string) bool {
	switch {
	case strings.HasPrefix(name, "."):
		return true
	case strings.HasSuffix(name, ".part"), strings.HasSuffix(name, ".tmp"):
		return true
	case strings.Contains(name, "-miscellaneous"):
		return true
	}
	return false
}

// ignoredRel reports whether a slash-separated path relative to the root
// has an ignored component, so that everything under a dot-directory is
// skipped too.
func ignoredRel(rel string) bool {
	for comp := range strings.SplitSeq(rel, "/") {
		if Ignored(comp) {
			return true
		}
	}
	return false
}

// checkName returns an error wrapping ErrBadName, naming name, when Place
// must refuse it.
func checkName(name string) error {
	var why string
	switch {
	case name == "":
		why = "empty"
	case strings.ContainsRune(name, '/'):
		why = "contains a slash"
	case strings.Contains(name, ".."):
		why = `contains ".."`
	case strings.IndexByte(name, 0) >= 0:
		why = "contains a NUL byte"
	case len(name) > maxNameLen:
		why = fmt.Sprintf("longer than %d bytes", maxNameLen)
	case Ignored(name):
		why = "the drop watcher ignores it"
	default:
		return nil
	}
	return fmt.Errorf("%w: %q: %s", ErrBadName, name, why)
}

// candidateName returns the n-th name Place tries for name: name itself for
// n == 0, then "base (n).ext". The extension is the part from the last dot,
// as filepath.Ext sees it.
func candidateName(name string, n int) string {
	if n == 0 {
		return name
	}
	ext := filepath.Ext(name)
	base := strings.TrimSuffix(name, ext)
	return fmt.Sprintf("%s (%d)%s", base, n, ext)
}
