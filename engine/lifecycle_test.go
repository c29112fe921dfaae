package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/pkg/namespaces"
	"go.etcd.io/bbolt"

	"github.com/ventapp/ventapp/config"
	"github.com/ventapp/ventapp/containers"
	"github.com/ventapp/ventapp/internal/ctrdtest"
	"github.com/ventapp/ventapp/jobs"
	"github.com/ventapp/ventapp/plugins"
)

const webScript = `echo "web up"; trap 'echo web down; exit 0' TERM; while true; do sleep 0.2; done`

func eventually(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s", limit, what)
}

// containerIDs lists the containers in the engine's namespace.
func (te *testEngine) containerIDs() []string {
	te.t.Helper()
	c, err := te.Containerd()
	if err != nil {
		te.t.Fatal(err)
	}
	ctx := namespaces.WithNamespace(context.Background(), c.Namespace())
	recs, err := c.Raw().ContainerService().List(ctx)
	if err != nil {
		te.t.Fatal(err)
	}
	var ids []string
	for _, r := range recs {
		ids = append(ids, r.ID)
	}
	return ids
}

func TestServiceTools(t *testing.T) {
	te := startEngine(t, "")
	ctx := context.Background()
	te.cfg.ServicesURI = "10.0.0.5"
	te.addPlugin("web", webScript, "instances = 2\n[docker]\nnetwork_mode = host\n"+
		"ports = {'8080/tcp': None, '10443/tcp': ('0.0.0.0', 443)}\n"+
		"[service]\nuri_prefix1 = https://\nuri_postfix1 = /ui\nuri_user1 = admin\nuri_pw1 = secret")
	te.addPlugin("quiet", webScript, "[docker]\nnetwork_mode = none\nports = {'53/udp': None}")
	te.addPlugin("files", `echo x`, "ext_types = .x")
	te.addPlugin("lazy", webScript, "")
	if err := te.SetEnabled("lazy", false); err != nil {
		t.Fatal(err)
	}

	res, err := te.StartTools(ctx, []string{"files", "lazy", "web", "quiet"})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]ToolResult{}
	for _, r := range res {
		got[r.Tool] = r
	}
	if !strings.Contains(got["files"].Error, "processes files") {
		t.Errorf("file tool start: %+v", got["files"])
	}
	if !strings.Contains(got["lazy"].Error, "disabled") {
		t.Errorf("disabled tool start: %+v", got["lazy"])
	}
	want := []string{"ventapp-local-web-latest", "ventapp-local-web-latest2"}
	if r := got["web"]; r.Error != "" || strings.Join(r.Containers, ",") != strings.Join(want, ",") {
		t.Fatalf("web start: %+v", r)
	}

	svcs, err := te.Services(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(svcs) != 3 {
		t.Fatalf("services: %+v", svcs)
	}
	quiet, web := svcs[0], svcs[1]
	if quiet.Tool != "quiet" || quiet.Network != "none" || len(quiet.URIs) != 0 ||
		!strings.Contains(quiet.Note, "53/udp") {
		t.Errorf("quiet: %+v", quiet)
	}
	if web.Network != "host" || len(web.URIs) != 2 || !web.Status.Running {
		t.Fatalf("web: %+v", web)
	}
	// vent's order: the port names sorted as text, so 10443 comes first.
	if u := web.URIs[0]; u.URI != "https://10.0.0.5:10443/ui" || u.User != "admin" || u.Password != "secret" {
		t.Errorf("first URI: %+v", u)
	}
	if u := web.URIs[1]; u.URI != "10.0.0.5:8080" {
		t.Errorf("second URI: %+v", u)
	}

	// Both instances log to their own file.
	eventually(t, 20*time.Second, "web logs", func() bool {
		files, _ := te.ToolLogs("web")
		if len(files) != 2 {
			return false
		}
		for _, f := range files {
			if data, _ := os.ReadFile(f); !strings.Contains(string(data), "web up") {
				return false
			}
		}
		return true
	})
	if _, err := te.ToolLogs("files"); !errors.Is(err, ErrNotService) {
		t.Errorf("logs of a file tool: %v", err)
	}
	data := storedLifecycle(t, te.Engine)
	if !strings.Contains(string(data), `"web":true`) {
		t.Errorf("lifecycle state does not mark web to start again:\n%s", data)
	}

	// Stop: all instances go, the stop is recorded, the log says goodbye.
	if _, err := te.StopTools(ctx, []string{"web"}); err != nil {
		t.Fatal(err)
	}
	files, _ := te.ToolLogs("web")
	if data, _ := os.ReadFile(files[1]); !strings.Contains(string(data), "web down") {
		t.Errorf("second instance was not stopped with SIGTERM: %q", data)
	}
	if ids := te.containerIDs(); len(ids) != 1 || ids[0] != "ventapp-local-quiet-latest" {
		t.Errorf("containers after stop: %q", ids)
	}
	data = storedLifecycle(t, te.Engine)
	if strings.Contains(string(data), `"web":true`) {
		t.Errorf("stopped tool still marked to start:\n%s", data)
	}

	// Start with no names starts every enabled service tool.
	if _, err := te.StartTools(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if ids := te.containerIDs(); len(ids) != 3 {
		t.Errorf("containers after start-all: %q", ids)
	}

	// Clean removes the containers and the logs, those moved aside and
	// those of instances the tool no longer has, and no other tool's.
	webTool, err := te.reg.Get("web")
	if err != nil {
		t.Fatal(err)
	}
	stray := []string{te.serviceLog(containerName(webTool, 1)) + ".1", te.serviceLog(containerName(webTool, 7))}
	other := te.serviceLog(containerName(webTool, 1) + "-other")
	for _, f := range append(stray, other) {
		if err := os.WriteFile(f, []byte("old\n"), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := te.CleanTools(ctx, []string{"web", "quiet"}); err != nil {
		t.Fatal(err)
	}
	if ids := te.containerIDs(); len(ids) != 0 {
		t.Errorf("containers after clean: %q", ids)
	}
	if files, err := te.ToolLogs("web"); len(files) != 0 || !errors.Is(err, ErrNoLog) {
		t.Errorf("logs after clean: %q, %v; want none, ErrNoLog", files, err)
	}
	for _, f := range stray {
		if _, err := os.Stat(f); err == nil {
			t.Errorf("%s left after clean", filepath.Base(f))
		}
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("clean removed another log: %v", err)
	}

	// Remove takes a service's logs with it.
	if _, err := te.StartTools(ctx, []string{"quiet"}); err != nil {
		t.Fatal(err)
	}
	var logs []string
	eventually(t, 20*time.Second, "quiet log", func() bool {
		logs, _ = te.ToolLogs("quiet")
		return len(logs) == 1
	})
	if _, err := te.RemoveTools(ctx, []string{"quiet"}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(logs[0]); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("log %s after remove: %v", logs[0], err)
	}
}

func TestStartOrder(t *testing.T) {
	mk := func(name string, groups []string, prio []int) *plugins.Plugin {
		return &plugins.Plugin{Name: name, Groups: groups, Settings: plugins.Settings{Priority: prio}}
	}
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "vent.cfg")
	os.WriteFile(cfgPath, []byte("[groups]\nstart_order = search, core\n"), 0o600)
	e := &Engine{cfg: &config.Config{Path: cfgPath}}
	list := []*plugins.Plugin{
		mk("redis", []string{"core"}, []int{3}),
		mk("rabbit", []string{"core", "messages"}, []int{1, 1}),
		mk("elastic", []string{"search"}, []int{10}),
		mk("noprio", []string{"core"}, nil),
		mk("alpha", []string{"zeta"}, []int{1}),
		mk("beta", []string{"extra"}, []int{5}),
	}
	var names []string
	for _, p := range e.startOrder(list) {
		names = append(names, p.Name)
	}
	if got := strings.Join(names, ","); got != "elastic,rabbit,redis,beta,alpha,noprio" {
		t.Errorf("start order %s", got)
	}
}

func TestConfigureTool(t *testing.T) {
	te := startEngine(t, "")
	ctx := context.Background()
	te.addPlugin("conf", `echo conf`, "ext_types = .c")
	before, _ := te.Registry().Get("conf")

	tests := []struct {
		name, text string
		want       error
	}{
		{"syntax error", "[info]\nname = conf\nthis line has no equals\n", plugins.ErrTemplate},
		{"bad value", "[info]\nname = conf\n[settings]\ninstances = zero\n", plugins.ErrSetting},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := te.ConfigureTool(ctx, "conf", tt.text); !errors.Is(err, tt.want) {
				t.Fatalf("err %v, want %v", err, tt.want)
			}
			p, _ := te.Registry().Get("conf")
			disk, _ := os.ReadFile(p.TemplatePath)
			if p.Template != before.Template || string(disk) != before.Template {
				t.Error("a refused template changed something")
			}
		})
	}

	text := "[info]\nname = conf\n[settings]\next_types = .d\ninstances = 2\n"
	p, err := te.ConfigureTool(ctx, "conf", text)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(p.Settings.ExtTypes, ",") != ".d" || p.Settings.Instances != 2 {
		t.Errorf("settings after configure: %+v", p.Settings)
	}
	if disk, _ := os.ReadFile(p.TemplatePath); string(disk) != text {
		t.Errorf("template file: %q", disk)
	}
	file := te.dropFile("", "a.d", "x")
	if j := te.waitJob("conf", file, time.Minute); j.State != jobs.Done {
		t.Errorf("job after configure: %s %s", j.State, j.Reason)
	}
	if got, _ := te.ToolTemplate("conf"); got != text {
		t.Errorf("ToolTemplate: %q", got)
	}
}

