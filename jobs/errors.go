package jobs

import "errors"

var (
	// ErrNotFound is returned when a job id is not in the store.
	ErrNotFound = errors.New("job not found")

	// ErrSchemaTooNew is returned by Open for a store written by a newer
	// ventapp whose schema version this one does not know.
	ErrSchemaTooNew = errors.New("job store schema is newer than this program supports")

	// ErrBadState is returned for a string that names no job state, or for
	// a state that makes no sense where it was given.
	ErrBadState = errors.New("bad job state")

	// ErrBadTransition is returned when a job cannot move from its current
	// state to the requested one.
	ErrBadTransition = errors.New("illegal job state change")

	// ErrRunning is returned by Cancel for a running job: the caller must
	// stop its container first and then call Finish with Cancelled.
	ErrRunning = errors.New("job is running")

	// ErrNotRunning is returned by SetContainer for a job that is not
	// running.
	ErrNotRunning = errors.New("job is not running")

	// ErrClosed is returned by every method of a Store after Close.
	ErrClosed = errors.New("job store is closed")

	// ErrLocked is returned by Open when another process holds the store.
	ErrLocked = errors.New("job store is locked by another process")

	// ErrCorrupt is returned when the store file is not a bbolt database,
	// is damaged, or breaks the invariants of the bucket layout.
	ErrCorrupt = errors.New("job store is corrupt")

	// ErrBadInput is returned for arguments that cannot be stored, such as
	// a relative path, a malformed SHA-256 or an empty tool name.
	ErrBadInput = errors.New("bad job store input")
)
