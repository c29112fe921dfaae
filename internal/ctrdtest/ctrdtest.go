// Package ctrdtest starts a private containerd daemon for tests.
//
// Each daemon gets its own root, state, sockets and FIFO folder under a
// temporary directory and a namespace of its own, so tests never touch a
// containerd that the host already runs. Tests that need one call Start,
// which skips the test (with a message saying why) when the process is not
// root or when the containerd and runc binaries are missing.
package ctrdtest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/client"
)

// Daemon is a running private containerd.
type Daemon struct {
	// Address is the gRPC socket path to dial.
	Address string

	// Namespace is a containerd namespace unique to this daemon.
	Namespace string

	// Dir is the temporary directory that holds everything the daemon writes.
	Dir string

	// FIFODir is where task stdio FIFOs should be created, instead of the
	// shared /run/containerd/fifo.
	FIFODir string

	cmd    *exec.Cmd
	log    *bytes.Buffer
	config string
}

var seq atomic.Int64

// Available reports whether a private containerd can be started here, and if
// not, why.
func Available() (bool, string) {
	if os.Geteuid() != 0 {
		return false, "containerd tests need root"
	}
	for _, bin := range []string{"containerd", "runc"} {
		if _, err := exec.LookPath(bin); err != nil {
			return false, fmt.Sprintf("%s not installed (apt-get install containerd runc)", bin)
		}
	}
	return true, ""
}

// Start launches a containerd daemon private to tb and stops it when the
// test ends. It skips the test when containerd cannot run here.
func Start(tb testing.TB) *Daemon {
	tb.Helper()

	if ok, why := Available(); !ok {
		tb.Skipf("skipping: %s", why)
	}

	// Unix socket paths are limited to 108 bytes, so keep the directory short
	// rather than using tb.TempDir, whose names grow with the test name.
	dir, err := os.MkdirTemp("", "ctrd")
	if err != nil {
		tb.Fatal(err)
	}
	d, err := start(dir)
	if err != nil {
		os.RemoveAll(dir)
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		d.Stop()
		if tb.Failed() {
			log := d.log.String()
			if len(log) > 4000 {
				log = "…" + log[len(log)-4000:]
			}
			tb.Logf("containerd log (end):\n%s", log)
		}
		os.RemoveAll(dir)
	})
	return d
}

func start(dir string) (*Daemon, error) {
	n := seq.Add(1)
	d := &Daemon{
		Address:   filepath.Join(dir, "c.sock"),
		Namespace: fmt.Sprintf("ventapp-test-%d-%d", os.Getpid(), n),
		Dir:       dir,
		FIFODir:   filepath.Join(dir, "fifo"),
		log:       &bytes.Buffer{},
	}
	if err := os.MkdirAll(d.FIFODir, 0o700); err != nil {
		return nil, err
	}

	config := fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = ["io.containerd.grpc.v1.cri"]

[grpc]
  address = %q

[ttrpc]
  address = %q

[debug]
  address = %q
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), d.Address,
		filepath.Join(dir, "t.sock"), filepath.Join(dir, "d.sock"))
	cfgPath := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(cfgPath, []byte(config), 0o600); err != nil {
		return nil, err
	}

	d.config = cfgPath
	if err := d.launch(); err != nil {
		return nil, err
	}
	return d, nil
}

// launch starts the containerd process and waits until it answers.
func (d *Daemon) launch() error {
	d.cmd = exec.Command("containerd", "--config", d.config)
	d.cmd.Stdout = d.log
	d.cmd.Stderr = d.log
	if err := d.cmd.Start(); err != nil {
		return fmt.Errorf("start containerd: %w", err)
	}

	if err := d.waitReady(15 * time.Second); err != nil {
		d.Stop()
		return fmt.Errorf("%w\n%s", err, d.log.String())
	}
	return nil
}

// Restart starts a stopped daemon again on the same socket and state, as
// when containerd comes back after going away. Containers that ran before
// the stop are gone with their shims.
func (d *Daemon) Restart(tb testing.TB) {
	tb.Helper()
	d.Stop()
	if err := d.launch(); err != nil {
		tb.Fatal(err)
	}
}

func (d *Daemon) waitReady(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(d.Address); err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			c, err := client.New(d.Address)
			if err == nil {
				_, err = c.Version(ctx)
				c.Close()
			}
			cancel()
			if err == nil {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("containerd at %s not ready after %s", d.Address, limit)
}

// Client dials the daemon. The caller closes it.
func (d *Daemon) Client(tb testing.TB) *client.Client {
	tb.Helper()
	c, err := client.New(d.Address, client.WithDefaultNamespace(d.Namespace))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// Stop terminates the daemon and waits for it to exit. Shims the daemon
// started are killed too, so no container outlives the test.
func (d *Daemon) Stop() {
	if d.cmd == nil || d.cmd.Process == nil {
		return
	}
	d.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { d.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		d.cmd.Process.Kill()
		<-done
	}
	killShims(d.Namespace)
	d.cmd = nil
}

// killShims ends containerd-shim processes that were started for namespace.
func killShims(namespace string) {
	out, err := exec.Command("pgrep", "-f", "containerd-shim.*-namespace "+namespace+" ").Output()
	if err != nil {
		return
	}
	for _, pid := range strings.Fields(string(out)) {
		exec.Command("kill", "-9", pid).Run()
	}
}

// Log returns what the daemon printed so far.
func (d *Daemon) Log() string { return d.log.String() }
