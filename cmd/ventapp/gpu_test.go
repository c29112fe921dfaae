package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/ventapp/ventapp/gpu"
)

// withInventory makes cmdGPU read inv during one test.
func withInventory(t *testing.T, inv gpu.Inventory) {
	t.Helper()
	old := newGPUInventory
	newGPUInventory = func() gpu.Inventory { return inv }
	t.Cleanup(func() { newGPUInventory = old })
}

func runGPU(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	env := &cliEnv{stdout: &out, stderr: &errOut}
	err := cmdGPU(context.Background(), env, args)
	return out.String(), errOut.String(), err
}

func TestCmdGPU(t *testing.T) {
	two := gpu.NewStaticInventory(
		gpu.Device{Index: 0, UUID: "GPU-aaa", Name: "NVIDIA H200", MemTotalMB: 143771, MemUsedMB: 4000,
			MemFreeMB: 139771, UtilPercent: 37, Processes: []gpu.Process{{PID: 77, UsedMB: 3500, Name: "python3"}}},
		gpu.Device{Index: 1, UUID: "GPU-bbb", Name: "NVIDIA H200", MemTotalMB: 143771, MemFreeMB: 143771,
			UtilPercent: -1},
	)
	noDriver := gpu.NewStaticInventory()
	noDriver.Set(nil, fmt.Errorf("%w: libnvidia-ml.so.1 not loadable", gpu.ErrNoDriver))
	broken := gpu.NewStaticInventory()
	broken.Set(nil, fmt.Errorf("%w: device count: ERROR_UNKNOWN", gpu.ErrNVML))

	tests := []struct {
		name    string
		inv     gpu.Inventory
		args    []string
		want    []string
		wantErr error
	}{
		{"table", two, nil, []string{"INDEX", "NVIDIA H200", "GPU-aaa", "4000/143771 MiB", "37%", "n/a",
			"pid 77", "python3"}, nil},
		{"no driver", noDriver, nil,
			[]string{"no NVIDIA GPU found: no NVIDIA driver found: libnvidia-ml.so.1 not loadable\n"}, nil},
		{"no devices", gpu.NewStaticInventory(), nil,
			[]string{"no NVIDIA GPU found: the driver reports no devices\n"}, nil},
		{"no driver json", noDriver, []string{"--json"}, []string{`"available": false`,
			`"reason": "no NVIDIA driver found: libnvidia-ml.so.1 not loadable"`, `"devices": []`}, nil},
		{"driver error", broken, nil, nil, gpu.ErrNVML},
		{"extra argument", two, []string{"list"}, nil, errUsage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			withInventory(t, tt.inv)
			out, _, err := runGPU(t, tt.args...)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

func TestCmdGPUJSONDevices(t *testing.T) {
	withInventory(t, gpu.NewStaticInventory(gpu.Device{Index: 3, UUID: "GPU-x", MemTotalMB: 100,
		Processes: []gpu.Process{{PID: 1, UsedMB: 2}}}))
	out, _, err := runGPU(t, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var rep gpuReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if !rep.Available || len(rep.Devices) != 1 || rep.Devices[0].Index != 3 ||
		rep.Devices[0].Processes[0].UsedMB != 2 || !strings.Contains(out, `"mem_total_mb": 100`) {
		t.Errorf("report %+v", rep)
	}
}

// The real library path on this host: whatever it finds, the command must
// not crash and must exit 0.
func TestCmdGPUReal(t *testing.T) {
	out, _, err := runGPU(t)
	if err != nil {
		t.Fatalf("ventapp gpu: %v", err)
	}
	t.Logf("ventapp gpu: %s", out)
}
