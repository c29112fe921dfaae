package containers

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/contrib/seccomp"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/cdi"
	"github.com/containerd/containerd/v2/pkg/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// LabelKey and LabelValue mark every container Run creates, and its rootfs
// snapshot, so that Sweep can find them after a crash.
const (
	LabelKey   = "ventapp"
	LabelValue = "1"
)

// Mount is a bind mount from the host into the container.
type Mount struct {
	// Source is an absolute host path.
	Source string

	// Target is the absolute path inside the container; plugins get their
	// input directory at the same path as on the host.
	Target string

	// ReadOnly mounts the source read-only; the default is read-write.
	ReadOnly bool
}

// Spec describes one container run.
type Spec struct {
	// ID is the container id, chosen by the caller and unique in the
	// namespace, e.g. "ventapp-job-000000000042-1". It also names the rootfs
	// snapshot.
	ID string

	// Image is the image reference in the namespace.
	Image string

	// Args is the command. Empty: the image's ENTRYPOINT followed by its CMD.
	// Otherwise, with ReplaceCmd false, Args is the full argv and the image's
	// ENTRYPOINT and CMD are ignored.
	Args []string

	// ReplaceCmd makes Args replace only the image's CMD; its ENTRYPOINT is
	// kept in front, as `docker run image args...` does. Plugins are run this
	// way: vent passed the input file path as the command.
	ReplaceCmd bool

	// Env holds KEY=value entries added to, or replacing, the image's.
	Env []string

	// Mounts are bind mounts (rbind) into the container.
	Mounts []Mount

	// Labels are set on the container in addition to the image's labels and
	// LabelKey=LabelValue.
	Labels map[string]string

	// HostNetwork shares the host's network namespace (and /etc/hosts and
	// /etc/resolv.conf). The default is a fresh namespace holding only lo.
	HostNetwork bool

	// NoSeccomp leaves out containerd's default seccomp profile. The
	// profile blocks syscalls plugins have no use for (kernel modules,
	// mount, ptrace of other processes, …) but runc compiles it for every
	// container, which costs roughly 15–35 ms per run on a 2-core machine.
	NoSeccomp bool

	// MemoryBytes limits memory (swap included); 0 means no limit. A process
	// that exceeds it is killed by the kernel and Result.OOMKilled is set.
	MemoryBytes int64

	// PidsLimit limits the number of processes and threads; 0 means no limit.
	PidsLimit int64

	// User is "uid", "uid:gid", "name" or "name:group", resolved in the image.
	// Empty: the image's user, else root.
	User string

	// WorkingDir overrides the image's working directory.
	WorkingDir string

	// Devices are device nodes to create in the container, and DeviceRules
	// the cgroup rules that allow them (a GPU job's /dev/nvidia* nodes).
	Devices     []specs.LinuxDevice
	DeviceRules []specs.LinuxDeviceCgroup

	// CDIDevices are Container Device Interface names (such as
	// nvidia.com/gpu=0) injected from the CDI specs on the host (/etc/cdi,
	// /var/run/cdi): device nodes, mounts, hooks and environment, as the
	// vendor's toolkit describes them.
	CDIDevices []string

	// Timeout kills every process of the container with SIGKILL when it
	// expires and sets Result.TimedOut. 0 means no timeout.
	Timeout time.Duration

	// BeforeStart, when set, is called once the task exists (runc has made
	// its mounts and changed its root) and before its process runs, with
	// that process's host pid; an error ends the run as ErrStart and the
	// task is deleted without having run anything.
	BeforeStart func(pid uint32) error

	// Stdout and Stderr, when set, are called once per output line without
	// the newline. The slice is only valid during the call. Lines longer than
	// MaxLine are cut and marked; an unfinished last line is delivered when
	// the container exits. Calls for one stream are sequential; the two
	// streams are read concurrently. Nil discards the stream.
	Stdout, Stderr func(line []byte)
}

// Result is how a container run ended.
type Result struct {
	// ExitCode is the exit status of the container's first process; 128+n
	// when it was killed by signal n (137 for SIGKILL).
	ExitCode int

	// OOMKilled reports that the kernel killed a process of the container
	// for exceeding Spec.MemoryBytes.
	OOMKilled bool

	// TimedOut reports that Spec.Timeout expired and the container was
	// killed.
	TimedOut bool

	// StartedAt and FinishedAt bound the run: task start and process exit.
	StartedAt, FinishedAt time.Time
}

