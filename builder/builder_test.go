package builder

import (
	"archive/tar"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestBuildScratchRuns(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name       string
		dockerfile string
		args       []string // override the image's command when set
		want       string
	}{
		{
			name: "exec form",
			dockerfile: "FROM scratch\nCOPY busybox /bin/busybox\n" +
				"ENTRYPOINT [\"/bin/busybox\", \"echo\"]\nCMD [\"hello from scratch\"]\n",
			want: "hello from scratch\n",
		},
		{
			name: "shell form sees ENV and WORKDIR",
			dockerfile: "FROM scratch\nCOPY busybox /bin/sh\nENV GREETING=\"hi there\"\n" +
				"WORKDIR /srv/app\nCMD echo \"$GREETING\" in $(pwd)\n",
			want: "hi there in /srv/app\n",
		},
		{
			name: "copied files are readable",
			dockerfile: "FROM scratch\nCOPY busybox /bin/\nCOPY data/ /data/\n" +
				"ENTRYPOINT [\"/bin/busybox\", \"cat\", \"/data/a.txt\", \"/data/sub/b.txt\"]\n",
			want: "alpha\nbeta\n",
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			copyBusybox(t, dir, "busybox")
			writeFiles(t, dir, map[string]string{"data/a.txt": "alpha\n", "data/sub/b.txt": "beta\n"})
			tag := "ventapp-test/run" + string(rune('a'+i)) + ":latest"
			e.mustBuild(t, dir, tt.dockerfile, tag, nil)

			out, code := e.run(t, tag, tt.args...)
			if code != 0 || out != tt.want {
				t.Fatalf("run %s: exit %d, output %q; want exit 0, %q", tag, code, out, tt.want)
			}
		})
	}
}

func TestConfig(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name       string
		dockerfile string
		opts       func(*Options)
		check      func(t *testing.T, cfg configView)
	}{
		{
			name: "env both forms and expansion",
			dockerfile: "FROM scratch\nENV A=1 B=\"two words\"\nENV LEGACY some value\n" +
				"ENV A=x C=$A\nENV D=${B}-${LEGACY}\n",
			check: func(t *testing.T, c configView) {
				want := []string{defaultPath, "A=x", "B=two words", "LEGACY=some value", "C=1",
					"D=two words-some value"}
				if !slices.Equal(c.Env, want) {
					t.Errorf("Env = %q, want %q", c.Env, want)
				}
			},
		},
		{
			name: "workdir relative and labels",
			dockerfile: "FROM scratch\nWORKDIR /a\nWORKDIR b/c\n" +
				"LABEL x=1 \"y z\"=\"2 3\"\nLABEL vent.name=mine\n",
			opts: func(o *Options) {
				o.Labels = map[string]string{"vent": "", "vent.name": "pcap-summary", "vent.groups": "pcap"}
			},
			check: func(t *testing.T, c configView) {
				if c.WorkingDir != "/a/b/c" {
					t.Errorf("WorkingDir = %q", c.WorkingDir)
				}
				want := map[string]string{"x": "1", "y z": "2 3", "vent": "", "vent.name": "pcap-summary",
					"vent.groups": "pcap"}
				if !mapsEqual(c.Labels, want) {
					t.Errorf("Labels = %v, want %v", c.Labels, want)
				}
			},
		},
		{
			name: "cmd shell form and entrypoint",
			dockerfile: "FROM scratch\nCMD [\"old\"]\nENTRYPOINT [\"/bin/tool\", \"-v\"]\n" +
				"CMD run --fast $HOME\n",
			check: func(t *testing.T, c configView) {
				if !slices.Equal(c.Entrypoint, []string{"/bin/tool", "-v"}) {
					t.Errorf("Entrypoint = %q", c.Entrypoint)
				}
				if !slices.Equal(c.Cmd, []string{"/bin/sh", "-c", "run --fast $HOME"}) {
					t.Errorf("Cmd = %q", c.Cmd)
				}
			},
		},
		{
			name: "arg defaults, build args, expose, user, volume",
			dockerfile: "ARG BASE=scratch\nFROM $BASE\nARG PORT=80\nARG WHO\nARG UNSET\nARG TARGETARCH\n" +
				"EXPOSE $PORT 53/udp 7000-7002\nUSER ${WHO:-nobody}\nVOLUME [\"/data\", \"/logs/$PORT\"]\n" +
				"LABEL unset=\"[$UNSET]\" arch=$TARGETARCH\nMAINTAINER someone\n",
			opts: func(o *Options) {
				o.BuildArgs = map[string]string{"WHO": "1000:1000", "PORT": "8080"}
				o.Platform = "linux/arm64"
			},
			check: func(t *testing.T, c configView) {
				ports := sortedKeys(c.ExposedPorts)
				want := []string{"53/udp", "7000/tcp", "7001/tcp", "7002/tcp", "8080/tcp"}
				if !slices.Equal(ports, want) {
					t.Errorf("ExposedPorts = %q, want %q", ports, want)
				}
				if c.User != "1000:1000" {
					t.Errorf("User = %q", c.User)
				}
				if v := sortedKeys(c.Volumes); !slices.Equal(v, []string{"/data", "/logs/8080"}) {
					t.Errorf("Volumes = %q", v)
				}
				if c.Labels["unset"] != "[]" || c.Labels["arch"] != "arm64" {
					t.Errorf("Labels = %v", c.Labels)
				}
				if c.Architecture != "arm64" || c.Author != "someone" {
					t.Errorf("Architecture = %q, Author = %q", c.Architecture, c.Author)
				}
				if slices.ContainsFunc(c.Env, func(s string) bool { return strings.HasPrefix(s, "PORT=") }) {
					t.Errorf("ARG leaked into Env: %q", c.Env)
				}
			},
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			tag := "ventapp-test/config" + string(rune('a'+i)) + ":latest"
			res := e.mustBuild(t, dir, tt.dockerfile, tag, tt.opts)
			img := e.config(t, res)
			tt.check(t, configView{ImageConfig: img.Config, Architecture: img.Architecture,
				Author: img.Author})

			if len(img.History) != strings.Count(tt.dockerfile, "\n")-countPrefix(tt.dockerfile) {
				t.Errorf("history has %d entries for %q", len(img.History), tt.dockerfile)
			}
		})
	}
}

