package gpu

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// CDIKind is the CDI device kind the NVIDIA Container Toolkit writes.
const CDIKind = "nvidia.com/gpu"

// DefaultCDIDirs are where CDI specs are looked for, as containerd does.
var DefaultCDIDirs = []string{"/etc/cdi", "/var/run/cdi"}

// DeviceSpec is what a container needs to use one GPU. Either CDIDevices
// is set (inject them with a CDI-aware spec option, which also adds the
// driver libraries), or Nodes and Env are (add the nodes to the OCI spec
// and allow them in the device cgroup; the driver libraries are then NOT
// in the container, which Warnings says).
type DeviceSpec struct {
	// Index is the device index the spec is for.
	Index int `json:"index"`

	// CDIDevices are fully qualified CDI names, e.g. "nvidia.com/gpu=0".
	CDIDevices []string `json:"cdi_devices,omitempty"`

	// Nodes are the device nodes to create in the container.
	Nodes []DeviceNode `json:"nodes,omitempty"`

	// Env holds KEY=value entries for the container.
	Env []string `json:"env,omitempty"`

	// Warnings say what the container will lack.
	Warnings []string `json:"warnings,omitempty"`
}

// DeviceNode is a character device node found on the host.
type DeviceNode struct {
	// Path is the path in the container, e.g. /dev/nvidia0.
	Path string `json:"path"`

	// HostPath is where it was found on the host (differs from Path only
	// with a fake device root in tests).
	HostPath string `json:"host_path"`

	Major    int64       `json:"major"`
	Minor    int64       `json:"minor"`
	FileMode fs.FileMode `json:"file_mode"`
	UID      uint32      `json:"uid"`
	GID      uint32      `json:"gid"`
}

// LinuxDevices returns the nodes as OCI spec devices (spec.Linux.Devices).
func (d DeviceSpec) LinuxDevices() []specs.LinuxDevice {
	out := make([]specs.LinuxDevice, 0, len(d.Nodes))
	for _, n := range d.Nodes {
		mode, uid, gid := n.FileMode, n.UID, n.GID
		out = append(out, specs.LinuxDevice{Path: n.Path, Type: "c", Major: n.Major, Minor: n.Minor,
			FileMode: &mode, UID: &uid, GID: &gid})
	}
	return out
}

// CgroupRules returns the device cgroup rules that allow the nodes
// (spec.Linux.Resources.Devices).
func (d DeviceSpec) CgroupRules() []specs.LinuxDeviceCgroup {
	out := make([]specs.LinuxDeviceCgroup, 0, len(d.Nodes))
	for _, n := range d.Nodes {
		major, minor := n.Major, n.Minor
		out = append(out, specs.LinuxDeviceCgroup{Allow: true, Type: "c", Major: &major, Minor: &minor,
			Access: "rwm"})
	}
	return out
}

// DeviceFinder looks up what a container needs for a GPU. The zero value
// looks at the real host.
type DeviceFinder struct {
	// DevRoot is the folder holding the device nodes. Empty: /dev.
	DevRoot string

	// CDIDirs are the folders holding CDI specs. Nil: DefaultCDIDirs.
	CDIDirs []string
}

// ContainerDevices says what a container needs to use GPU index on this
// host; see DeviceFinder.Devices.
func ContainerDevices(index int) (DeviceSpec, error) {
	return DeviceFinder{}.Devices(index)
}

// Devices returns the CDI name of GPU index when a CDI spec of kind
// nvidia.com/gpu names it; otherwise the device nodes /dev/nvidia<index>,
// /dev/nvidiactl, /dev/nvidia-uvm and /dev/nvidia-uvm-tools (those that
// exist) with NVIDIA_VISIBLE_DEVICES=<index> and a warning that the driver
// libraries are not injected. It fails when /dev/nvidia<index> is missing.
func (f DeviceFinder) Devices(index int) (DeviceSpec, error) {
	if index < 0 {
		return DeviceSpec{}, fmt.Errorf("%w: device %d is negative", ErrBadRequest, index)
	}
	spec := DeviceSpec{Index: index}

	names, err := f.cdiNames()
	if err != nil {
		spec.Warnings = append(spec.Warnings, err.Error())
	}
	if slices.Contains(names, strconv.Itoa(index)) {
		spec.CDIDevices = []string{CDIKind + "=" + strconv.Itoa(index)}
		return spec, nil
	}

	root := f.DevRoot
	if root == "" {
		root = "/dev"
	}
	gpuNode := "nvidia" + strconv.Itoa(index)
	for _, name := range []string{gpuNode, "nvidiactl", "nvidia-uvm", "nvidia-uvm-tools"} {
		n, err := readNode(root, name)
		switch {
		case errors.Is(err, fs.ErrNotExist) && name != gpuNode:
			continue
		case err != nil:
			return DeviceSpec{}, fmt.Errorf("GPU %d: %w", index, err)
		}
		spec.Nodes = append(spec.Nodes, n)
	}
	spec.Env = []string{"NVIDIA_VISIBLE_DEVICES=" + strconv.Itoa(index)}
	spec.Warnings = append(spec.Warnings, fmt.Sprintf("no CDI spec names %s=%d (install the NVIDIA "+
		"Container Toolkit and run `nvidia-ctk cdi generate`): the container gets the device nodes "+
		"but not the driver libraries, so the image must bring a matching libcuda/libnvidia-ml",
		CDIKind, index))
	return spec, nil
}

