package builder

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/ulikunitz/xz"

	"github.com/ventapp/ventapp/internal/ctrdtest"
)

// busyboxBase stores ctrdtest's busybox image as ventapp-test/busybox.
func (e *env) busyboxBase(tb testing.TB) string {
	tb.Helper()
	const ref = "ventapp-test/busybox:latest"
	ctrdtest.BusyboxImage(tb, e.c, ref)
	return ref
}

// activeSnapshots counts the active snapshots left in the namespace.
func (e *env) activeSnapshots(tb testing.TB) int {
	tb.Helper()
	n := 0
	err := e.c.SnapshotService(Snapshotter).Walk(e.ctx, func(_ context.Context, info snapshots.Info) error {
		if info.Kind == snapshots.KindActive {
			n++
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

func TestRun(t *testing.T) {
	e := newEnv(t)
	base := e.busyboxBase(t)
	hostLinks, _ := os.ReadDir("/sys/class/net")

	tests := []struct {
		name       string
		dockerfile string
		args       []string
		want       string
	}{
		{
			name: "shell form with ENV, ARG and WORKDIR",
			dockerfile: "FROM " + base + "\nARG WHO=arg\nENV GREETING=hello\nWORKDIR /srv\n" +
				"RUN echo \"$GREETING $WHO from $(pwd)\" > out.txt\n",
			args: []string{"cat", "/srv/out.txt"},
			want: "hello arg from /srv\n",
		},
		{
			name:       "exec form is not expanded",
			dockerfile: "FROM " + base + "\nENV X=1\nRUN [\"/bin/sh\", \"-c\", \"echo '$X' $X > /x\"]\n",
			args:       []string{"cat", "/x"},
			want:       "$X 1\n",
		},
		{
			name: "user and deletion",
			dockerfile: "FROM " + base + "\nRUN mkdir -m 777 /out && rm /bin/yes\nUSER 1000:1000\n" +
				"RUN id -u > /out/uid && id -g >> /out/uid\n",
			args: []string{"sh", "-c", "cat /out/uid; test -e /bin/yes || echo gone"},
			want: "1000\n1000\ngone\n",
		},
		{
			name: "shell instruction",
			dockerfile: "FROM " + base + "\nSHELL [\"/bin/env\", \"MARK=shell\", \"/bin/sh\", \"-c\"]\n" +
				"RUN echo $MARK > /shell\nCMD cat /shell\n",
			want: "shell\n",
		},
		{
			name:       "no network by default",
			dockerfile: "FROM " + base + "\nRUN ls /sys/class/net > /links\n",
			args:       []string{"cat", "/links"},
			want:       "lo\n",
		},
		{
			name:       "host network when asked",
			dockerfile: "FROM " + base + "\nRUN --network=host ls /sys/class/net | wc -l > /links\n",
			args:       []string{"cat", "/links"},
			want:       fmt.Sprintf("%d\n", len(hostLinks)),
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			tag := fmt.Sprintf("ventapp-test/run%d:latest", i)
			var progress []string
			res := e.mustBuild(t, dir, tt.dockerfile, tag, func(o *Options) {
				o.FIFODir = e.d.FIFODir
				o.Progress = func(s string) { progress = append(progress, s) }
			})
			out, code := e.run(t, tag, tt.args...)
			if code != 0 || out != tt.want {
				t.Fatalf("run %s: exit %d, output %q; want %q", tag, code, out, tt.want)
			}

			// The runtime's mount points are not part of the RUN layers.
			for l := 1; l < res.Layers; l++ {
				for _, h := range e.layerHeaders(t, res, l) {
					switch strings.TrimSuffix(h.Name, "/") {
					case "proc", "sys", "dev", "run", "etc", "etc/hosts", "etc/resolv.conf":
						t.Errorf("layer %d holds the mount point %s", l, h.Name)
					}
					if h.ModTime.Unix() != 0 {
						t.Errorf("layer %d: %s has mtime %v", l, h.Name, h.ModTime)
					}
				}
			}
			if !slices.ContainsFunc(progress, func(s string) bool { return strings.HasPrefix(s, "Step ") }) {
				t.Errorf("no progress steps: %q", progress)
			}
		})
	}
	if n := e.activeSnapshots(t); n != 0 {
		t.Errorf("%d active snapshots left", n)
	}
}

func TestRunWhiteoutAndOutput(t *testing.T) {
	e := newEnv(t)
	base := e.busyboxBase(t)
	var progress []string
	res := e.mustBuild(t, t.TempDir(), "FROM "+base+"\nRUN rm /bin/yes && echo said-hello\n",
		"ventapp-test/wh:latest", func(o *Options) {
			o.Progress = func(s string) { progress = append(progress, s) }
			o.FIFODir = e.d.FIFODir
		})
	hdrs := headerMap(e.layerHeaders(t, res, res.Layers-1))
	if _, ok := hdrs["bin/.wh.yes"]; !ok {
		t.Errorf("no whiteout for /bin/yes in %v", sortedKeys(hdrs))
	}
	if !slices.Contains(progress, " | said-hello") {
		t.Errorf("RUN output not in progress: %q", progress)
	}
}

// slowWriter holds each write for a while, as a busy machine may.
type slowWriter struct {
	syncBuffer
	delay time.Duration
}

func (w *slowWriter) Write(p []byte) (int, error) {
	time.Sleep(w.delay)
	return w.syncBuffer.Write(p)
}

// TestRunOutputSlowReader: output the process wrote before it exited is
// all read, even when the reader is still busy with an earlier part then.
func TestRunOutputSlowReader(t *testing.T) {
	e := newEnv(t)
	base := e.busyboxBase(t)
	out := &slowWriter{delay: 500 * time.Millisecond}
	e.mustBuild(t, t.TempDir(), "FROM "+base+"\nRUN echo one; sleep 0.2; echo two\n",
		"ventapp-test/slow:latest", func(o *Options) {
			o.FIFODir = e.d.FIFODir
			o.Output = out
		})
	if got := out.String(); got != "one\ntwo\n" {
		t.Errorf("RUN output %q, want both lines", got)
	}
}

func TestRunFailure(t *testing.T) {
	e := newEnv(t)
	base := e.busyboxBase(t)
	df := "FROM " + base + "\nENV A=1\nRUN echo first line && \\\n  echo oops >&2 && exit 3\n"
	_, err := e.build(t, t.TempDir(), df, "ventapp-test/fail:latest", func(o *Options) {
		o.FIFODir = e.d.FIFODir
	})
	var re *RunError
	if !errors.Is(err, ErrRunFailed) || !errors.As(err, &re) {
		t.Fatalf("err = %v, want a RunError", err)
	}
	wantHead := "Dockerfile:3: RUN echo first line &&   echo oops >&2 && exit 3: exit code 3"
	if re.ExitCode != 3 || !strings.HasPrefix(err.Error(), wantHead) {
		t.Errorf("err = %q, want it to start with %q", err, wantHead)
	}
	// stdout and stderr are read separately, so their order may change.
	if got := slices.Sorted(slices.Values(re.Output)); !slices.Equal(got, []string{"first line", "oops"}) {
		t.Errorf("Output = %q", re.Output)
	}
	if _, gerr := e.c.GetImage(e.ctx, "ventapp-test/fail:latest"); gerr == nil {
		t.Errorf("a failed build tagged an image")
	}
	if n := e.activeSnapshots(t); n != 0 {
		t.Errorf("%d active snapshots left", n)
	}
}

func TestRunReproducibleAndCached(t *testing.T) {
	e := newEnv(t)
	base := e.busyboxBase(t)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"in.txt": "input\n"})
	cache := t.TempDir()
	df := "FROM " + base + "\nARG V=1\nCOPY in.txt /in.txt\n" +
		"RUN mkdir /a && cat /in.txt > /a/f && echo $V > /a/v\n" +
		"RUN touch /a/g && ln /a/f /a/hard\nCMD [\"cat\", \"/a/f\", \"/a/v\"]\n"
	opts := func(o *Options) { o.FIFODir = e.d.FIFODir; o.CacheDir = cache }

	first := e.mustBuild(t, dir, df, "ventapp-test/cached:1", opts)
	if out, code := e.run(t, "ventapp-test/cached:1"); code != 0 || out != "input\n1\n" {
		t.Fatalf("run: exit %d, %q", code, out)
	}

	// Without the cache the commands run again, and give the same layers.
	again := e.mustBuild(t, dir, df, "ventapp-test/cached:2", func(o *Options) { o.FIFODir = e.d.FIFODir })
	if again.Digest != first.Digest {
		t.Fatalf("uncached rebuild digest %s, want %s", again.Digest, first.Digest)
	}
	hdrs := headerMap(e.layerHeaders(t, first, first.Layers-1))
	if h := hdrs["a/hard"]; h == nil || h.Typeflag != tar.TypeLink || h.Linkname != "a/f" {
		t.Errorf("a/hard: %+v, want a hard link to a/f", h)
	}

	// With the cache nothing runs.
	before := tasksStarted.Load()
	var progress []string
	cached := e.mustBuild(t, dir, df, "ventapp-test/cached:3", func(o *Options) {
		opts(o)
		o.Progress = func(s string) { progress = append(progress, s) }
	})
	if n := tasksStarted.Load() - before; n != 0 {
		t.Errorf("cached rebuild started %d tasks", n)
	}
	if cached.Digest != first.Digest {
		t.Errorf("cached rebuild digest %s, want %s", cached.Digest, first.Digest)
	}
	if got := slices.Index(progress, " ---> Using cache"); got < 0 {
		t.Errorf("progress does not mention the cache: %q", progress)
	}

	// A changed build argument or input runs again.
	before = tasksStarted.Load()
	e.mustBuild(t, dir, df, "ventapp-test/cached:4", func(o *Options) {
		opts(o)
		o.BuildArgs = map[string]string{"V": "2"}
	})
	writeFiles(t, dir, map[string]string{"in.txt": "changed\n"})
	changed := e.mustBuild(t, dir, df, "ventapp-test/cached:5", opts)
	if n := tasksStarted.Load() - before; n != 4 {
		t.Errorf("changed inputs started %d tasks, want 4", n)
	}
	out, code := e.run(t, "ventapp-test/cached:5")
	if code != 0 || out != "changed\n1\n" || changed.Digest == first.Digest {
		t.Errorf("changed build: exit %d, %q, digest %s", code, out, changed.Digest)
	}
}

func TestAdd(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	files := []struct{ name, body string }{{"top.txt", "top\n"}, {"sub/inner.txt", "inner\n"}}
	var plain bytes.Buffer
	tw := tar.NewWriter(&plain)
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o640, Size: int64(len(f.body)),
			Uid: 33, Gid: 44, Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(f.body))
	}
	tw.WriteHeader(&tar.Header{Name: "../../escape.txt", Mode: 0o644, Typeflag: tar.TypeReg})
	tw.Close()

	var gz, xzBuf bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(plain.Bytes())
	zw.Close()
	xw, err := xz.NewWriter(&xzBuf)
	if err != nil {
		t.Fatal(err)
	}
	xw.Write(plain.Bytes())
	xw.Close()
	var notTar bytes.Buffer
	zw = gzip.NewWriter(&notTar)
	zw.Write([]byte("just text"))
	zw.Close()
	for name, data := range map[string][]byte{"a.tar": plain.Bytes(), "a.tar.gz": gz.Bytes(),
		"a.tar.xz": xzBuf.Bytes(), "text.gz": notTar.Bytes()} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeFiles(t, dir, map[string]string{"plain.txt": "p"})

	tests := []struct {
		line string
		want map[string]string // entry -> "uid:gid mode", "" for any
	}{
		{"ADD a.tar /x/", map[string]string{"x/top.txt": "33:44 640", "x/sub/inner.txt": "",
			"x/escape.txt": ""}},
		{"ADD --chown=5:6 a.tar.gz /y", map[string]string{"y/top.txt": "5:6 640",
			"y/sub/inner.txt": "5:6 640"}},
		{"ADD a.tar.xz /z/", map[string]string{"z/top.txt": "33:44 640"}},
		{"ADD text.gz plain.txt /w/", map[string]string{"w/text.gz": "0:0 644",
			"w/plain.txt": "0:0 644"}},
	}
	for i, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			tag := fmt.Sprintf("ventapp-test/add%d:latest", i)
			res := e.mustBuild(t, dir, "FROM scratch\n"+tt.line+"\n", tag, nil)
			got := headerMap(e.layerHeaders(t, res, 0))
			for name, attrs := range tt.want {
				h, ok := got[name]
				if !ok {
					t.Errorf("missing %s in %v", name, sortedKeys(got))
					continue
				}
				if attrs != "" && ownerMode(h) != attrs {
					t.Errorf("%s: %s, want %s", name, ownerMode(h), attrs)
				}
			}
			for name := range got {
				if strings.Contains(name, "..") || name == "escape.txt" {
					t.Errorf("entry %s escapes the destination", name)
				}
			}
		})
	}
}

