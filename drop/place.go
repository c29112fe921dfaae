package drop

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// maxCollisions bounds the "name (n)" candidates Place tries.
const maxCollisions = 10000

// tempNameKeep is how many bytes of the final name a temporary name keeps,
// so that ".<name>.<random>.part" stays under NAME_MAX.
const tempNameKeep = 200

// HashFile returns the SHA-256 of the file at path below the folder root
// as lower-case hex, and the number of bytes hashed. It opens the file as
// OpenBeneath does (no symbolic links, no FIFOs) and streams it.
func HashFile(root, path string) (sum string, size int64, err error) {
	f, err := OpenBeneath(root, path)
	if err != nil {
		return "", 0, fmt.Errorf("hashing: %w", err)
	}
	defer func() { _ = f.Close() }()

	h := sha256.New()
	size, err = io.Copy(h, f)
	if err != nil {
		return "", 0, fmt.Errorf("hashing %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), size, nil
}

// PlaceFile copies the regular file at srcPath into the drop folder root
// under its base name, as Place does, and returns the path it got.
func PlaceFile(srcPath, root string) (string, error) {
	// Stat before opening: opening a fifo would block.
	fi, err := os.Stat(srcPath)
	if err != nil {
		return "", fmt.Errorf("placing %s: %w", srcPath, err)
	}
	if !fi.Mode().IsRegular() {
		what := "mode " + fi.Mode().Type().String()
		if fi.IsDir() {
			what = "it is a directory; drop the files in it"
		}
		return "", fmt.Errorf("placing %s: %w (%s)", srcPath, ErrNotRegular, what)
	}

	f, err := os.Open(srcPath)
	if err != nil {
		return "", fmt.Errorf("placing %s: %w", srcPath, err)
	}
	defer func() { _ = f.Close() }()

	return Place(f, root, filepath.Base(srcPath))
}

// Place writes everything src yields into the drop folder root as name and
// returns the absolute path of the new file.
//
// The data first goes to a temporary file ".<name>.<random>.part" in root,
// which the watcher ignores; it is synced and then renamed into place
// without replacing anything, so the watcher sees one complete file appear.
// When root/name exists, Place uses "name (1)", "name (2)" and so on, keeping
// the extension ("a (1).pcap"). A name that is empty, holds a slash, "..",
// or a NUL byte, is longer than 255 bytes, or is one the watcher ignores
// gives an error wrapping ErrBadName that quotes it. On any error nothing
// is left in root.
func Place(src io.Reader, root, name string) (_ string, err error) {
	if err := checkName(name); err != nil {
		return "", err
	}
	root, err = filepath.Abs(root)
	if err != nil {
		return "", fmt.Errorf("drop folder %s: %w", root, err)
	}
	fi, err := os.Stat(root)
	if err != nil {
		return "", fmt.Errorf("drop folder %s: %w", root, err)
	}
	if !fi.IsDir() {
		return "", fmt.Errorf("drop folder %s: %w", root, ErrNotDir)
	}

	// Write and sync the temporary file; remove it on any later error.
	tmp, err := createTemp(root, name)
	if err != nil {
		return "", err
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if _, err = io.Copy(tmp, src); err != nil {
		return "", fmt.Errorf("writing %s into %s: %w", name, root, err)
	}
	if err = tmp.Sync(); err != nil {
		return "", fmt.Errorf("syncing %s: %w", tmp.Name(), err)
	}
	if err = tmp.Close(); err != nil {
		return "", fmt.Errorf("closing %s: %w", tmp.Name(), err)
	}

	// Move it to the first free name, then make the rename durable.
	final, err := renameFree(tmp.Name(), root, name)
	if err != nil {
		return "", err
	}
	if err = syncDir(root); err != nil {
		_ = os.Remove(final)
		return "", err
	}
	return final, nil
}

// createTemp creates a new, empty temporary file for name in root.
func createTemp(root, name string) (*os.File, error) {
	keep := name
	if len(keep) > tempNameKeep {
		keep = keep[:tempNameKeep]
	}

	for range 10 {
		var rnd [8]byte
		_, _ = rand.Read(rnd[:])
		path := filepath.Join(root, "."+keep+"."+hex.EncodeToString(rnd[:])+".part")
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("creating temporary file in %s: %w", root, err)
		}
		return f, nil
	}
	return nil, fmt.Errorf("creating temporary file in %s: %w", root, os.ErrExist)
}

// renameFree renames tmp to the first candidate name for name that does
// not exist in root, never replacing a file, and returns the new path.
func renameFree(tmp, root, name string) (string, error) {
	for n := range maxCollisions {
		final := filepath.Join(root, candidateName(name, n))
		err := renameNoReplace(tmp, final)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("moving %s into place as %s: %w", tmp, final, err)
		}
		return final, nil
	}
	return "", fmt.Errorf("placing %q in %s: %w after %d tries", name, root, ErrNoFreeName, maxCollisions)
}

// renameNoReplace renames oldpath to newpath and fails with an error
// matching os.ErrExist when newpath exists. It uses renameat2 with
// RENAME_NOREPLACE and, on file systems without it, a hard link followed by
// removing oldpath.
func renameNoReplace(oldpath, newpath string) error {
	err := unix.Renameat2(unix.AT_FDCWD, oldpath, unix.AT_FDCWD, newpath, unix.RENAME_NOREPLACE)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.EEXIST):
		return os.ErrExist
	case !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOSYS) &&
		!errors.Is(err, unix.EOPNOTSUPP):
		return err
	}

	if err := os.Link(oldpath, newpath); err != nil {
		if errors.Is(err, os.ErrExist) {
			return os.ErrExist
		}
		return err
	}
	return os.Remove(oldpath)
}

// syncDir fsyncs the directory dir so that a rename in it is durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("syncing drop folder %s: %w", dir, err)
	}
	defer func() { _ = d.Close() }()

	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing drop folder %s: %w", dir, err)
	}
	return nil
}
