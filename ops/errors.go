package ops

import "errors"

// Errors returned by this package; they are wrapped with the detail.
var (
	// ErrCorrupt means an archive is damaged: a checksum differs, a member
	// is missing, extra or cut short, or the manifest cannot be read.
	ErrCorrupt = errors.New("backup archive is corrupt")

	// ErrFormatTooNew means the archive was written in a layout this
	// program does not know.
	ErrFormatTooNew = errors.New("backup archive format is newer than this program supports")

	// ErrSchemaTooNew means the archive holds a job store with a schema
	// version above the one this program supports.
	ErrSchemaTooNew = errors.New("backup holds a job store schema newer than this program supports")

	// ErrDaemonRunning means a ventapp daemon answers on the API socket or
	// holds the job store, so the data dir must not be replaced or removed.
	ErrDaemonRunning = errors.New("a ventapp daemon is running")

	// ErrSharedNamespace means Reset was pointed at a containerd namespace
	// that other software uses.
	ErrSharedNamespace = errors.New("refusing to reset a shared containerd namespace")

	// ErrBadSource means a BackupSource or ResetPlan lacks a required field.
	ErrBadSource = errors.New("incomplete backup source or reset plan")
)