func TestReproducible(t *testing.T) {
	e1 := newEnv(t)
	e2 := newEnv(t)
	const dockerfile = "FROM scratch\nCOPY busybox /bin/busybox\nCOPY tree/ /opt/tree/\nENV X=1\n" +
		"WORKDIR /work\nENTRYPOINT [\"/bin/busybox\"]\n"
	makeContext := func(mtime time.Time) string {
		dir := t.TempDir()
		copyBusybox(t, dir, "busybox")
		writeFiles(t, dir, map[string]string{"tree/a": "1", "tree/b/c": "2", "tree/l": "->a"})
		for _, p := range []string{"busybox", "tree/a", "tree/b/c", "tree/b", "tree"} {
			if err := os.Chtimes(filepath.Join(dir, p), mtime, mtime); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}

	dirA := makeContext(time.Now())
	dirB := makeContext(time.Unix(1e9, 0))
	first := e1.mustBuild(t, dirA, dockerfile, "ventapp-test/repro:1", nil)
	builds := []struct {
		name string
		e    *env
		dir  string
	}{
		{"same daemon, same context", e1, dirA},
		{"same daemon, other context and mtimes", e1, dirB},
		{"fresh daemon", e2, dirB},
	}
	for _, b := range builds {
		t.Run(b.name, func(t *testing.T) {
			res := b.e.mustBuild(t, b.dir, dockerfile, "ventapp-test/repro:2", nil)
			if res.Digest != first.Digest || res.ConfigDigest != first.ConfigDigest {
				t.Fatalf("digest %s / config %s, want %s / %s", res.Digest, res.ConfigDigest,
					first.Digest, first.ConfigDigest)
			}
			if res.Layers != 3 {
				t.Fatalf("Layers = %d, want 3", res.Layers)
			}
		})
	}

	// Changing one byte of input changes the digest.
	writeFiles(t, dirB, map[string]string{"tree/a": "9"})
	if res := e1.mustBuild(t, dirB, dockerfile, "ventapp-test/repro:3", nil); res.Digest == first.Digest {
		t.Fatalf("changed input kept digest %s", res.Digest)
	}
}

func TestCopyLayout(t *testing.T) {
	e := newEnv(t)
	files := map[string]string{
		"app.py": "print(1)", "lib/a.py": "a", "lib/b.txt": "b", "lib/deep/c.py": "c",
		"notes.log": "log", "keep.log": "keep", "secret/key": "k", "cache/x": "x",
		".dockerignore": "*.log\n!keep.log\nsecret\ncache/\n",
	}
	tests := []struct {
		name     string
		copyLine string
		want     map[string]string // entry name -> "uid:gid mode" or "" for any
		absent   []string
	}{
		{
			name:     "dockerignore on whole context",
			copyLine: "COPY . /app/",
			want: map[string]string{"app/": "", "app/app.py": "", "app/keep.log": "", "app/lib/deep/c.py": "",
				"app/.dockerignore": "", "app/Dockerfile": ""},
			absent: []string{"app/notes.log", "app/secret/", "app/secret/key", "app/cache/", "app/cache/x"},
		},
		{
			name:     "glob into directory with chown",
			copyLine: "COPY --chown=1000:2000 lib/*.py *.py /dst/",
			want: map[string]string{"dst/": "1000:2000 755", "dst/a.py": "1000:2000 644",
				"dst/app.py": ""},
			absent: []string{"dst/b.txt", "dst/deep/"},
		},
		{
			name:     "directory copied recursively with chmod",
			copyLine: "COPY --chmod=600 --chown=7 lib /opt/lib",
			want: map[string]string{"opt/": "7:7 755", "opt/lib/": "7:7 755", "opt/lib/deep/": "7:7 600",
				"opt/lib/deep/c.py": "7:7 600", "opt/lib/b.txt": ""},
		},
		{
			name:     "file to a new name and relative to workdir",
			copyLine: "WORKDIR /w\nCOPY app.py renamed.py",
			want:     map[string]string{"w/renamed.py": "0:0 644"},
		},
		{
			name:     "ignored file named directly is absent",
			copyLine: "COPY app.py *.log /x/",
			want:     map[string]string{"x/app.py": "", "x/keep.log": ""},
			absent:   []string{"x/notes.log"},
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, files)
			tag := "ventapp-test/layout" + string(rune('a'+i)) + ":latest"
			res := e.mustBuild(t, dir, "FROM scratch\n"+tt.copyLine+"\n", tag, nil)
			hdrs := e.layerHeaders(t, res, res.Layers-1)
			got := headerMap(hdrs)
			for name, attrs := range tt.want {
				h, ok := got[name]
				if !ok {
					t.Errorf("missing %s in %v", name, names(hdrs))
					continue
				}
				if attrs != "" && ownerMode(h) != attrs {
					t.Errorf("%s: %s, want %s", name, ownerMode(h), attrs)
				}
			}
			for _, name := range tt.absent {
				if _, ok := got[name]; ok {
					t.Errorf("%s should be excluded", name)
				}
			}
			for _, h := range hdrs {
				if !h.ModTime.Equal(time.Unix(0, 0)) || h.Uname != "" || h.Gname != "" {
					t.Errorf("%s: mtime %v uname %q gname %q", h.Name, h.ModTime, h.Uname, h.Gname)
				}
			}
			if !slices.IsSortedFunc(hdrs, func(a, b *tar.Header) int {
				return strings.Compare(strings.TrimSuffix(a.Name, "/"), strings.TrimSuffix(b.Name, "/"))
			}) {
				t.Errorf("entries not sorted: %v", names(hdrs))
			}
		})
	}
}

