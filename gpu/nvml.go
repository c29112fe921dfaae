package gpu

import "log/slog"

// DefaultLibrary is the file name of the NVIDIA management library that
// NVML loads when NVMLOptions.Library is empty.
const DefaultLibrary = "libnvidia-ml.so.1"

// NVMLOptions configure NewNVML.
type NVMLOptions struct {
	// Library is the management library to load: a file name looked up by
	// the dynamic loader, or a path. Empty: DefaultLibrary.
	Library string

	// Logger receives driver state changes (found, lost, back). Nil: none.
	Logger *slog.Logger
}

func (o NVMLOptions) library() string {
	if o.Library == "" {
		return DefaultLibrary
	}
	return o.Library
}

func (o NVMLOptions) logger() *slog.Logger {
	if o.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return o.Logger
}
