package containers

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/opencontainers/image-spec/identity"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
	cdiapi "tags.cncf.io/container-device-interface/pkg/cdi"
)

func TestRunOutputInOrder(t *testing.T) {
	e := newEnv(t)
	var o output
	res, err := e.c.Run(context.Background(), o.spec(Spec{
		ID:    "out",
		Image: testImage,
		Args: []string{"/bin/sh", "-c",
			"echo one; echo err1 >&2; echo two; echo; echo err2 >&2; printf 'no newline'"},
	}))
	if err != nil {
		t.Fatal(err)
	}
	stdout, stderr := o.lines()
	if want := []string{"one", "two", "", "no newline"}; !slices.Equal(stdout, want) {
		t.Errorf("stdout = %q, want %q", stdout, want)
	}
	if want := []string{"err1", "err2"}; !slices.Equal(stderr, want) {
		t.Errorf("stderr = %q, want %q", stderr, want)
	}
	if res.ExitCode != 0 || res.TimedOut || res.OOMKilled {
		t.Errorf("result = %+v", res)
	}
	if res.StartedAt.IsZero() || res.FinishedAt.Before(res.StartedAt.Add(-time.Second)) {
		t.Errorf("times: started %v finished %v", res.StartedAt, res.FinishedAt)
	}
}

func TestRunCommand(t *testing.T) {
	e := newEnv(t)
	const epImage = "test.local/entrypoint:1"
	e.busyboxWith(t, epImage, func(c *ocispec.ImageConfig) {
		c.Entrypoint = []string{"/bin/echo", "ep"}
		c.Cmd = []string{"default cmd"}
	})

	tests := []struct {
		name    string
		image   string
		args    []string
		replace bool
		want    []string
	}{
		{"spaces stay one argument", testImage,
			[]string{"/bin/sh", "-c", `printf '%s\n' "$#" "$1"`, "x", "/data/a b.pcap"},
			false, []string{"1", "/data/a b.pcap"}},
		{"image entrypoint and cmd", epImage, nil, false, []string{"ep default cmd"}},
		{"replace cmd keeps entrypoint", epImage, []string{"/files/a b.pcap"}, true,
			[]string{"ep /files/a b.pcap"}},
		{"full argv ignores entrypoint", epImage, []string{"/bin/echo", "full"}, false,
			[]string{"full"}},
		{"replace cmd without entrypoint", testImage, []string{"/bin/echo", "plain"}, true,
			[]string{"plain"}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var o output
			_, err := e.c.Run(context.Background(), o.spec(Spec{
				ID: fmt.Sprintf("cmd-%d", i), Image: tt.image, Args: tt.args, ReplaceCmd: tt.replace,
			}))
			if err != nil {
				t.Fatal(err)
			}
			if stdout, _ := o.lines(); !slices.Equal(stdout, tt.want) {
				t.Errorf("stdout = %q, want %q", stdout, tt.want)
			}
		})
	}
}

func TestRunEnvUserWorkdir(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name string
		spec Spec
		want []string
	}{
		{"defaults", Spec{}, []string{"0", "/", ""}},
		{"env, numeric user, workdir",
			Spec{Env: []string{"FOO=bar baz"}, User: "65534:65534", WorkingDir: "/tmp"},
			[]string{"65534", "/tmp", "bar baz"}},
		{"user by name", Spec{User: "nobody"}, []string{"65534", "/", ""}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var o output
			s := tt.spec
			s.ID, s.Image = fmt.Sprintf("env-%d", i), testImage
			s.Args = []string{"/bin/sh", "-c", `id -u; pwd; echo "$FOO"`}
			if _, err := e.c.Run(context.Background(), o.spec(s)); err != nil {
				t.Fatal(err)
			}
			if stdout, _ := o.lines(); !slices.Equal(stdout, tt.want) {
				t.Errorf("stdout = %q, want %q", stdout, tt.want)
			}
		})
	}
}