func TestFromEarlierImage(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	copyBusybox(t, dir, "busybox")
	writeFiles(t, dir, map[string]string{"one.txt": "one\n", "two.txt": "two\n", "link": "->/opt/real"})
	base := e.mustBuild(t, dir, "FROM scratch\nCOPY busybox /bin/busybox\nCOPY link /data\n"+
		"ENV BASE=1 PATH=/bin\nLABEL tier=base\nENTRYPOINT [\"/bin/busybox\"]\nCMD [\"true\"]\n",
		"ventapp-test/base:latest", nil)

	// /data is a link to /opt/real in the base image, so the file lands there.
	child := e.mustBuild(t, dir, "FROM ventapp-test/base\nENV CHILD=$BASE-2\nCOPY one.txt two.txt /data/\n",
		"ventapp-test/child:latest", nil)

	cfg := e.config(t, child)
	baseCfg := e.config(t, base)
	if child.Layers != base.Layers+1 {
		t.Fatalf("child has %d layers, base %d", child.Layers, base.Layers)
	}
	if !slices.Equal(cfg.RootFS.DiffIDs[:base.Layers], baseCfg.RootFS.DiffIDs) {
		t.Errorf("child does not start with the base layers")
	}
	if !slices.Contains(cfg.Config.Env, "BASE=1") || !slices.Contains(cfg.Config.Env, "CHILD=1-2") {
		t.Errorf("Env = %q", cfg.Config.Env)
	}
	if cfg.Config.Labels["tier"] != "base" || !slices.Equal(cfg.Config.Cmd, []string{"true"}) {
		t.Errorf("inherited config lost: %+v", cfg.Config)
	}
	if len(cfg.History) != len(baseCfg.History)+2 {
		t.Errorf("history %d entries, base %d", len(cfg.History), len(baseCfg.History))
	}
	if _, ok := headerMap(e.layerHeaders(t, child, child.Layers-1))["opt/real/one.txt"]; !ok {
		t.Errorf("COPY through the image's /data link did not land in /opt/real")
	}

	out, code := e.run(t, "ventapp-test/child:latest",
		"/bin/busybox", "cat", "/data/one.txt", "/opt/real/two.txt")
	if code != 0 || out != "one\ntwo\n" {
		t.Fatalf("run child: exit %d, output %q", code, out)
	}
}

