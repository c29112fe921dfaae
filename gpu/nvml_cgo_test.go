//go:build cgo && linux

package gpu

import (
	"context"
	"errors"
	"math"
	"slices"
	"testing"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock"
)

// On a host without the library, detection must fail cleanly, every time:
// after a failed Init any further nvml call would abort the test binary.
func TestNVMLNoLibrary(t *testing.T) {
	tests := []struct {
		name, lib, want string
	}{
		{"missing path", "/nonexistent/libnvidia-ml.so.1",
			"no NVIDIA driver found: /nonexistent/libnvidia-ml.so.1 not loadable"},
		{"not a library", "/etc/hostname", "no NVIDIA driver found: /etc/hostname not loadable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := NewNVML(NVMLOptions{Library: tt.lib})
			for range 3 {
				devs, err := n.Devices(context.Background())
				if !errors.Is(err, ErrNoDriver) || err.Error() != tt.want || devs != nil {
					t.Fatalf("Devices = %v, %v; want error %q", devs, err, tt.want)
				}
			}
			if err := n.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
	}
}

// The default library: on this development machine it is absent; on a GPU
// machine the test lists the devices instead.
func TestNVMLDefaultLibrary(t *testing.T) {
	n := NewNVML(NVMLOptions{})
	defer n.Close()
	devs, err := n.Devices(context.Background())
	if err != nil {
		want := "no NVIDIA driver found: libnvidia-ml.so.1 not loadable"
		if !Unavailable(err) {
			t.Fatalf("Devices: %v", err)
		}
		t.Logf("no GPU here: %v (expected text on a host without the library: %q)", err, want)
		return
	}
	for _, d := range devs {
		t.Logf("device %d %s %s: %d/%d MiB used, %d%%, %d processes", d.Index, d.UUID, d.Name,
			d.MemUsedMB, d.MemTotalMB, d.UtilPercent, len(d.Processes))
		if d.MemTotalMB == 0 || d.UUID == "" {
			t.Errorf("device %d incomplete: %+v", d.Index, d)
		}
	}
}

// fakeLib is a mock library whose behaviour a test switches.
type fakeLib struct {
	lib       *mock.Interface
	initRet   nvml.Return
	countRet  nvml.Return
	calls     []string // nvml calls made other than Init
	shutdowns int
}

func newFakeLib() *fakeLib {
	f := &fakeLib{initRet: nvml.SUCCESS, countRet: nvml.SUCCESS}
	gib := uint64(1 << 30)
	device := func(i int) nvml.Device {
		return &mock.Device{
			GetUUIDFunc: func() (string, nvml.Return) { return "GPU-" + string(rune('a'+i)), nvml.SUCCESS },
			GetNameFunc: func() (string, nvml.Return) { return "Mock GPU", nvml.SUCCESS },
			GetMemoryInfoFunc: func() (nvml.Memory, nvml.Return) {
				return nvml.Memory{Total: 16 * gib, Used: 3 * gib, Free: 13 * gib}, nvml.SUCCESS
			},
			GetUtilizationRatesFunc: func() (nvml.Utilization, nvml.Return) {
				if i == 1 {
					return nvml.Utilization{}, nvml.ERROR_NOT_SUPPORTED
				}
				return nvml.Utilization{Gpu: 42}, nvml.SUCCESS
			},
			GetComputeRunningProcessesFunc: func() ([]nvml.ProcessInfo, nvml.Return) {
				if i == 1 {
					return nil, nvml.SUCCESS
				}
				return []nvml.ProcessInfo{{Pid: 20, UsedGpuMemory: 2 * gib}, {Pid: 10, UsedGpuMemory: math.MaxUint64}},
					nvml.SUCCESS
			},
			GetGraphicsRunningProcessesFunc: func() ([]nvml.ProcessInfo, nvml.Return) {
				if i == 1 {
					return nil, nvml.ERROR_NOT_SUPPORTED
				}
				return []nvml.ProcessInfo{{Pid: 20, UsedGpuMemory: gib}}, nvml.SUCCESS
			},
		}
	}
	f.lib = &mock.Interface{
		InitFunc: func() nvml.Return { return f.initRet },
		ShutdownFunc: func() nvml.Return {
			f.shutdowns++
			return nvml.SUCCESS
		},
		DeviceGetCountFunc: func() (int, nvml.Return) {
			f.calls = append(f.calls, "count")
			return 2, f.countRet
		},
		DeviceGetHandleByIndexFunc: func(i int) (nvml.Device, nvml.Return) {
			f.calls = append(f.calls, "handle")
			return device(i), nvml.SUCCESS
		},
		SystemGetProcessNameFunc: func(pid int) (string, nvml.Return) {
			if pid == 10 {
				return "", nvml.ERROR_NO_PERMISSION
			}
			return "python3", nvml.SUCCESS
		},
	}
	return f
}

func TestNVMLDevicesFromLibrary(t *testing.T) {
	f := newFakeLib()
	n := newNVMLWith(f.lib, "mock", nil)
	devs, err := n.Devices(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(devs) != 2 {
		t.Fatalf("got %d devices", len(devs))
	}
	d0, d1 := devs[0], devs[1]
	if d0.Index != 0 || d0.UUID != "GPU-a" || d0.MemTotalMB != 16384 || d0.MemUsedMB != 3072 ||
		d0.MemFreeMB != 13312 || d0.UtilPercent != 42 {
		t.Errorf("device 0 = %+v", d0)
	}
	wantProcs := []Process{{PID: 10, UsedMB: 0, Name: ""}, {PID: 20, UsedMB: 2048, Name: "python3"}}
	if !slices.Equal(d0.Processes, wantProcs) {
		t.Errorf("processes %+v, want %+v", d0.Processes, wantProcs)
	}
	if d1.UtilPercent != -1 || len(d1.Processes) != 0 {
		t.Errorf("device 1 = %+v (utilisation unsupported, no processes)", d1)
	}
}

func TestNVMLDriverLostAndBack(t *testing.T) {
	f := newFakeLib()
	n := newNVMLWith(f.lib, "libnvidia-ml.so.1", nil)
	ctx := context.Background()
	if _, err := n.Devices(ctx); err != nil {
		t.Fatal(err)
	}

	// The GPU falls off the bus: an error, and the library is shut down.
	f.countRet = nvml.ERROR_GPU_IS_LOST
	if _, err := n.Devices(ctx); !errors.Is(err, ErrDriverLost) {
		t.Fatalf("Devices = %v, want ErrDriverLost", err)
	}
	if f.shutdowns != 1 {
		t.Errorf("shutdowns = %d, want 1", f.shutdowns)
	}

	// The driver is unloaded: Init fails and nothing else may be called.
	f.initRet, f.calls = nvml.ERROR_DRIVER_NOT_LOADED, nil
	for range 2 {
		if _, err := n.Devices(ctx); !errors.Is(err, ErrNoDriver) {
			t.Fatalf("Devices = %v, want ErrNoDriver", err)
		}
	}
	f.initRet = nvml.ERROR_LIBRARY_NOT_FOUND
	want := "no NVIDIA driver found: libnvidia-ml.so.1 not loadable"
	if _, err := n.Devices(ctx); err == nil || err.Error() != want {
		t.Fatalf("Devices = %v", err)
	}
	if len(f.calls) != 0 {
		t.Fatalf("nvml calls after a failed Init: %v", f.calls)
	}

	// The driver comes back.
	f.initRet, f.countRet = nvml.SUCCESS, nvml.SUCCESS
	if devs, err := n.Devices(ctx); err != nil || len(devs) != 2 {
		t.Fatalf("after recovery: %v, %v", devs, err)
	}
	if err := n.Close(); err != nil || f.shutdowns != 2 {
		t.Errorf("Close = %v, shutdowns %d", err, f.shutdowns)
	}
	if err := n.Close(); err != nil || f.shutdowns != 2 {
		t.Errorf("second Close = %v, shutdowns %d", err, f.shutdowns)
	}
}

func TestNVMLOtherErrorKeepsLibrary(t *testing.T) {
	f := newFakeLib()
	n := newNVMLWith(f.lib, "mock", nil)
	f.countRet = nvml.ERROR_UNKNOWN
	if _, err := n.Devices(context.Background()); !errors.Is(err, ErrNVML) || Unavailable(err) {
		t.Fatalf("Devices = %v, want ErrNVML", err)
	}
	if f.shutdowns != 0 {
		t.Errorf("library shut down after a non-fatal error")
	}
}
