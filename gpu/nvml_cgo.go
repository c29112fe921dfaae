//go:build cgo && linux

package gpu

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"sort"
	"sync"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

// NVMLCompiled reports whether this binary can talk to the NVIDIA
// management library (it was built with cgo on Linux).
const NVMLCompiled = true

// NVML is the Inventory of the real devices, read through go-nvml.
//
// The library is loaded and initialised on the first Devices call and kept
// initialised. No other nvml function is ever called unless Init succeeded:
// after a failed Init (library missing) any nvml call aborts the process.
// When a call reports that the driver went away, NVML shuts the library
// down and tries Init again on the next Devices call, so a driver that
// comes back is picked up. NVML is safe for concurrent use.
type NVML struct {
	mu     sync.Mutex
	lib    nvml.Interface
	path   string
	log    *slog.Logger
	inited bool
	lastOK bool // whether the previous Devices call succeeded, for logging
}

// NewNVML returns an inventory backed by the NVIDIA management library. It
// loads nothing until Devices is called.
func NewNVML(opts NVMLOptions) *NVML {
	path := opts.library()
	return newNVMLWith(nvml.New(nvml.WithLibraryPath(path)), path, opts.logger())
}

// newNVMLWith uses lib in place of the real library (tests pass a mock).
func newNVMLWith(lib nvml.Interface, path string, log *slog.Logger) *NVML {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &NVML{lib: lib, path: path, log: log, lastOK: true}
}

// Devices initialises the library if needed and lists every device.
func (n *NVML) Devices(ctx context.Context) ([]Device, error) {
	n.mu.Lock()
	defer n.mu.Unlock()

	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !n.inited {
		if err := n.initLocked(); err != nil {
			n.noteLocked(err)
			return nil, err
		}
	}

	devs, ret, what := n.listLocked()
	if ret != nvml.SUCCESS {
		err := n.callError(what, ret)
		if driverGone(ret) {
			// Start from Init again next time; Shutdown's result does not
			// matter, the library is in a bad state either way.
			n.lib.Shutdown()
			n.inited = false
		}
		n.noteLocked(err)
		return nil, err
	}
	n.noteLocked(nil)
	return devs, nil
}

// Close shuts the library down if it was initialised.
func (n *NVML) Close() error {
	n.mu.Lock()
	defer n.mu.Unlock()

	if !n.inited {
		return nil
	}
	n.inited = false
	if ret := n.lib.Shutdown(); ret != nvml.SUCCESS {
		return fmt.Errorf("%w: shutdown: %s", ErrNVML, ret.Error())
	}
	return nil
}

// initLocked loads and initialises the library.
func (n *NVML) initLocked() error {
	ret := n.lib.Init()
	switch ret {
	case nvml.SUCCESS:
		n.inited = true
		return nil
	case nvml.ERROR_LIBRARY_NOT_FOUND:
		return fmt.Errorf("%w: %s not loadable", ErrNoDriver, n.path)
	case nvml.ERROR_DRIVER_NOT_LOADED:
		return fmt.Errorf("%w: %s loaded but the NVIDIA kernel driver is not running", ErrNoDriver, n.path)
	case nvml.ERROR_LIB_RM_VERSION_MISMATCH:
		return fmt.Errorf("%w: %s does not match the loaded kernel driver (reboot or reload the driver)",
			ErrNoDriver, n.path)
	case nvml.ERROR_NO_PERMISSION:
		return fmt.Errorf("%w: no permission to open the NVIDIA devices", ErrNoDriver)
	}
	return fmt.Errorf("%w: init: %s", ErrNVML, ret.Error())
}

// listLocked reads every device. On failure it returns the failing call's
// name and result.
func (n *NVML) listLocked() ([]Device, nvml.Return, string) {
	count, ret := n.lib.DeviceGetCount()
	if ret != nvml.SUCCESS {
		return nil, ret, "device count"
	}

	devs := make([]Device, 0, count)
	for i := range count {
		d, ret, what := n.deviceLocked(i)
		if ret != nvml.SUCCESS {
			return nil, ret, fmt.Sprintf("device %d: %s", i, what)
		}
		devs = append(devs, d)
	}
	return devs, nvml.SUCCESS, ""
}