func TestSymlinksInContext(t *testing.T) {
	e := newEnv(t)
	outside := t.TempDir()
	writeFiles(t, outside, map[string]string{"secret": "do not copy"})
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"abs":          "->" + filepath.Join(outside, "secret"),
		"tree/up":      "->../../" + filepath.Base(outside),
		"tree/file":    "f",
		"linkdir":      "->" + outside,
		"sub/inner.go": "x",
	})

	res := e.mustBuild(t, dir, "FROM scratch\nCOPY abs /abs\nCOPY tree /tree\n",
		"ventapp-test/links:latest", nil)
	all := headerMap(append(e.layerHeaders(t, res, 0), e.layerHeaders(t, res, 1)...))
	wantLink := filepath.Join(outside, "secret")
	if h := all["abs"]; h == nil || h.Typeflag != tar.TypeSymlink || h.Linkname != wantLink {
		t.Errorf("abs: %+v, want a symlink to the outside path", h)
	}
	if h := all["tree/up"]; h == nil || h.Typeflag != tar.TypeSymlink {
		t.Errorf("tree/up: %+v, want a symlink", h)
	}
	for name, h := range all {
		if strings.Contains(name, "secret") && h.Typeflag == tar.TypeReg {
			t.Errorf("file from outside the context copied as %s", name)
		}
	}

	// A source path that goes through a linked directory is refused.
	_, err := e.build(t, dir, "FROM scratch\nCOPY linkdir/secret /s\n", "ventapp-test/links:2", nil)
	if !errors.Is(err, ErrOutsideContext) || !strings.HasPrefix(err.Error(), "Dockerfile:2: COPY:") {
		t.Fatalf("err = %v, want ErrOutsideContext at line 2", err)
	}
}

func TestBuildErrors(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name       string
		dockerfile string
		opts       func(*Options)
		want       error
		msg        string // exact message, or a fragment when it starts with "~"
	}{
		{"run without a shell", "FROM scratch\nENV A=1\nRUN echo hi\n", nil, ErrRun,
			"~Dockerfile:3: RUN echo hi: cannot run build step"},
		{"add missing", "FROM scratch\n\n\nADD x /x\n", nil, ErrNotFound,
			"Dockerfile:4: ADD: no such file: x"},
		{"add remote", "FROM scratch\nADD http://example.com/x /x\n", nil, ErrRemoteURL,
			"Dockerfile:2: ADD http://example.com/x: remote URLs are not supported on an offline " +
				"appliance; download the file into the build context"},
		{"copy from missing image", "FROM scratch\nCOPY --from=build /a /b\n", nil, ErrBaseImage,
			"~Dockerfile:2: COPY --from=build: build: base image not available"},
		{"copy from later stage", "FROM scratch\nCOPY --from=1 /a /b\nFROM scratch\nCOPY --from=0 / /\n",
			nil, ErrNotFound,
			"Dockerfile:2: COPY --from=1: no such file: no stage 1 before this one"},
		{"unknown target", "FROM scratch AS a\n", func(o *Options) { o.Target = "b" }, ErrOptions,
			"~Target \"b\""},
		{"run mount", "FROM scratch\nRUN --mount=type=secret true\n", nil, ErrUnsupported,
			"Dockerfile:2: RUN --mount is not supported by this builder yet"},
		{"missing source", "FROM scratch\nENV A=1\nCOPY foo /foo\n", nil, ErrNotFound,
			"Dockerfile:3: COPY: no such file: foo"},
		{"escaping source", "FROM scratch\nCOPY ../x /x\n", nil, ErrOutsideContext,
			"~Dockerfile:2: COPY: path is outside the build context: ../x"},
		{"unknown instruction", "FROM scratch\nFROBNICATE now\n", nil, ErrSyntax,
			"~Dockerfile:2: syntax error: unknown instruction FROBNICATE"},
		{"no from", "ENV A=1\n", nil, ErrSyntax, "~Dockerfile:1: syntax error"},
		{"bad json", "FROM scratch\nCMD [\"a\", 1]\n", nil, ErrSyntax, "~Dockerfile:2:"},
		{"chown by name", "FROM scratch\nCOPY --chown=app Dockerfile /\n", nil, ErrUnsupported,
			"~Dockerfile:2: COPY --chown=app: user names"},
		{"missing base", "FROM alpine:3.19\nCOPY Dockerfile /\n", nil, ErrBaseImage,
			"~import it with `ventapp images import`"},
		{"copy over file", "FROM scratch\nCOPY Dockerfile /f\nCOPY Dockerfile /f/g\n", nil, ErrDestination,
			"~Dockerfile:3: COPY: invalid destination: /f exists"},
		{"missing dockerfile", "", func(o *Options) { o.Dockerfile = "/nonexistent/Dockerfile.x" },
			ErrNotFound, "dockerfile /nonexistent/Dockerfile.x: no such file"},
		{"missing context", "FROM scratch\n", func(o *Options) { o.ContextDir = "/nonexistent/ctx" },
			ErrNotFound, "build context /nonexistent/ctx: no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			_, err := e.build(t, dir, tt.dockerfile, "ventapp-test/err:latest", tt.opts)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if frag, ok := strings.CutPrefix(tt.msg, "~"); ok {
				if !strings.Contains(err.Error(), frag) {
					t.Fatalf("err = %q, want it to contain %q", err, frag)
				}
			} else if err.Error() != tt.msg {
				t.Fatalf("err = %q, want %q", err, tt.msg)
			}
		})
	}
}

