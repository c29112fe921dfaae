package gpu

import (
	"context"
	"slices"
	"sync"
)

// Device is one GPU as the inventory saw it.
type Device struct {
	// Index is the driver's device index, the number a plugin's [gpu]
	// device names and the N of /dev/nvidiaN on a host without MIG.
	Index int `json:"index"`

	// UUID is the device's stable identifier ("GPU-…").
	UUID string `json:"uuid"`

	// Name is the product name, e.g. "NVIDIA H200".
	Name string `json:"name"`

	// MemTotalMB, MemUsedMB and MemFreeMB are the device memory in MiB.
	MemTotalMB uint64 `json:"mem_total_mb"`
	MemUsedMB  uint64 `json:"mem_used_mb"`
	MemFreeMB  uint64 `json:"mem_free_mb"`

	// UtilPercent is the GPU utilisation over the driver's last sample
	// period, 0–100, or -1 when the device does not report it.
	UtilPercent int `json:"util_percent"`

	// Processes are the compute and graphics processes on the device.
	Processes []Process `json:"processes"`
}

// Process is one process using a GPU.
type Process struct {
	// PID is the host process id.
	PID int `json:"pid"`

	// UsedMB is the device memory it holds in MiB, 0 when the driver
	// cannot tell (e.g. without permission inside a container).
	UsedMB uint64 `json:"used_mb"`

	// Name is the process name, empty when the driver cannot tell.
	Name string `json:"name"`
}

// Inventory lists the GPUs of this host.
type Inventory interface {
	// Devices returns every device, ordered by Index. An error wrapping
	// ErrNoNVML, ErrNoDriver or ErrDriverLost means no GPU can be used now.
	Devices(ctx context.Context) ([]Device, error)
}

// StaticInventory is an Inventory whose answer is set by its owner. Tests
// use it in place of hardware; it is safe for concurrent use.
type StaticInventory struct {
	mu    sync.Mutex
	devs  []Device
	err   error
	calls int
}

// NewStaticInventory returns an inventory that reports devs.
func NewStaticInventory(devs ...Device) *StaticInventory {
	s := &StaticInventory{}
	s.Set(devs, nil)
	return s
}

// Set replaces the answer: the devices, or an error when err is not nil.
func (s *StaticInventory) Set(devs []Device, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.devs, s.err = cloneDevices(devs), err
}

// Calls returns how many times Devices was called.
func (s *StaticInventory) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// Devices returns a copy of the devices last set, or the error last set.
func (s *StaticInventory) Devices(ctx context.Context) ([]Device, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if s.err != nil {
		return nil, s.err
	}
	return cloneDevices(s.devs), nil
}

// cloneDevices deep-copies devs so callers cannot change each other's view.
func cloneDevices(devs []Device) []Device {
	out := slices.Clone(devs)
	for i := range out {
		out[i].Processes = slices.Clone(out[i].Processes)
	}
	return out
}
