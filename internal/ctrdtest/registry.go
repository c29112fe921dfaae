package ctrdtest

import (
	"context"
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

// StartRegistry runs Debian's docker-registry on a free loopback port with
// its storage in a temporary folder, and returns "127.0.0.1:port". The
// registry stops when the test ends. The test is skipped when the package
// is not installed.
func StartRegistry(tb testing.TB) string {
	tb.Helper()
	bin, err := exec.LookPath("docker-registry")
	if err != nil {
		tb.Skip("skipping: docker-registry is not installed (apt-get install docker-registry)")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()

	dir := tb.TempDir()
	cfg := filepath.Join(dir, "config.yml")
	text := fmt.Sprintf("version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: %s\n"+
		"  delete:\n    enabled: true\nhttp:\n  addr: %s\n", filepath.Join(dir, "data"), addr)
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", cfg)
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })

	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get("http://" + addr + "/v2/"); err == nil {
			resp.Body.Close()
			return addr
		}
		time.Sleep(100 * time.Millisecond)
	}
	tb.Fatalf("registry on %s did not answer", addr)
	return ""
}

// PushImage pushes the image ref from c's namespace (in ctx) to the
// registry reference remote, over plain HTTP.
func PushImage(tb testing.TB, ctx context.Context, c *client.Client, ref, remote string) {
	tb.Helper()
	img, err := c.GetImage(ctx, ref)
	if err != nil {
		tb.Fatal(err)
	}
	resolver := docker.NewResolver(docker.ResolverOptions{
		Hosts: docker.ConfigureDefaultRegistries(docker.WithPlainHTTP(docker.MatchLocalhost)),
	})
	if err := c.Push(ctx, remote, img.Target(), client.WithResolver(resolver)); err != nil {
		tb.Fatalf("push %s: %v", remote, err)
	}
}