func gitRun(t *testing.T, dir string, args ...string) {
	t.Helper()
	args = append([]string{"-C", dir, "-c", "user.email=t@example.org", "-c", "user.name=t"}, args...)
	if out, err := exec.Command("git", args...).CombinedOutput(); err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
}

func TestUpdateAndRollback(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("skipping: git is not installed")
	}
	te := startEngine(t, "")
	ctx := context.Background()

	repo := filepath.Join(t.TempDir(), "acme", "versioned")
	dir := filepath.Join(repo, "ver")
	os.MkdirAll(dir, 0o755)
	write := func(version string) {
		os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(fmt.Sprintf(
			"FROM %s\nENTRYPOINT [\"/bin/sh\", \"-c\", \"echo %s\", \"p\"]\n", baseImage, version)), 0o644)
		os.WriteFile(filepath.Join(dir, "vent.template"), []byte("[info]\nname = ver\n[settings]\next_types = .v\n"), 0o644)
	}
	write("v1")
	gitRun(t, repo, "init", "-q", "-b", "main")
	gitRun(t, repo, "add", ".")
	gitRun(t, repo, "commit", "-q", "-m", "v1")

	if _, err := te.AddRepo(ctx, plugins.RepoOptions{URL: "file://" + repo}, nil); err != nil {
		t.Fatal(err)
	}
	runs := 0
	runOnce := func(want string) {
		t.Helper()
		runs++
		file := te.dropFile("", fmt.Sprintf("f%d.v", runs), "x")
		j := te.waitJob("ver", file, time.Minute)
		if j.State != jobs.Done || len(j.LogTail) == 0 || j.LogTail[0] != "stdout: "+want {
			t.Fatalf("job: %s %s %q, want output %s", j.State, j.Reason, j.LogTail, want)
		}
	}
	runOnce("v1")

	res, err := te.UpdateTools(ctx, []string{"ver"}, nil)
	if err != nil || len(res) != 1 || !strings.HasPrefix(res[0].Done, "up to date") {
		t.Fatalf("update with no new commit: %+v, %v", res, err)
	}

	write("v2")
	gitRun(t, repo, "commit", "-q", "-am", "v2")
	res, err = te.UpdateTools(ctx, []string{"ver"}, nil)
	if err != nil || res[0].Error != "" || !strings.HasPrefix(res[0].Done, "updated") {
		t.Fatalf("update: %+v, %v", res, err)
	}
	runOnce("v2")
	p, _ := te.Registry().Get("ver")
	c, _ := te.Containerd()
	if ok, _ := c.ImageExists(ctx, previousRef(p.Image)); !ok {
		t.Errorf("previous image %s not kept", previousRef(p.Image))
	}

	rb, err := te.RollbackTool(ctx, "ver")
	if err != nil || !strings.HasPrefix(rb.Done, "rolled back") {
		t.Fatalf("rollback: %+v, %v", rb, err)
	}
	runOnce("v1")
	if _, err := te.RollbackTool(ctx, "ver"); !errors.Is(err, ErrNoPrevious) {
		t.Errorf("second rollback: %v", err)
	}

	// The clone went back too: a rebuild builds v1, not the newer files.
	p, _ = te.Registry().Get("ver")
	if data, _ := os.ReadFile(filepath.Join(p.Dir, "Dockerfile")); !strings.Contains(string(data), "echo v1") {
		t.Errorf("clone after rollback holds:\n%s", data)
	}
	if r, err := te.BuildPlugin(ctx, "ver", nil); err != nil || r.Error != "" {
		t.Fatalf("rebuild after rollback: %+v, %v", r, err)
	}
	runOnce("v1")

	// A configured template stays in force over an update, and in the
	// template file too.
	configured := "# configured here\n[info]\nname = ver\n[settings]\next_types = .v\n"
	if _, err := te.ConfigureTool(ctx, "ver", configured); err != nil {
		t.Fatal(err)
	}

	// Update again, then lose the kept image (as after a restore onto a
	// new machine): rollback rebuilds v1 from its commit.
	if res, err = te.UpdateTools(ctx, []string{"ver"}, nil); err != nil || res[0].Error != "" {
		t.Fatalf("second update: %+v, %v", res, err)
	}
	p, _ = te.Registry().Get("ver")
	if disk, _ := os.ReadFile(p.TemplatePath); string(disk) != configured || p.Template != configured {
		t.Errorf("after update the template file holds %q and the registry %q; want the configured text",
			disk, p.Template)
	}
	runOnce("v2")
	p, _ = te.Registry().Get("ver")
	if err := c.RemoveImage(ctx, previousRef(p.Image)); err != nil {
		t.Fatal(err)
	}
	rb, err = te.RollbackTool(ctx, "ver")
	if err != nil || !strings.Contains(rb.Done, "rebuilt") {
		t.Fatalf("rollback without the kept image: %+v, %v", rb, err)
	}
	runOnce("v1")
}