// readNode stats root/name, which must be a character device.
func readNode(root, name string) (DeviceNode, error) {
	host := filepath.Join(root, name)
	var st unix.Stat_t
	if err := unix.Stat(host, &st); err != nil {
		return DeviceNode{}, &fs.PathError{Op: "stat", Path: host, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFCHR {
		return DeviceNode{}, fmt.Errorf("%s is not a character device", host)
	}
	return DeviceNode{
		Path:     "/dev/" + name,
		HostPath: host,
		Major:    int64(unix.Major(uint64(st.Rdev))),
		Minor:    int64(unix.Minor(uint64(st.Rdev))),
		FileMode: fs.FileMode(st.Mode & 0o777),
		UID:      st.Uid,
		GID:      st.Gid,
	}, nil
}

// cdiNames returns the device names of every nvidia.com/gpu CDI spec in
// the CDI folders. Unreadable specs are reported but do not hide others.
func (f DeviceFinder) cdiNames() ([]string, error) {
	dirs := f.CDIDirs
	if dirs == nil {
		dirs = DefaultCDIDirs
	}
	var names []string
	var errs []error
	for _, dir := range dirs {
		entries, err := os.ReadDir(dir)
		if err != nil {
			continue // a missing folder just means no specs
		}
		for _, e := range entries {
			ext := filepath.Ext(e.Name())
			if e.IsDir() || (ext != ".yaml" && ext != ".yml" && ext != ".json") {
				continue
			}
			path := filepath.Join(dir, e.Name())
			b, err := os.ReadFile(path)
			if err != nil {
				errs = append(errs, fmt.Errorf("CDI spec %s: %w", path, err))
				continue
			}
			kind, devs, err := ParseCDISpec(b)
			if err != nil {
				errs = append(errs, fmt.Errorf("CDI spec %s: %w", path, err))
				continue
			}
			if kind == CDIKind {
				names = append(names, devs...)
			}
		}
	}
	return names, errors.Join(errs...)
}

// ParseCDISpec reads the kind and the device names of a CDI spec, JSON or
// the YAML the NVIDIA Container Toolkit writes. YAML is read by its
// top-level "kind:" and the "- name:" entries of the top-level
// "devices:" list, which is all ventapp needs; it is not a YAML parser.
func ParseCDISpec(b []byte) (kind string, devices []string, err error) {
	if t := bytes.TrimSpace(b); len(t) > 0 && t[0] == '{' {
		var spec struct {
			Kind    string `json:"kind"`
			Devices []struct {
				Name string `json:"name"`
			} `json:"devices"`
		}
		if err := json.Unmarshal(t, &spec); err != nil {
			return "", nil, fmt.Errorf("not valid JSON: %w", err)
		}
		for _, d := range spec.Devices {
			devices = append(devices, d.Name)
		}
		return spec.Kind, devices, nil
	}
	return parseCDIYAML(b)
}

// parseCDIYAML implements the YAML half of ParseCDISpec.
func parseCDIYAML(b []byte) (kind string, devices []string, err error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	inDevices := false
	itemIndent := -1
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), " \t\r")
		trimmed := strings.TrimLeft(line, " ")
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		indent := len(line) - len(trimmed)

		if indent == 0 && !strings.HasPrefix(trimmed, "-") {
			key, val, _ := strings.Cut(trimmed, ":")
			inDevices, itemIndent = key == "devices", -1
			if key == "kind" {
				kind = unquote(val)
			}
			continue
		}
		if !inDevices {
			continue
		}
		if item, ok := strings.CutPrefix(trimmed, "- "); ok && (itemIndent < 0 || indent == itemIndent) {
			itemIndent = indent
			if v, ok := strings.CutPrefix(strings.TrimSpace(item), "name:"); ok {
				devices = append(devices, unquote(v))
			}
			continue
		}
		if v, ok := strings.CutPrefix(trimmed, "name:"); ok && indent == itemIndent+2 {
			devices = append(devices, unquote(v))
		}
	}
	if err := sc.Err(); err != nil {
		return "", nil, fmt.Errorf("reading YAML: %w", err)
	}
	if kind == "" {
		return "", nil, errors.New("no top-level kind")
	}
	return kind, devices, nil
}

// unquote trims a YAML scalar and its quotes.
func unquote(v string) string {
	v = strings.TrimSpace(v)
	if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
		return v[1 : len(v)-1]
	}
	return v
}
