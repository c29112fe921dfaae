package drop

import "errors"

var (
	// ErrBadOptions is returned by New when an option is out of range.
	ErrBadOptions = errors.New("invalid drop watcher options")

	// ErrNotDir is returned by New and Place when the drop folder exists but
	// is not a directory.
	ErrNotDir = errors.New("not a directory")

	// ErrRunning is returned by Run when the watcher is already running.
	ErrRunning = errors.New("drop watcher already running")

	// ErrBadName is returned by Place for a name it refuses: empty, holding
	// a slash, "..", a NUL byte, too long, or one the watcher would ignore.
	ErrBadName = errors.New("name not allowed in the drop folder")

	// ErrNotRegular is returned by PlaceFile and OpenBeneath when the file
	// is a directory or another kind of file that is not a regular file.
	ErrNotRegular = errors.New("not a regular file")

	// ErrOutside is returned by OpenBeneath for a path not below the
	// folder it must be in.
	ErrOutside = errors.New("outside the folder")

	// ErrSymlink is returned by OpenBeneath when a symbolic link stands on
	// the path: the watcher follows none.
	ErrSymlink = errors.New("symbolic link, which the drop watcher does not follow")

	// ErrNoFreeName is returned by Place when every candidate name it tried
	// for a colliding file already exists.
	ErrNoFreeName = errors.New("no free name in the drop folder")
)