func TestRunBindMount(t *testing.T) {
	e := newEnv(t)
	dir := filepath.Join(t.TempDir(), "drop dir")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	input := filepath.Join(dir, "a b.pcap")
	if err := os.WriteFile(input, []byte("capture data\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	// Read-write: the plugin reads its input and writes an output folder
	// next to it, as vent plugins do.
	var o output
	script := `cat "$1"; d=$(dirname "$1")/tool-out; mkdir "$d" && echo result > "$d/out.txt"`
	res, err := e.c.Run(context.Background(), o.spec(Spec{
		ID: "mount-rw", Image: testImage,
		Args:   []string{"/bin/sh", "-c", script, "x", input},
		Mounts: []Mount{{Source: dir, Target: dir}},
	}))
	if err != nil {
		t.Fatal(err)
	}
	if stdout, stderr := o.lines(); res.ExitCode != 0 || !slices.Equal(stdout, []string{"capture data"}) {
		t.Fatalf("exit %d, stdout %q, stderr %q", res.ExitCode, stdout, stderr)
	}
	got, err := os.ReadFile(filepath.Join(dir, "tool-out", "out.txt"))
	if err != nil || string(got) != "result\n" {
		t.Fatalf("output file: %q, %v", got, err)
	}

	// Read-only: writing fails inside, reading works.
	o = output{}
	res, err = e.c.Run(context.Background(), o.spec(Spec{
		ID: "mount-ro", Image: testImage,
		Args:   []string{"/bin/sh", "-c", `cat "$1" && touch "$1.new"`, "x", input},
		Mounts: []Mount{{Source: dir, Target: "/in", ReadOnly: true}},
	}))
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode == 0 {
		t.Errorf("write to read-only mount succeeded")
	}
}

func TestRunExitCode(t *testing.T) {
	e := newEnv(t)
	res, err := e.c.Run(context.Background(), Spec{
		ID: "exit", Image: testImage, Args: []string{"/bin/sh", "-c", "exit 3"},
	})
	if err != nil {
		t.Fatalf("non-zero exit returned an error: %v", err)
	}
	if res.ExitCode != 3 {
		t.Errorf("exit code = %d, want 3", res.ExitCode)
	}
}

func TestRunTimeout(t *testing.T) {
	e := newEnv(t)
	var o output
	start := time.Now()
	res, err := e.c.Run(context.Background(), o.spec(Spec{
		ID: "timeout", Image: testImage, Timeout: time.Second,
		Args: []string{"/bin/sh", "-c", "echo before; sleep 100 & sleep 100; echo after"},
	}))
	if err != nil {
		t.Fatal(err)
	}
	if !res.TimedOut || res.ExitCode != 137 {
		t.Errorf("result = %+v, want timed out with 137", res)
	}
	if stdout, _ := o.lines(); !slices.Equal(stdout, []string{"before"}) {
		t.Errorf("stdout = %q, want [before]", stdout)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("run took %v", d)
	}
}

func TestRunOOM(t *testing.T) {
	e := newEnv(t)

	// busybox tail keeps an endless line from /dev/zero in memory.
	res, err := e.c.Run(context.Background(), Spec{
		ID: "oom", Image: testImage, MemoryBytes: 32 << 20, Timeout: 60 * time.Second,
		Args: []string{"/bin/tail", "/dev/zero"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !res.OOMKilled || res.ExitCode != 137 || res.TimedOut {
		t.Errorf("result = %+v, want OOM-killed with 137", res)
	}

	// Within the limit nothing is reported.
	res, err = e.c.Run(context.Background(), Spec{
		ID: "no-oom", Image: testImage, MemoryBytes: 32 << 20,
		Args: []string{"/bin/sh", "-c", "head -c 1000000 /dev/zero | wc -c; exit 1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.OOMKilled || res.ExitCode != 1 {
		t.Errorf("result = %+v, want exit 1 without OOM", res)
	}
}

func TestRunPidsLimit(t *testing.T) {
	e := newEnv(t)

	// Count processes with shell builtins only. busybox sh gives up the
	// script when a fork fails.
	script := `for i in $(seq 20); do sleep 2 & done; n=0; ` +
		`for p in /proc/[0-9]*; do n=$((n+1)); done; echo procs $n; wait`
	tests := []struct {
		name       string
		limit      int64
		wantStdout []string
		wantStderr string
	}{
		{"unlimited", 0, []string{"procs 21"}, ""},
		{"limit 6", 6, nil, "can't fork"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var o output
			_, err := e.c.Run(context.Background(), o.spec(Spec{
				ID: fmt.Sprintf("pids-%d", i), Image: testImage, PidsLimit: tt.limit,
				Timeout: 30 * time.Second, Args: []string{"/bin/sh", "-c", script},
			}))
			if err != nil {
				t.Fatal(err)
			}
			stdout, stderr := o.lines()
			gotStderr := strings.Join(stderr, "\n")
			if !slices.Equal(stdout, tt.wantStdout) || !strings.Contains(gotStderr, tt.wantStderr) {
				t.Errorf("stdout = %q, stderr = %q", stdout, stderr)
			}
		})
	}
}

// interfaces returns the interface names in a /proc/net/dev listing.
func interfaces(lines []string) []string {
	var names []string
	for _, l := range lines {
		if name, _, ok := strings.Cut(l, ":"); ok && !strings.Contains(name, "|") {
			names = append(names, strings.TrimSpace(name))
		}
	}
	slices.Sort(names)
	return names
}

func TestRunNetwork(t *testing.T) {
	e := newEnv(t)
	hostDev, err := os.ReadFile("/proc/net/dev")
	if err != nil {
		t.Fatal(err)
	}
	host := interfaces(strings.Split(string(hostDev), "\n"))
	if len(host) < 2 {
		t.Skipf("host has only %q; cannot tell host network from none", host)
	}

	tests := []struct {
		name string
		host bool
		want []string
	}{
		{"default is only lo", false, []string{"lo"}},
		{"host network", true, host},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var o output
			_, err := e.c.Run(context.Background(), o.spec(Spec{
				ID: fmt.Sprintf("net-%d", i), Image: testImage, HostNetwork: tt.host,
				Args: []string{"/bin/cat", "/proc/net/dev"},
			}))
			if err != nil {
				t.Fatal(err)
			}
			stdout, _ := o.lines()
			if got := interfaces(stdout); !slices.Equal(got, tt.want) {
				t.Errorf("interfaces = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestRunConfinement(t *testing.T) {
	e := newEnv(t)
	var o output
	_, err := e.c.Run(context.Background(), o.spec(Spec{
		ID: "confined", Image: testImage,
		Args: []string{"/bin/grep", "-E", "^(NoNewPrivs|Seccomp|CapEff):", "/proc/self/status"},
	}))
	if err != nil {
		t.Fatal(err)
	}
	stdout, _ := o.lines()
	got := strings.Join(stdout, " ")
	for _, want := range []string{"NoNewPrivs:\t1", "Seccomp:\t2", "CapEff:\t00000000a80425fb"} {
		if !strings.Contains(got, want) {
			t.Errorf("status %q lacks %q", got, want)
		}
	}
}

func TestRunLongLine(t *testing.T) {
	e := newEnv(t)
	var o output
	const size = 10_000_000
	res, err := e.c.Run(context.Background(), o.spec(Spec{
		ID: "long", Image: testImage,
		Args: []string{"/bin/sh", "-c",
			fmt.Sprintf(`head -c %d /dev/zero | tr '\0' a; echo; echo next`, size)},
	}))
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("%+v, %v", res, err)
	}
	stdout, _ := o.lines()
	marker := fmt.Sprintf(" …[truncated %d bytes]", size-MaxLine)
	if len(stdout) != 2 || len(stdout[0]) != MaxLine+len(marker) || !strings.HasSuffix(stdout[0], marker) ||
		stdout[1] != "next" {
		t.Fatalf("got %d lines; first %d bytes", len(stdout), len(stdout[0]))
	}
}

func TestRunLabels(t *testing.T) {
	e := newEnv(t)
	const labelled = "test.local/labelled:1"
	e.busyboxWith(t, labelled, func(c *ocispec.ImageConfig) {
		c.Labels = map[string]string{"vent.name": "demo", "job": "from-image"}
	})

	var got map[string]string
	var o output
	// Read the labels while the container exists.
	o.onLine = func(l string) {
		if l != "started" {
			return
		}
		rec, err := e.c.Raw().ContainerService().Get(e.c.nsCtx(context.Background()), "labels")
		if err == nil {
			got = rec.Labels
		}
	}
	_, err := e.c.Run(context.Background(), o.spec(Spec{
		ID: "labels", Image: labelled, Labels: map[string]string{"job": "42"},
		Args: []string{"/bin/sh", "-c", "echo started; sleep 1"},
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"vent.name": "demo", "job": "42", LabelKey: LabelValue}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("label %s = %q, want %q (all: %v)", k, got[k], v, got)
		}
	}
}

func TestRunErrors(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	garbage := filepath.Join(dir, "notbinary")
	if err := os.WriteFile(garbage, []byte("\x01\x02 not an executable\n"), 0o755); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name     string
		spec     Spec
		want     error
		contains string
	}{
		{"missing image", Spec{ID: "e1", Image: "test.local/nope:1"}, ErrImageNotFound, "test.local/nope:1"},
		{"missing binary", Spec{ID: "e2", Image: testImage, Args: []string{"/bin/nope"}},
			ErrStart, "/bin/nope"},
		{"unknown user", Spec{ID: "e4", Image: testImage, User: "nosuchuser"}, ErrStart, "nosuchuser"},
		{"missing mount source", Spec{ID: "e5", Image: testImage, Args: []string{"/bin/true"},
			Mounts: []Mount{{Source: filepath.Join(dir, "gone"), Target: "/x"}}}, ErrStart, "gone"},
		{"no id", Spec{Image: testImage}, ErrInvalidSpec, "id"},
		{"relative mount", Spec{ID: "e6", Image: testImage, Mounts: []Mount{{Source: "rel", Target: "/x"}}},
			ErrInvalidSpec, "rel"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.c.Run(context.Background(), tt.spec)
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.contains) {
				t.Fatalf("err = %v, want %v mentioning %q", err, tt.want, tt.contains)
			}
		})
	}
}

// TestRunExecFormatError pins down how runc 1.1 reports a binary the kernel
// cannot run: not as a start failure, but as exit code 1 with runc's message
// on the container's stderr. Either form is accepted, so a runc that reports
// it at start passes too.
func TestRunExecFormatError(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	garbage := filepath.Join(dir, "notbinary")
	if err := os.WriteFile(garbage, []byte("\x01\x02 not an executable\n"), 0o755); err != nil {
		t.Fatal(err)
	}

	var o output
	res, err := e.c.Run(context.Background(), o.spec(Spec{
		ID: "execfmt", Image: testImage, Args: []string{garbage},
		Mounts: []Mount{{Source: dir, Target: dir}},
	}))
	_, stderr := o.lines()
	switch {
	case err != nil:
		if !errors.Is(err, ErrStart) || !strings.Contains(err.Error(), "exec format error") {
			t.Errorf("err = %v, want ErrStart with exec format error", err)
		}
	case res.ExitCode == 0 || !strings.Contains(strings.Join(stderr, "\n"), "exec format error"):
		t.Errorf("exit %d, stderr %q: exec format error not reported", res.ExitCode, stderr)
	}
}

func TestRunDuplicateID(t *testing.T) {
	e := newEnv(t)
	ctx := e.c.nsCtx(context.Background())
	img, err := e.c.Raw().GetImage(ctx, testImage)
	if err != nil {
		t.Fatal(err)
	}
	other, err := e.c.Raw().NewContainer(ctx, "dup", client.WithNewSnapshot("dup", img),
		client.WithNewSpec(oci.WithImageConfig(img)))
	if err != nil {
		t.Fatal(err)
	}

	_, err = e.c.Run(context.Background(), Spec{ID: "dup", Image: testImage, Args: []string{"/bin/true"}})
	if !errors.Is(err, ErrExists) {
		t.Fatalf("err = %v, want ErrExists", err)
	}

	// The existing container and its snapshot are untouched.
	if _, err := e.c.Raw().SnapshotService(Snapshotter).Stat(ctx, "dup"); err != nil {
		t.Errorf("existing snapshot gone: %v", err)
	}
	if err := other.Delete(ctx, client.WithSnapshotCleanup); err != nil {
		t.Fatal(err)
	}
}

func TestRunCancel(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var o output
	o.onLine = func(l string) {
		if l == "started" {
			// The line can arrive before containerd has answered the start
			// call; give it time, so that usually a running container is
			// killed. Either way the error must be the cancellation.
			time.AfterFunc(300*time.Millisecond, cancel)
		}
	}
	res, err := e.c.Run(ctx, o.spec(Spec{
		ID: "cancel", Image: testImage, Args: []string{"/bin/sh", "-c", "echo started; sleep 100"},
	}))
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrStart) {
		t.Fatalf("err = %v, want context.Canceled only", err)
	}
	if !res.StartedAt.IsZero() && res.ExitCode != 137 {
		t.Errorf("exit code = %d, want 137", res.ExitCode)
	}

	// Already cancelled: nothing is created.
	_, err = e.c.Run(ctx, Spec{ID: "cancel2", Image: testImage})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestRunContainerdStops(t *testing.T) {
	// Stopped at once, containerd usually dies while Run waits for the
	// start call; stopped later, while Run waits for the exit.
	for _, delay := range []time.Duration{0, 500 * time.Millisecond} {
		t.Run(fmt.Sprintf("after %v", delay), func(t *testing.T) {
			e := newEnv(t)
			t.Cleanup(func() { e.forceRemove(t, "stops") })

			// Stop runs beside Run, and must be over before the test's own
			// cleanup stops the daemon again.
			stopped := make(chan struct{})
			var o output
			o.onLine = func(l string) {
				if l == "started" {
					go func() {
						time.Sleep(delay)
						e.d.Stop()
						close(stopped)
					}()
				}
			}

			done := make(chan error, 1)
			go func() {
				_, err := e.c.Run(context.Background(), o.spec(Spec{
					ID: "stops", Image: testImage,
					Args: []string{"/bin/sh", "-c", "echo started; sleep 100"},
				}))
				done <- err
			}()
			select {
			case err := <-done:
				if !errors.Is(err, ErrUnavailable) {
					t.Errorf("err = %v, want ErrUnavailable", err)
				}
				t.Logf("error reported: %v", err)
			case <-time.After(2 * time.Minute):
				t.Fatal("Run did not return after containerd stopped")
			}
			<-stopped

			// Later calls fail the same way.
			_, err := e.c.Run(context.Background(), Spec{ID: "after", Image: testImage})
			if !errors.Is(err, ErrUnavailable) {
				t.Errorf("run after stop: err = %v, want ErrUnavailable", err)
			}
		})
	}
}

func TestConnectUnavailable(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.sock")
	_, err := Connect(context.Background(), Options{Address: missing})
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing socket: err = %v", err)
	}

	// A socket file nobody listens on.
	stale := filepath.Join(dir, "stale.sock")
	if err := os.WriteFile(stale, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = Connect(context.Background(), Options{Address: stale})
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), stale) {
		t.Errorf("dead socket: err = %v", err)
	}
	t.Logf("dead socket refused after %v", time.Since(start))

	_, err = Connect(context.Background(), Options{})
	if !errors.Is(err, ErrUnavailable) {
		t.Errorf("no address: err = %v", err)
	}
}

func TestRunUnpacksImage(t *testing.T) {
	e := newEnv(t)
	ctx := e.c.nsCtx(context.Background())

	// Drop the unpacked layer, as if the image had been imported without
	// unpacking.
	img, err := e.c.Raw().GetImage(ctx, testImage)
	if err != nil {
		t.Fatal(err)
	}
	diffIDs, err := img.RootFS(ctx)
	if err != nil {
		t.Fatal(err)
	}
	layer := identity.ChainID(diffIDs).String()
	if err := e.c.Raw().SnapshotService(Snapshotter).Remove(ctx, layer); err != nil {
		t.Fatal(err)
	}
	if ok, _ := img.IsUnpacked(ctx, Snapshotter); ok {
		t.Fatal("image still unpacked")
	}

	res, err := e.c.Run(context.Background(), Spec{ID: "unpack", Image: testImage,
		Args: []string{"/bin/true"}})
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("%+v, %v", res, err)
	}
}

func TestRunConcurrent(t *testing.T) {
	e := newEnv(t)
	const n = 6
	errs := make(chan error, n)
	for i := range n {
		go func() {
			var o output
			res, err := e.c.Run(context.Background(), o.spec(Spec{
				ID: fmt.Sprintf("par-%d", i), Image: testImage,
				Args: []string{"/bin/sh", "-c", `echo "$1"; exit "$1"`, "x", fmt.Sprint(i)},
			}))
			stdout, _ := o.lines()
			switch {
			case err != nil:
				errs <- err
			case res.ExitCode != i || !slices.Equal(stdout, []string{fmt.Sprint(i)}):
				errs <- fmt.Errorf("run %d: exit %d, stdout %q", i, res.ExitCode, stdout)
			default:
				errs <- nil
			}
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// TestRunDevices gives the container a device node (with /dev/null's
// numbers, as a GPU job gets /dev/nvidiaN) and its cgroup rule, and checks
// the node is there with those numbers and usable.
func TestRunDevices(t *testing.T) {
	e := newEnv(t)
	mode := os.FileMode(0o666)
	zero := uint32(0)
	major, minor := int64(1), int64(3)
	var o output
	_, err := e.c.Run(context.Background(), o.spec(Spec{
		ID: "devices", Image: testImage,
		Args: []string{"/bin/sh", "-c", "stat -c '%t,%T' /dev/ventapp-test && echo x > /dev/ventapp-test && echo ok"},
		Devices: []specs.LinuxDevice{{
			Path: "/dev/ventapp-test", Type: "c", Major: 1, Minor: 3, FileMode: &mode, UID: &zero, GID: &zero,
		}},
		DeviceRules: []specs.LinuxDeviceCgroup{{Allow: true, Type: "c", Major: &major, Minor: &minor, Access: "rwm"}},
	}))
	if err != nil {
		t.Fatal(err)
	}
	if stdout, stderr := o.lines(); !slices.Equal(stdout, []string{"1,3", "ok"}) {
		t.Errorf("stdout = %q (stderr %q), want the node's numbers and ok", stdout, stderr)
	}
}

// TestRunCDIDevices injects a device described by a CDI spec, as the
// NVIDIA Container Toolkit writes them for GPUs; this one only sets an
// environment variable and mounts a file, which is enough to see the spec
// applied.
func TestRunCDIDevices(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	hostFile := filepath.Join(dir, "marker")
	os.WriteFile(hostFile, []byte("from-cdi\n"), 0o644)
	spec := fmt.Sprintf(`cdiVersion: "0.6.0"
kind: ventapp.test/dev
devices:
  - name: one
    containerEdits:
      env:
        - VENTAPP_CDI=one
      mounts:
        - hostPath: %s
          containerPath: /cdi-marker
          options: [ro, bind]
`, hostFile)
	os.WriteFile(filepath.Join(dir, "ventapp-test.yaml"), []byte(spec), 0o644)
	if err := cdiapi.Configure(cdiapi.WithSpecDirs(dir)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cdiapi.Configure(cdiapi.WithSpecDirs(cdiapi.DefaultSpecDirs...)) })

	var o output
	_, err := e.c.Run(context.Background(), o.spec(Spec{
		ID: "cdi", Image: testImage, CDIDevices: []string{"ventapp.test/dev=one"},
		Args: []string{"/bin/sh", "-c", "echo $VENTAPP_CDI; cat /cdi-marker"},
	}))
	if err != nil {
		t.Fatal(err)
	}
	if stdout, stderr := o.lines(); !slices.Equal(stdout, []string{"one", "from-cdi"}) {
		t.Errorf("stdout = %q (stderr %q), want the CDI env and mount", stdout, stderr)
	}

	_, err = e.c.Run(context.Background(), Spec{
		ID: "cdi-missing", Image: testImage, CDIDevices: []string{"ventapp.test/dev=nope"},
		Args: []string{"/bin/true"},
	})
	if err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("unknown CDI device: got %v, want an error naming it", err)
	}
}

// BeforeStart sees the container's mounts in place before its process
// runs, and an error from it stops the run with nothing run.
func TestRunBeforeStart(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	var host, seen unix.Stat_t
	if err := unix.Stat(dir, &host); err != nil {
		t.Fatal(err)
	}

	var o output
	res, err := e.c.Run(context.Background(), o.spec(Spec{
		ID: "before-ok", Image: testImage,
		Args:   []string{"/bin/sh", "-c", `touch "$1/ran"`, "x", "/in"},
		Mounts: []Mount{{Source: dir, Target: "/in"}},
		BeforeStart: func(pid uint32) error {
			if _, err := os.Stat(filepath.Join(dir, "ran")); err == nil {
				t.Error("the process ran before BeforeStart")
			}
			return unix.Stat(fmt.Sprintf("/proc/%d/root/in", pid), &seen)
		},
	}))
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("run: %+v, %v", res, err)
	}
	if seen.Dev != host.Dev || seen.Ino != host.Ino {
		t.Errorf("BeforeStart saw /in as %d/%d, want the mounted folder %d/%d",
			seen.Dev, seen.Ino, host.Dev, host.Ino)
	}

	os.Remove(filepath.Join(dir, "ran"))
	refuse := errors.New("not this folder")
	_, err = e.c.Run(context.Background(), o.spec(Spec{
		ID: "before-refused", Image: testImage,
		Args:        []string{"/bin/sh", "-c", `touch "$1/ran"`, "x", "/in"},
		Mounts:      []Mount{{Source: dir, Target: "/in"}},
		BeforeStart: func(uint32) error { return refuse },
	}))
	if !errors.Is(err, ErrStart) || !errors.Is(err, refuse) {
		t.Errorf("refused run: %v, want %v and %v", err, ErrStart, refuse)
	}
	if _, err := os.Stat(filepath.Join(dir, "ran")); err == nil {
		t.Error("the process of a refused run ran")
	}
}