func TestMultiStage(t *testing.T) {
	e := newEnv(t)
	base := e.busyboxBase(t)
	dir := t.TempDir()
	df := "ARG BASE=" + base + "\n" +
		"FROM $BASE AS build\nRUN mkdir -p /out/deep && echo built > /out/deep/result && " +
		"ln -s deep/result /out/link && chown 7:8 /out/deep/result\n" +
		"FROM $BASE AS unused\nRUN exit 1\n" +
		"FROM scratch\nCOPY --from=build /bin/busybox /bin/sh\nCOPY --from=0 /out/ /copied/\n" +
		"COPY --from=build /out/link /linked\nCOPY --from=" + base + " /bin/busybox /bin/cat\n" +
		"CMD [\"/bin/cat\", \"/copied/deep/result\", \"/linked\"]\n"
	before := tasksStarted.Load()
	res := e.mustBuild(t, dir, df, "ventapp-test/multi:latest", func(o *Options) { o.FIFODir = e.d.FIFODir })
	if n := tasksStarted.Load() - before; n != 1 {
		t.Errorf("started %d tasks; the unused stage must not run", n)
	}
	if out, code := e.run(t, "ventapp-test/multi:latest"); code != 0 || out != "built\nbuilt\n" {
		t.Fatalf("run: exit %d, %q", code, out)
	}
	if res.Layers != 4 {
		t.Errorf("Layers = %d, want 4 (the final stage's only)", res.Layers)
	}
	hdrs := map[string]*tar.Header{}
	for l := range res.Layers {
		for k, v := range headerMap(e.layerHeaders(t, res, l)) {
			hdrs[k] = v
		}
	}
	if h := hdrs["copied/deep/result"]; h == nil || h.Uid != 7 || h.Gid != 8 {
		t.Errorf("copied/deep/result: %+v, want owner 7:8 kept", h)
	}
	if h := hdrs["copied/link"]; h == nil || h.Typeflag != tar.TypeSymlink {
		t.Errorf("copied/link: %+v, want a symlink inside a copied directory", h)
	}
	if h := hdrs["linked"]; h == nil || h.Typeflag != tar.TypeReg {
		t.Errorf("linked: %+v, want the link's target copied", h)
	}

	// Target builds and tags an earlier stage only.
	tres := e.mustBuild(t, dir, df, "ventapp-test/multi:build", func(o *Options) {
		o.FIFODir = e.d.FIFODir
		o.Target = "build"
	})
	if out, code := e.run(t, "ventapp-test/multi:build", "cat", "/out/link"); code != 0 || out != "built\n" {
		t.Fatalf("run target: exit %d, %q", code, out)
	}
	if tres.Digest == res.Digest {
		t.Errorf("Target gave the last stage")
	}

	// COPY --from a path that leaves the image through a link stays inside.
	hostDir := t.TempDir()
	writeFiles(t, hostDir, map[string]string{"secret": "host only"})
	df2 := "FROM " + base + " AS a\nRUN ln -s ../../../.." + hostDir + " /esc\nFROM scratch\n" +
		"COPY --from=a /esc/secret /p\n"
	_, err := e.build(t, dir, df2, "ventapp-test/multi:esc", func(o *Options) { o.FIFODir = e.d.FIFODir })
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("err = %v, want ErrNotFound (the host's /etc must not be reached)", err)
	}
	if n := e.activeSnapshots(t); n != 0 {
		t.Errorf("%d active snapshots left", n)
	}
}

