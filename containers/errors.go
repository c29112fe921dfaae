package containers

import "errors"

var (
	// ErrUnavailable is returned when containerd cannot be reached, or stops
	// answering while a container runs.
	ErrUnavailable = errors.New("containerd unavailable")

	// ErrImageNotFound is returned by Run, ExportImage and RemoveImage when the
	// image reference is not in the namespace.
	ErrImageNotFound = errors.New("image not found")

	// ErrExists is returned by Run when a container or rootfs snapshot with the
	// requested id already exists.
	ErrExists = errors.New("container already exists")

	// ErrStart is returned by Run when containerd cannot create or start the
	// task: a missing binary, an exec format error, a bad mount, a runtime
	// failure. The message includes what containerd said.
	ErrStart = errors.New("container did not start")

	// ErrInvalidSpec is returned by Run when the Spec itself is unusable (no
	// id, no image, a relative mount path).
	ErrInvalidSpec = errors.New("invalid container spec")

	// ErrRuntime is returned by Run when containerd answers but a running
	// container cannot be waited for or killed.
	ErrRuntime = errors.New("container runtime failure")

	// ErrCleanup is returned by Run, joined with any other error, when the task,
	// container or snapshot could not be removed after the run. The Result is
	// still valid; Sweep removes the leftovers later.
	ErrCleanup = errors.New("container cleanup failed")

	// ErrArchive is returned by ImportArchive when the stream is not a tar, or
	// holds no OCI index or docker manifest, or no image for this platform.
	ErrArchive = errors.New("bad image archive")
)