func TestRemoveExportImport(t *testing.T) {
	te := startEngine(t, "")
	ctx := context.Background()
	te.addPlugin("bundled", `echo "bundled ran"`, "ext_types = .b")

	var bundle bytes.Buffer
	if err := te.ExportBundle(ctx, &bundle, []string{"bundled"}); err != nil {
		t.Fatal(err)
	}
	p, _ := te.Registry().Get("bundled")

	// A tool with running jobs cannot be removed.
	te.addPlugin("slow", `sleep 3`, "ext_types = .slow")
	slow := te.dropFile("", "a.slow", "x")
	waitState(t, te, slow, jobs.Running)
	if _, err := te.RemoveTools(ctx, []string{"slow"}); !errors.Is(err, ErrToolBusy) {
		t.Errorf("remove while running: %v", err)
	}

	if _, err := te.RemoveTools(ctx, []string{"bundled"}); err != nil {
		t.Fatal(err)
	}
	if _, err := te.Registry().Get("bundled"); !errors.Is(err, plugins.ErrNotFound) {
		t.Errorf("still registered: %v", err)
	}
	c, _ := te.Containerd()
	if ok, _ := c.ImageExists(ctx, p.Image); ok {
		t.Error("image left after remove")
	}

	// Damaged bundles are refused and leave nothing.
	good := bundle.Bytes()
	flipped := bytes.Clone(good)
	i := bytes.Index(flipped, []byte("bundled ran"))
	flipped[i] = 'B'
	bad := []struct {
		name string
		data []byte
	}{
		{"wrong checksum", flipped},
		{"truncated", good[:len(good)/2]},
		{"not a bundle", []byte("hello")},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := te.ImportBundle(ctx, bytes.NewReader(tt.data)); !errors.Is(err, ErrBundle) {
				t.Errorf("err %v, want ErrBundle", err)
			}
			if _, err := te.Registry().Get("bundled"); err == nil {
				t.Error("a bad bundle registered the tool")
			}
			if ok, _ := c.ImageExists(ctx, p.Image); ok {
				t.Error("a bad bundle left its image")
			}
		})
	}

	// Into another appliance (another containerd and namespace).
	te2 := startEngine(t, "")
	res, err := te2.ImportBundle(ctx, bytes.NewReader(good))
	if err != nil || len(res) != 1 || !res[0].Built {
		t.Fatalf("import: %+v, %v", res, err)
	}
	file := te2.dropFile("", "x.b", "x")
	if j := te2.waitJob("bundled", file, time.Minute); j.State != jobs.Done || j.LogTail[0] != "stdout: bundled ran" {
		t.Errorf("imported tool job: %s %q", j.State, j.LogTail)
	}
	if _, err := te2.ImportBundle(ctx, bytes.NewReader(good)); !errors.Is(err, plugins.ErrExists) {
		t.Errorf("second import: %v", err)
	}
	// The imported folder builds again on this box.
	if r, err := te2.BuildPlugin(ctx, "bundled", nil); err != nil || !r.Built {
		t.Errorf("rebuild of imported tool: %+v, %v", r, err)
	}
}

