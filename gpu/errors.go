package gpu

import "errors"

var (
	// ErrNoNVML means this binary was built without cgo and so cannot load
	// the NVIDIA management library at all.
	ErrNoNVML = errors.New("GPU support not compiled in: this ventapp was built without cgo " +
		"and cannot load the NVIDIA management library")

	// ErrNoDriver means the NVIDIA management library or kernel driver is
	// missing on this host.
	ErrNoDriver = errors.New("no NVIDIA driver found")

	// ErrDriverLost means the driver or a device stopped answering while
	// ventapp was running (driver unloaded or upgraded, GPU fell off the bus).
	ErrDriverLost = errors.New("NVIDIA driver stopped answering")

	// ErrNVML wraps any other failure reported by the management library.
	ErrNVML = errors.New("NVIDIA management library error")

	// ErrNoDevice means the driver works but reports no GPU.
	ErrNoDevice = errors.New("no NVIDIA GPU found")

	// ErrBadRequest means a GPU request holds an impossible value.
	ErrBadRequest = errors.New("bad GPU request")

	// ErrNeverFits means a job asks for more than any device could ever
	// give it, so waiting is pointless.
	ErrNeverFits = errors.New("GPU request can never be met")

	// ErrWaitTimeout means a job waited longer than the configured limit for
	// a device.
	ErrWaitTimeout = errors.New("waited too long for a GPU")

	// ErrUnknownJob means the job is neither queued nor holding a device.
	ErrUnknownJob = errors.New("unknown GPU job")

	// ErrBadLabels means container labels describing a GPU reservation are
	// missing or malformed.
	ErrBadLabels = errors.New("bad GPU reservation labels")
)

// Unavailable reports whether err means this host cannot run GPU jobs at
// all right now (no cgo, no driver, no device, driver gone), as opposed to
// a problem with one request.
func Unavailable(err error) bool {
	return errors.Is(err, ErrNoNVML) || errors.Is(err, ErrNoDriver) ||
		errors.Is(err, ErrDriverLost) || errors.Is(err, ErrNoDevice)
}