// validate checks what containerd would otherwise reject with a less clear
// message, or accept wrongly.
func (s *Spec) validate() error {
	if s.ID == "" {
		return fmt.Errorf("%w: empty container id", ErrInvalidSpec)
	}
	if s.Image == "" {
		return fmt.Errorf("%w: container %s: empty image reference", ErrInvalidSpec, s.ID)
	}
	for _, m := range s.Mounts {
		if !filepath.IsAbs(m.Source) || !filepath.IsAbs(m.Target) {
			return fmt.Errorf("%w: container %s: mount %q -> %q: paths must be absolute",
				ErrInvalidSpec, s.ID, m.Source, m.Target)
		}
	}
	if s.MemoryBytes < 0 || s.PidsLimit < 0 || s.Timeout < 0 {
		return fmt.Errorf("%w: container %s: negative limit", ErrInvalidSpec, s.ID)
	}
	return nil
}

// specOpts turns s into OCI spec options, applied after containerd's default
// spec (default capabilities, masked and read-only /proc paths, private
// pid, ipc, uts, mount and network namespaces).
func (s *Spec) specOpts(img client.Image) []oci.SpecOpts {
	var opts []oci.SpecOpts

	// Command: image defaults, CMD replaced, or a full argv.
	switch {
	case len(s.Args) == 0:
		opts = append(opts, oci.WithImageConfig(img))
	case s.ReplaceCmd:
		opts = append(opts, oci.WithImageConfigArgs(img, s.Args))
	default:
		opts = append(opts, oci.WithImageConfig(img), oci.WithProcessArgs(s.Args...))
	}
	if len(s.Env) > 0 {
		opts = append(opts, oci.WithEnv(s.Env))
	}
	if s.User != "" {
		opts = append(opts, oci.WithUser(s.User))
	}
	if s.WorkingDir != "" {
		opts = append(opts, oci.WithProcessCwd(s.WorkingDir))
	}

	// Filesystem.
	if len(s.Mounts) > 0 {
		mounts := make([]specs.Mount, 0, len(s.Mounts))
		for _, m := range s.Mounts {
			mode := "rw"
			if m.ReadOnly {
				mode = "ro"
			}
			mounts = append(mounts, specs.Mount{
				Type:        "bind",
				Source:      m.Source,
				Destination: m.Target,
				Options:     []string{"rbind", mode},
			})
		}
		opts = append(opts, oci.WithMounts(mounts))
	}

	// Confinement.
	opts = append(opts, oci.WithNoNewPrivileges)
	if !s.NoSeccomp {
		opts = append(opts, seccomp.WithDefaultProfile())
	}
	if s.HostNetwork {
		opts = append(opts, oci.WithHostNamespace(specs.NetworkNamespace),
			oci.WithHostHostsFile, oci.WithHostResolvconf)
	}
	if s.MemoryBytes > 0 {
		opts = append(opts, oci.WithMemoryLimit(uint64(s.MemoryBytes)), oci.WithMemorySwap(s.MemoryBytes))
	}
	if s.PidsLimit > 0 {
		opts = append(opts, oci.WithPidsLimit(s.PidsLimit))
	}
	if len(s.Devices) > 0 || len(s.DeviceRules) > 0 {
		opts = append(opts, withDevices(s.Devices, s.DeviceRules))
	}
	if len(s.CDIDevices) > 0 {
		opts = append(opts, cdi.WithCDIDevices(s.CDIDevices...))
	}
	return opts
}

// withDevices adds device nodes and the cgroup rules that allow them.
func withDevices(devs []specs.LinuxDevice, rules []specs.LinuxDeviceCgroup) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		if s.Linux == nil {
			s.Linux = &specs.Linux{}
		}
		if s.Linux.Resources == nil {
			s.Linux.Resources = &specs.LinuxResources{}
		}
		s.Linux.Devices = append(s.Linux.Devices, devs...)
		s.Linux.Resources.Devices = append(s.Linux.Resources.Devices, rules...)
		return nil
	}
}