func TestConfigExtras(t *testing.T) {
	e := newEnv(t)
	df := "FROM scratch\nSHELL [\"/bin/ash\", \"-c\"]\nSTOPSIGNAL SIGINT\n" +
		"HEALTHCHECK --interval=5s --retries=2 CMD wget -q localhost\nONBUILD COPY . /app\n" +
		"CMD echo hi\n"
	res := e.mustBuild(t, t.TempDir(), df, "ventapp-test/extras:1", nil)
	var img imageJSON
	if err := json.Unmarshal(e.blob(t, res.ConfigDigest), &img); err != nil {
		t.Fatal(err)
	}
	c := img.Config
	if c.StopSignal != "SIGINT" || !slices.Equal(c.Shell, []string{"/bin/ash", "-c"}) ||
		!slices.Equal(c.OnBuild, []string{"COPY . /app"}) ||
		!slices.Equal(c.Cmd, []string{"/bin/ash", "-c", "echo hi"}) {
		t.Errorf("config = %+v", c)
	}
	h := c.Healthcheck
	if h == nil || h.Interval.Seconds() != 5 || h.Retries != 2 ||
		!slices.Equal(h.Test, []string{"CMD-SHELL", "wget -q localhost"}) {
		t.Errorf("Healthcheck = %+v", h)
	}

	// A child keeps SHELL and HEALTHCHECK but not the ONBUILD triggers.
	child := e.mustBuild(t, t.TempDir(), "FROM ventapp-test/extras:1\nHEALTHCHECK NONE\n",
		"ventapp-test/extras:2", nil)
	var cimg imageJSON
	if err := json.Unmarshal(e.blob(t, child.ConfigDigest), &cimg); err != nil {
		t.Fatal(err)
	}
	if len(cimg.Config.OnBuild) != 0 || !slices.Equal(cimg.Config.Shell, c.Shell) ||
		!slices.Equal(cimg.Config.Healthcheck.Test, []string{"NONE"}) {
		t.Errorf("child config = %+v", cimg.Config)
	}
}
