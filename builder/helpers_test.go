package builder

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/ventapp/ventapp/internal/ctrdtest"
	"github.com/ventapp/ventapp/internal/taskio"
)

// env is a private containerd with a client and a namespaced context.
type env struct {
	d   *ctrdtest.Daemon
	c   *client.Client
	ctx context.Context
}

// newEnv starts a private containerd and checks, when the test ends, that
// no container is left in its namespace.
func newEnv(tb testing.TB) *env {
	tb.Helper()
	d := ctrdtest.Start(tb)
	e := &env{d: d, c: d.Client(tb)}
	e.ctx = namespaces.WithNamespace(context.Background(), d.Namespace)
	tb.Cleanup(func() {
		ctrs, err := e.c.Containers(e.ctx)
		if err != nil {
			tb.Errorf("list containers: %v", err)
		}
		if len(ctrs) != 0 {
			tb.Errorf("%d containers left in namespace %s", len(ctrs), d.Namespace)
		}
	})
	return e
}

// writeFiles creates files (path -> content) under dir; a content starting
// with "->" makes a symbolic link to the rest.
func writeFiles(tb testing.TB, dir string, files map[string]string) {
	tb.Helper()
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			tb.Fatal(err)
		}
		if len(data) > 2 && data[:2] == "->" {
			if err := os.Symlink(data[2:], p); err != nil {
				tb.Fatal(err)
			}
			continue
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
}

// copyBusybox puts Debian's static busybox into dir under name.
func copyBusybox(tb testing.TB, dir, name string) {
	tb.Helper()
	data, err := os.ReadFile("/bin/busybox")
	if err != nil {
		tb.Skipf("busybox-static not installed: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), data, 0o755); err != nil {
		tb.Fatal(err)
	}
}

// build writes dockerfile into ctxDir and builds it as tag.
func (e *env) build(tb testing.TB, ctxDir, dockerfile, tag string, mod func(*Options)) (Result, error) {
	tb.Helper()
	if err := os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
		tb.Fatal(err)
	}
	opts := Options{ContextDir: ctxDir, Tag: tag}
	if mod != nil {
		mod(&opts)
	}
	return Build(e.ctx, e.c, opts)
}

// mustBuild is build that fails the test on error.
func (e *env) mustBuild(tb testing.TB, ctxDir, dockerfile, tag string, mod func(*Options)) Result {
	tb.Helper()
	res, err := e.build(tb, ctxDir, dockerfile, tag, mod)
	if err != nil {
		tb.Fatalf("build %s: %v", tag, err)
	}
	return res
}

// blob reads a blob from the content store.
func (e *env) blob(tb testing.TB, dgst string) []byte {
	tb.Helper()
	data, err := content.ReadBlob(e.ctx, e.c.ContentStore(), ocispec.Descriptor{Digest: digest.Digest(dgst)})
	if err != nil {
		tb.Fatalf("read blob %s: %v", dgst, err)
	}
	return data
}

// manifest reads a built image's manifest.
func (e *env) manifest(tb testing.TB, res Result) ocispec.Manifest {
	tb.Helper()
	var m ocispec.Manifest
	if err := json.Unmarshal(e.blob(tb, res.Digest), &m); err != nil {
		tb.Fatal(err)
	}
	return m
}

// config reads a built image's config.
func (e *env) config(tb testing.TB, res Result) ocispec.Image {
	tb.Helper()
	var img ocispec.Image
	if err := json.Unmarshal(e.blob(tb, res.ConfigDigest), &img); err != nil {
		tb.Fatal(err)
	}
	return img
}

// layerHeaders lists the tar headers of layer i of a built image, in order.
func (e *env) layerHeaders(tb testing.TB, res Result, i int) []*tar.Header {
	tb.Helper()
	m := e.manifest(tb, res)
	tr := tar.NewReader(bytes.NewReader(e.blob(tb, m.Layers[i].Digest.String())))
	var hdrs []*tar.Header
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return hdrs
		}
		if err != nil {
			tb.Fatal(err)
		}
		hdrs = append(hdrs, h)
	}
}

// headerMap indexes headers by name.
func headerMap(hdrs []*tar.Header) map[string]*tar.Header {
	m := map[string]*tar.Header{}
	for _, h := range hdrs {
		m[h.Name] = h
	}
	return m
}

// syncBuffer is a bytes.Buffer safe for the cio copier goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns what was written.
func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

var runSeq atomic.Int64

// run starts a container from image with the raw containerd client, waits
// for it, deletes it with its snapshot, and returns its output and exit code.
func (e *env) run(tb testing.TB, image string, args ...string) (string, uint32) {
	tb.Helper()
	img, err := e.c.GetImage(e.ctx, image)
	if err != nil {
		tb.Fatalf("get image %s: %v", image, err)
	}
	id := fmt.Sprintf("builder-test-%d", runSeq.Add(1))
	specOpts := []oci.SpecOpts{oci.WithImageConfig(img)}
	if len(args) > 0 {
		specOpts = append(specOpts, oci.WithProcessArgs(args...))
	}
	ctr, err := e.c.NewContainer(e.ctx, id, client.WithImage(img),
		client.WithNewSnapshot(id+"-snap", img), client.WithNewSpec(specOpts...))
	if err != nil {
		tb.Fatalf("create container: %v", err)
	}
	defer func() {
		if err := ctr.Delete(e.ctx, client.WithSnapshotCleanup); err != nil {
			tb.Errorf("delete container: %v", err)
		}
	}()

	var out syncBuffer
	task, err := ctr.NewTask(e.ctx, cio.NewCreator(cio.WithStreams(nil, &out, &out),
		cio.WithFIFODir(e.d.FIFODir)))
	if err != nil {
		tb.Fatalf("create task: %v", err)
	}
	exitCh, err := task.Wait(e.ctx)
	if err != nil {
		tb.Fatalf("wait task: %v", err)
	}
	if err := task.Start(e.ctx); err != nil {
		_, _ = task.Delete(e.ctx)
		tb.Fatalf("start task: %v", err)
	}
	status := <-exitCh
	if !taskio.Drain(task.IO(), 10*time.Second) {
		tb.Errorf("%s: output still open 10s after exit", image)
	}
	if _, err := task.Delete(e.ctx); err != nil {
		tb.Errorf("delete task: %v", err)
	}
	code, _, err := status.Result()
	if err != nil {
		tb.Fatalf("task result: %v", err)
	}
	return out.String(), code
}

// contentInfo is the content store's blob metadata.
type contentInfo = content.Info

// configView is the part of an image config the tests check.
type configView struct {
	ocispec.ImageConfig
	Architecture string
	Author       string
}

// mapsEqual reports whether two string maps hold the same pairs.
func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// sortedKeys returns the keys of m in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// countPrefix returns how many lines of a Dockerfile come up to and
// including its FROM line.
func countPrefix(dockerfile string) int {
	for i, line := range strings.Split(dockerfile, "\n") {
		if strings.HasPrefix(line, "FROM") {
			return i + 1
		}
	}
	return 0
}

// names lists header names.
func names(hdrs []*tar.Header) []string {
	out := make([]string, len(hdrs))
	for i, h := range hdrs {
		out[i] = h.Name
	}
	return out
}

// ownerMode formats a header's owner and permission bits as "uid:gid mode".
func ownerMode(h *tar.Header) string {
	return fmt.Sprintf("%d:%d %o", h.Uid, h.Gid, h.Mode)
}