func TestRebuildWritesNothing(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"a": "1", "b/c": "2"})
	const df = "FROM scratch\nCOPY . /ctx/\n"
	first := e.mustBuild(t, dir, df, "ventapp-test/cache:latest", nil)

	// An unchanged rebuild gives the same result and stores no new blob.
	count := func() int {
		n := 0
		if err := e.c.ContentStore().Walk(e.ctx, func(_ contentInfo) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := count()
	second := e.mustBuild(t, dir, df, "ventapp-test/cache:latest", nil)
	if second != first {
		t.Fatalf("rebuild gave %+v, want %+v", second, first)
	}
	if after := count(); after != before {
		t.Fatalf("rebuild added blobs: %d -> %d", before, after)
	}
}

// TestWholeBuildCache checks that with a CacheDir an unchanged rebuild
// returns the image it made without building, and that any changed input,
// or a tag moved by a build without the cache, builds again.
func TestWholeBuildCache(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"a": "1"})
	const df = "FROM scratch\nCOPY a /a\n"
	const tag = "ventapp-test/whole:latest"
	cacheDir := t.TempDir()
	var steps []string
	withCache := func(o *Options) {
		o.CacheDir = cacheDir
		o.Progress = func(s string) { steps = append(steps, s) }
	}
	cached := func() bool {
		return len(steps) == 1 && strings.Contains(steps[0], "Using cached image")
	}

	first := e.mustBuild(t, dir, df, tag, withCache)
	if cached() {
		t.Fatal("the first build came from the cache")
	}

	steps = nil
	if again := e.mustBuild(t, dir, df, tag, withCache); again != first || !cached() {
		t.Fatalf("unchanged rebuild: %+v (steps %q), want %+v from the cache", again, steps, first)
	}

	// A changed input builds again.
	writeFiles(t, dir, map[string]string{"a": "2"})
	steps = nil
	changed := e.mustBuild(t, dir, df, tag, withCache)
	if cached() || changed.Digest == first.Digest {
		t.Fatalf("changed input: %+v (steps %q)", changed, steps)
	}

	// The tag moves through a build without the cache; going back to the
	// first inputs must not return the moved tag's image.
	writeFiles(t, dir, map[string]string{"a": "1"})
	steps = nil
	if back := e.mustBuild(t, dir, df, tag, withCache); back.Digest != first.Digest {
		t.Fatalf("back to the first inputs: %s, want %s", back.Digest, first.Digest)
	}
	writeFiles(t, dir, map[string]string{"a": "3"})
	other := e.mustBuild(t, dir, df, tag, nil)
	writeFiles(t, dir, map[string]string{"a": "1"})
	steps = nil
	res := e.mustBuild(t, dir, df, tag, withCache)
	if res.Digest != first.Digest || res.Digest == other.Digest {
		t.Errorf("after the tag moved: %s, want %s (not %s)", res.Digest, first.Digest, other.Digest)
	}
}