func TestImagesExportRemove(t *testing.T) {
	te := startEngine(t, "")
	ctx := context.Background()
	te.addPlugin("user", `echo`, "ext_types = .u")
	p, _ := te.Registry().Get("user")

	if err := te.RemoveImage(ctx, p.Image); !errors.Is(err, ErrImageInUse) {
		t.Errorf("remove a tool's image: %v", err)
	}
	var buf bytes.Buffer
	if err := te.ExportImages(ctx, &buf, []string{baseImage}); err != nil {
		t.Fatal(err)
	}
	if err := te.RemoveImage(ctx, baseImage); err != nil {
		t.Fatal(err)
	}
	if err := te.RemoveImage(ctx, baseImage); !errors.Is(err, containers.ErrImageNotFound) {
		t.Errorf("remove twice: %v", err)
	}
	names, err := te.ImportImages(ctx, &buf)
	if err != nil || len(names) != 1 || names[0] != baseImage {
		t.Errorf("import the export: %q, %v", names, err)
	}
}

func TestPullBaseImages(t *testing.T) {
	te := startEngine(t, "")
	reg := ctrdtest.StartRegistry(t)
	ctx := context.Background()
	c, _ := te.Containerd()

	remote := reg + "/base/busybox:1"
	nctx := namespaces.WithNamespace(ctx, c.Namespace())
	img, err := c.Raw().GetImage(nctx, baseImage)
	if err != nil {
		t.Fatal(err)
	}
	_ = img
	ctrdtest.PushImage(t, nctx, c.Raw(), baseImage, remote)

	dir := filepath.Join(t.TempDir(), "pulled")
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM "+remote+" AS base\nFROM base\n"+
		"ENTRYPOINT [\"/bin/sh\", \"-c\", \"echo from the registry\", \"p\"]\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "vent.template"), []byte("[settings]\next_types = .r\n"), 0o644)
	found, err := plugins.LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := baseImages(found[0].Dockerfile); len(got) != 1 || got[0] != remote {
		t.Fatalf("base images %q", got)
	}

	// use_existing_images = yes: only local images, nothing is pulled.
	cfg := *te.Config()
	cfg.UseExistingImages = true
	te.Reload(&cfg)
	te.EnsureBaseImages(ctx, found[0], nil)
	if ok, _ := c.ImageExists(ctx, remote); ok {
		t.Fatal("pulled although use_existing_images = yes")
	}

	cfg.UseExistingImages = false
	te.Reload(&cfg)
	var steps []string
	te.EnsureBaseImages(ctx, found[0], func(s string) { steps = append(steps, s) })
	if ok, _ := c.ImageExists(ctx, remote); !ok {
		t.Fatalf("base image not pulled; progress %q", steps)
	}
	if res, err := te.AddPlugins(ctx, dir, nil); err != nil || !res[0].Built {
		t.Fatalf("build on the pulled base: %+v, %v", res, err)
	}
	file := te.dropFile("", "a.r", "x")
	if j := te.waitJob("pulled", file, time.Minute); j.State != jobs.Done || j.LogTail[0] != "stdout: from the registry" {
		t.Errorf("job: %s %q", j.State, j.LogTail)
	}

	// An unreachable registry is reported, not fatal.
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM 127.0.0.1:1/none:1\n"), 0o644)
	steps = nil
	te.EnsureBaseImages(ctx, found[0], func(s string) { steps = append(steps, s) })
	if len(steps) != 2 || !strings.Contains(steps[1], "failed") {
		t.Errorf("progress for an unreachable registry: %q", steps)
	}
}

