package containers

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/remotes/docker"
)

// startRegistry runs Debian's docker-registry on a free loopback port
// with its storage in a temporary folder, and returns "127.0.0.1:port".
// The test is skipped when the package is not installed.
func startRegistry(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("docker-registry")
	if err != nil {
		t.Skip("skipping: docker-registry is not installed (apt-get install docker-registry)")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()

	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yml")
	text := fmt.Sprintf("version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: %s\n"+
		"  delete:\n    enabled: true\nhttp:\n  addr: %s\n", filepath.Join(dir, "data"), addr)
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", cfg)
	cmd.Stdout, cmd.Stderr = testWriter{t}, testWriter{t}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })

	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get("http://" + addr + "/v2/"); err == nil {
			resp.Body.Close()
			return addr
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("registry on %s did not answer", addr)
	return ""
}

// pushImage pushes the local image ref to the registry under remote,
// over plain HTTP.
func pushImage(t *testing.T, c *Client, ref, remote string) {
	t.Helper()
	ctx := c.nsCtx(context.Background())
	img, err := c.cli.GetImage(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	resolver := docker.NewResolver(docker.ResolverOptions{
		Hosts: docker.ConfigureDefaultRegistries(docker.WithPlainHTTP(docker.MatchLocalhost)),
	})
	if err := c.cli.Push(ctx, remote, img.Target(), client.WithResolver(resolver)); err != nil {
		t.Fatalf("push %s: %v", remote, err)
	}
}

func TestPull(t *testing.T) {
	e := newEnv(t)
	reg := startRegistry(t)
	ctx := context.Background()

	remote := reg + "/tools/busybox:1"
	pushImage(t, e.c, testImage, remote)

	info, err := e.c.Pull(ctx, remote, PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if info.Name != remote || info.Digest == "" || info.Size <= 0 {
		t.Errorf("pulled: %+v", info)
	}
	// The pulled image runs.
	var out output
	res, err := e.c.Run(ctx, out.spec(Spec{ID: "pulled", Image: remote, Args: []string{"echo", "pulled ok"}}))
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("run pulled image: %+v, %v", res, err)
	}
	if stdout, _ := out.lines(); len(stdout) != 1 || stdout[0] != "pulled ok" {
		t.Errorf("output %q", stdout)
	}

	tests := []struct {
		name, ref string
	}{
		{"unknown tag", reg + "/tools/busybox:nope"},
		{"unknown repository", reg + "/tools/none:1"},
		{"registry down", "127.0.0.1:1/tools/busybox:1"},
		{"bad reference", "UPPER/Case::x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.c.Pull(ctx, tt.ref, PullOptions{})
			if !errors.Is(err, ErrPull) {
				t.Errorf("err %v, want ErrPull", err)
			}
		})
	}
	if err := e.c.RemoveImage(ctx, remote); err != nil {
		t.Fatal(err)
	}
}
