package gpu

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// fakeDev makes a device root with character nodes name → major:minor. It
// skips the test when nodes cannot be made (not root).
func fakeDev(t *testing.T, nodes map[string][2]uint32) string {
	t.Helper()
	root := t.TempDir()
	for name, mm := range nodes {
		err := unix.Mknod(filepath.Join(root, name), unix.S_IFCHR|0o666, int(unix.Mkdev(mm[0], mm[1])))
		if err != nil {
			t.Skipf("cannot make device nodes here: %v", err)
		}
	}
	return root
}

const nvidiaCDIYAML = `---
cdiVersion: 0.5.0
containerEdits:
  deviceNodes:
  - path: /dev/nvidiactl
devices:
- containerEdits:
    deviceNodes:
    - path: /dev/nvidia0
  name: "0"
- containerEdits:
    deviceNodes:
    - path: /dev/nvidia1
  name: "1"
- name: GPU-4cf8db2d-06c0-7d70-1a51-e59b25b2c16c
  containerEdits: {}
- name: all
kind: nvidia.com/gpu
`

func TestContainerDevicesNodes(t *testing.T) {
	root := fakeDev(t, map[string][2]uint32{
		"nvidia0": {195, 0}, "nvidia1": {195, 1}, "nvidia10": {195, 10},
		"nvidiactl": {195, 255}, "nvidia-uvm": {507, 0},
	})
	f := DeviceFinder{DevRoot: root, CDIDirs: []string{t.TempDir()}}

	spec, err := f.Devices(1)
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, n := range spec.Nodes {
		paths = append(paths, n.Path)
	}
	if want := []string{"/dev/nvidia1", "/dev/nvidiactl", "/dev/nvidia-uvm"}; !slices.Equal(paths, want) {
		t.Errorf("nodes %v, want %v (nvidia-uvm-tools absent, nvidia10 not device 1)", paths, want)
	}
	if n := spec.Nodes[0]; n.Major != 195 || n.Minor != 1 || n.HostPath != filepath.Join(root, "nvidia1") {
		t.Errorf("node %+v", n)
	}
	if !slices.Equal(spec.Env, []string{"NVIDIA_VISIBLE_DEVICES=1"}) {
		t.Errorf("env %v", spec.Env)
	}
	if len(spec.Warnings) != 1 || !strings.Contains(spec.Warnings[0], "driver libraries") {
		t.Errorf("warnings %v", spec.Warnings)
	}
	if spec.CDIDevices != nil {
		t.Errorf("CDI devices %v without a spec", spec.CDIDevices)
	}

	devs, rules := spec.LinuxDevices(), spec.CgroupRules()
	if len(devs) != 3 || devs[0].Type != "c" || devs[0].Minor != 1 ||
		*devs[0].FileMode != spec.Nodes[0].FileMode {
		t.Errorf("OCI devices %+v", devs)
	}
	if len(rules) != 3 || !rules[2].Allow || *rules[2].Major != 507 || rules[2].Access != "rwm" {
		t.Errorf("cgroup rules %+v", rules)
	}
}

func TestContainerDevicesMissingGPU(t *testing.T) {
	root := fakeDev(t, map[string][2]uint32{"nvidiactl": {195, 255}})
	if err := os.WriteFile(filepath.Join(root, "nvidia2"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	f := DeviceFinder{DevRoot: root, CDIDirs: []string{}}
	if _, err := f.Devices(0); err == nil || !strings.Contains(err.Error(), "nvidia0") {
		t.Errorf("missing node: err = %v", err)
	}
	if _, err := f.Devices(2); err == nil || !strings.Contains(err.Error(), "not a character device") {
		t.Errorf("regular file: err = %v", err)
	}
	if _, err := f.Devices(-1); err == nil {
		t.Error("negative index accepted")
	}
}

func TestContainerDevicesCDI(t *testing.T) {
	cdi := t.TempDir()
	if err := os.WriteFile(filepath.Join(cdi, "nvidia.yaml"), []byte(nvidiaCDIYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	other := `{"cdiVersion":"0.6.0","kind":"vendor.com/fpga","devices":[{"name":"3"}]}`
	if err := os.WriteFile(filepath.Join(cdi, "fpga.json"), []byte(other), 0o644); err != nil {
		t.Fatal(err)
	}
	root := fakeDev(t, map[string][2]uint32{"nvidia3": {195, 3}})
	f := DeviceFinder{DevRoot: root, CDIDirs: []string{filepath.Join(cdi, "absent"), cdi}}

	spec, err := f.Devices(1)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(spec.CDIDevices, []string{"nvidia.com/gpu=1"}) || spec.Nodes != nil || spec.Env != nil {
		t.Errorf("CDI spec %+v", spec)
	}

	// Device 3 is in a spec of another kind only: fall back to nodes.
	spec, err = f.Devices(3)
	if err != nil {
		t.Fatal(err)
	}
	if spec.CDIDevices != nil || len(spec.Nodes) != 1 {
		t.Errorf("fallback spec %+v", spec)
	}
}

func TestParseCDISpec(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		wantKind string
		wantDevs []string
		wantErr  bool
	}{
		{"toolkit yaml", nvidiaCDIYAML, "nvidia.com/gpu",
			[]string{"0", "1", "GPU-4cf8db2d-06c0-7d70-1a51-e59b25b2c16c", "all"}, false},
		{"json", `{"kind":"nvidia.com/gpu","devices":[{"name":"0"},{"name":"all"}]}`,
			"nvidia.com/gpu", []string{"0", "all"}, false},
		{"quoted kind, single quotes", "kind: 'nvidia.com/gpu'\ndevices:\n  - name: '2'\n",
			"nvidia.com/gpu", []string{"2"}, false},
		{"nested names are not devices", "kind: nvidia.com/gpu\ndevices:\n- name: \"0\"\n  containerEdits:\n" +
			"    env:\n    - name: X\n", "nvidia.com/gpu", []string{"0"}, false},
		{"no kind", "devices:\n- name: 0\n", "", nil, true},
		{"bad json", `{"kind":`, "", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kind, devs, err := ParseCDISpec([]byte(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if kind != tt.wantKind || !slices.Equal(devs, tt.wantDevs) {
				t.Errorf("got %q %q, want %q %q", kind, devs, tt.wantKind, tt.wantDevs)
			}
		})
	}
}

func FuzzParseCDISpec(f *testing.F) {
	f.Add([]byte(nvidiaCDIYAML))
	f.Add([]byte(`{"kind":"nvidia.com/gpu","devices":[{"name":"0"}]}`))
	f.Add([]byte("kind: x\ndevices:\n  - name: \"\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		kind, devs, err := ParseCDISpec(b)
		if err != nil && (kind != "" || devs != nil) {
			t.Fatalf("error %v with results %q %q", err, kind, devs)
		}
	})
}