// TestServicesComeBackAfterRestart stops the daemon's engine while a
// service tool runs and starts a new engine on the same data dir and
// containerd: the service is started again, as vent's started tools were.
func TestServicesComeBackAfterRestart(t *testing.T) {
	for _, lost := range []bool{false, true} {
		t.Run(fmt.Sprintf("image lost=%v", lost), func(t *testing.T) { servicesComeBack(t, lost) })
	}
}

// servicesComeBack starts a service, stops the daemon and starts a new one
// on the same state. With imageLost the tool's image is removed in between,
// as after a restore onto a new machine: the daemon rebuilds it from its
// source and then starts the service.
func servicesComeBack(t *testing.T, imageLost bool) {
	te := startEngine(t, "")
	te.addPlugin("echoer", webScript, "")
	if res, err := te.StartTools(context.Background(), []string{"echoer"}); err != nil || res[0].Error != "" {
		t.Fatalf("start: %+v %v", res, err)
	}

	// The first daemon stops (its services stop with it).
	te.cancel()
	<-te.done
	te.done <- nil // for the test's cleanup
	if imageLost {
		p, err := te.Registry().Get("echoer")
		if err != nil {
			t.Fatal(err)
		}
		c, err := te.Containerd()
		if err != nil {
			t.Fatal(err)
		}
		if err := c.RemoveImage(context.Background(), p.Image); err != nil {
			t.Fatal(err)
		}
	}
	te.Close()

	e2, err := New(te.Config(), te.log, "test")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e2.Run(ctx, nil) }()
	t.Cleanup(func() { cancel(); <-done; e2.Close() })

	eventually(t, time.Minute, "the service running again", func() bool {
		svcs, err := e2.Services(context.Background())
		return err == nil && len(svcs) == 1 && svcs[0].Tool == "echoer" && svcs[0].Status.Running
	})
}

