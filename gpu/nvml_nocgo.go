//go:build !cgo || !linux

package gpu

import (
	"context"
	"log/slog"
)

// NVMLCompiled reports whether this binary can talk to the NVIDIA
// management library. This build has no cgo, so it cannot.
const NVMLCompiled = false

// NVML stands in for the NVIDIA management library in a build without
// cgo: every Devices call fails with ErrNoNVML.
type NVML struct {
	log *slog.Logger
}

// NewNVML returns an inventory that always reports ErrNoNVML.
func NewNVML(opts NVMLOptions) *NVML {
	return &NVML{log: opts.logger()}
}

// Devices fails with ErrNoNVML.
func (n *NVML) Devices(ctx context.Context) ([]Device, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return nil, ErrNoNVML
}

// Close does nothing.
func (n *NVML) Close() error { return nil }
