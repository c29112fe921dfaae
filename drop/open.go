package drop

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// OpenBeneath opens the regular file at path for reading, which must lie
// below the folder root, the way the watcher sees the drop folder: no
// symbolic link is followed below root (root itself may be one), and a
// FIFO or device is refused without waiting for a writer. Each folder is
// opened relative to the one before it, so a folder swapped for a link
// while the path is walked is refused too, not followed.
//
// An error wraps ErrOutside for a path not below root, ErrSymlink for a
// link on the way, ErrNotRegular for something other than a regular file,
// and the system's error otherwise (fs.ErrNotExist for a missing one).
func OpenBeneath(root, path string) (*os.File, error) {
	dir, name, err := walkBeneath(root, path)
	if err != nil {
		return nil, err
	}
	fd, err := unix.Openat(dir, name,
		unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	unix.Close(dir)
	if err != nil {
		return nil, openErr(path, path, err)
	}

	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, &os.PathError{Op: "stat", Path: path, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		unix.Close(fd)
		return nil, fmt.Errorf("opening %s: %w", path, ErrNotRegular)
	}
	return os.NewFile(uintptr(fd), path), nil
}

// StatDirBeneath returns the file system identity of the folder dir,
// which must be root or lie below it, reached as OpenBeneath reaches a
// file: with no symbolic link followed below root.
func StatDirBeneath(root, dir string) (unix.Stat_t, error) {
	var st unix.Stat_t
	if filepath.Clean(dir) == filepath.Clean(root) {
		if err := unix.Stat(root, &st); err != nil {
			return st, &os.PathError{Op: "stat", Path: root, Err: err}
		}
		return st, nil
	}

	parent, name, err := walkBeneath(root, dir)
	if err != nil {
		return st, err
	}
	defer unix.Close(parent)
	fd, err := unix.Openat(parent, name, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return st, openErr(dir, dir, err)
	}
	defer unix.Close(fd)
	if err := unix.Fstat(fd, &st); err != nil {
		return st, &os.PathError{Op: "stat", Path: dir, Err: err}
	}
	return st, nil
}

// Within returns path relative to the folder dir, and whether path is dir
// itself or lies below it (by their names: links are not looked at).
func Within(dir, path string) (rel string, ok bool) {
	rel, err := filepath.Rel(filepath.Clean(dir), filepath.Clean(path))
	if err != nil || (rel != "." && !filepath.IsLocal(rel)) {
		return "", false
	}
	return rel, true
}

// walkBeneath opens, without following links, the folders from root down
// to the parent of path, and returns that parent's descriptor and path's
// last name.
func walkBeneath(root, path string) (dir int, name string, err error) {
	rel, ok := Within(root, path)
	if !ok || rel == "." {
		return -1, "", fmt.Errorf("opening %s: %w %s", path, ErrOutside, root)
	}

	dir, err = unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, "", &os.PathError{Op: "open", Path: root, Err: err}
	}
	parts := strings.Split(rel, "/")
	at := root
	for _, part := range parts[:len(parts)-1] {
		at = filepath.Join(at, part)
		next, err := unix.Openat(dir, part, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		unix.Close(dir)
		if err != nil {
			return -1, "", openErr(path, at, err)
		}
		dir = next
	}
	return dir, parts[len(parts)-1], nil
}

// openErr describes a failed open of at on the way to path: ELOOP is a
// symbolic link (O_NOFOLLOW), and so is ENOTDIR for a folder on the way
// (a link to a folder is not one), unless what is there is a plain file.
func openErr(path, at string, err error) error {
	if errors.Is(err, unix.ELOOP) {
		return fmt.Errorf("opening %s: %s is a %w", path, at, ErrSymlink)
	}
	if errors.Is(err, unix.ENOTDIR) {
		if fi, lerr := os.Lstat(at); lerr == nil && fi.Mode()&os.ModeSymlink != 0 {
			return fmt.Errorf("opening %s: %s is a %w", path, at, ErrSymlink)
		}
	}
	return &os.PathError{Op: "open", Path: path, Err: err}
}