// storedLifecycle returns the lifecycle state as stored in the job store.
func storedLifecycle(t *testing.T, e *Engine) []byte {
	t.Helper()
	var data []byte
	err := e.store.DB().View(func(tx *bbolt.Tx) error {
		if b := tx.Bucket([]byte(plugins.LifecycleBucket)); b != nil {
			data = bytes.Clone(b.Get([]byte(plugins.LifecycleStateKey)))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestLifecycleStateMigrates imports an old lifecycle.json into the job
// store once, renames it, and keeps an unreadable one in place.
func TestLifecycleStateMigrates(t *testing.T) {
	tests := []struct {
		name        string
		legacy      string // "" writes no file
		wantStarted map[string]bool
		wantRenamed bool
	}{
		{"none", "", map[string]bool{}, false},
		{"imported", `{"started":{"web":true,"old":false},"configured":{"web":"[info]\nname = web\n"}}`,
			map[string]bool{"web": true, "old": false}, true},
		{"not JSON", `{"started":`, map[string]bool{}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfgPath := filepath.Join(dir, "vent.cfg")
			text := fmt.Sprintf("[main]\nfiles = %s\n[ventapp]\ndata_dir = %s\n",
				filepath.Join(dir, "drop"), filepath.Join(dir, "data"))
			if err := os.WriteFile(cfgPath, []byte(text), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg, err := config.Load(cfgPath, "")
			if err != nil {
				t.Fatal(err)
			}
			legacy := filepath.Join(cfg.DataDir, lifecycleFile)
			if tc.legacy != "" {
				if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(legacy, []byte(tc.legacy), 0o600); err != nil {
					t.Fatal(err)
				}
			}

			for round := range 2 { // the second open must not import again
				e, err := New(cfg, slog.New(slog.DiscardHandler), "test")
				if err != nil {
					t.Fatal(err)
				}
				if _, err := os.Stat(cfg.ManifestFile()); err != nil {
					t.Errorf("round %d: vent's manifest not written at start: %v", round, err)
				}
				l := e.lc()
				if !maps.Equal(l.state.Started, tc.wantStarted) {
					t.Errorf("round %d: started %v, want %v", round, l.state.Started, tc.wantStarted)
				}
				if tc.name == "imported" && !strings.Contains(l.state.Configured["web"], "name = web") {
					t.Errorf("round %d: configured templates lost: %v", round, l.state.Configured)
				}
				e.Close()
			}

			_, errOld := os.Stat(legacy)
			_, errNew := os.Stat(legacy + ".migrated")
			switch {
			case tc.wantRenamed && (errOld == nil || errNew != nil):
				t.Errorf("legacy file not renamed: %v, %v", errOld, errNew)
			case !tc.wantRenamed && tc.legacy != "" && errOld != nil:
				t.Errorf("unreadable legacy file was moved: %v", errOld)
			}
		})
	}
}
