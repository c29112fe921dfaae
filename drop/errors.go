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

	// ErrNotRegular is returned by PlaceFile when the source is a directory
	// or another kind of file that is not a regular file.
	ErrNotRegular = errors.New("not a regular file")

	// ErrNoFreeName is returned by Place when every candidate name it tried
	// for a colliding file already exists.
	ErrNoFreeName = errors.New("no free name in the drop folder")
)