// deviceLocked reads device i. Values a device may not support
// (utilisation, process lists) are left empty rather than failing.
func (n *NVML) deviceLocked(i int) (Device, nvml.Return, string) {
	h, ret := n.lib.DeviceGetHandleByIndex(i)
	if ret != nvml.SUCCESS {
		return Device{}, ret, "handle"
	}
	d := Device{Index: i, UtilPercent: -1}

	if d.UUID, ret = h.GetUUID(); ret != nvml.SUCCESS {
		return Device{}, ret, "uuid"
	}
	if d.Name, ret = h.GetName(); ret != nvml.SUCCESS {
		return Device{}, ret, "name"
	}
	mem, ret := h.GetMemoryInfo()
	if ret != nvml.SUCCESS {
		return Device{}, ret, "memory"
	}
	d.MemTotalMB, d.MemUsedMB, d.MemFreeMB = mem.Total>>20, mem.Used>>20, mem.Free>>20

	util, ret := h.GetUtilizationRates()
	switch {
	case ret == nvml.SUCCESS:
		d.UtilPercent = int(util.Gpu)
	case driverGone(ret):
		return Device{}, ret, "utilisation"
	}

	procs, ret, what := n.processesLocked(h)
	if ret != nvml.SUCCESS {
		return Device{}, ret, what
	}
	d.Processes = procs
	return d, nvml.SUCCESS, ""
}

// processesLocked merges the compute and graphics processes of h by PID.
func (n *NVML) processesLocked(h nvml.Device) ([]Process, nvml.Return, string) {
	byPID := map[uint32]uint64{}
	lists := []struct {
		what string
		get  func() ([]nvml.ProcessInfo, nvml.Return)
	}{
		{"compute processes", h.GetComputeRunningProcesses},
		{"graphics processes", h.GetGraphicsRunningProcesses},
	}
	for _, l := range lists {
		infos, ret := l.get()
		if driverGone(ret) {
			return nil, ret, l.what
		}
		if ret != nvml.SUCCESS {
			continue // not supported on this device or not permitted
		}
		for _, p := range infos {
			used := p.UsedGpuMemory
			if used == math.MaxUint64 { // NVML_VALUE_NOT_AVAILABLE
				used = 0
			}
			byPID[p.Pid] = max(byPID[p.Pid], used)
		}
	}

	procs := make([]Process, 0, len(byPID))
	for pid, used := range byPID {
		name, ret := n.lib.SystemGetProcessName(int(pid))
		if ret != nvml.SUCCESS {
			name = ""
		}
		procs = append(procs, Process{PID: int(pid), UsedMB: used >> 20, Name: name})
	}
	sort.Slice(procs, func(a, b int) bool { return procs[a].PID < procs[b].PID })
	return procs, nvml.SUCCESS, ""
}

// callError turns a failed call after a successful Init into an error.
func (n *NVML) callError(what string, ret nvml.Return) error {
	if driverGone(ret) {
		return fmt.Errorf("%w: %s: %s", ErrDriverLost, what, ret.Error())
	}
	return fmt.Errorf("%w: %s: %s", ErrNVML, what, ret.Error())
}

// noteLocked logs when the library goes from working to failing or back.
func (n *NVML) noteLocked(err error) {
	switch {
	case err != nil && n.lastOK:
		n.log.Warn("GPU inventory unavailable", "err", err)
	case err == nil && !n.lastOK:
		n.log.Info("GPU inventory available again")
	}
	n.lastOK = err == nil
}

// driverGone reports whether ret means the driver or device went away,
// after which the library must be initialised again.
func driverGone(ret nvml.Return) bool {
	switch ret {
	case nvml.ERROR_UNINITIALIZED, nvml.ERROR_DRIVER_NOT_LOADED, nvml.ERROR_GPU_IS_LOST,
		nvml.ERROR_LIB_RM_VERSION_MISMATCH, nvml.ERROR_RESET_REQUIRED, nvml.ERROR_LIBRARY_NOT_FOUND,
		nvml.ERROR_FUNCTION_NOT_FOUND:
		return true
	}
	return false
}
