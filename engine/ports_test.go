package engine

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/pkg/namespaces"

	"github.com/ventapp/ventapp/plugins"
	"github.com/ventapp/ventapp/portmap"
)

// httpdScript serves /www/index.html with busybox httpd on port 8080.
const httpdScript = `mkdir -p /www && echo "hello from web" > /www/index.html && ` +
	`exec /bin/busybox httpd -f -p 8080 -h /www`

// get fetches url, or returns the error.
func get(url string) (string, error) {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("status %s", resp.Status)
	}
	return string(body), err
}

// serviceInfo returns the Services entry of container id.
func serviceInfo(t *testing.T, te *testEngine, id string) ServiceInfo {
	t.Helper()
	svcs, err := te.Services(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range svcs {
		if s.Container == id {
			return s
		}
	}
	t.Fatalf("container %s is not in the services list %+v", id, svcs)
	return ServiceInfo{}
}

// killTask sends SIGKILL to the task of container id, as a crash would.
func killTask(t *testing.T, te *testEngine, id string) {
	t.Helper()
	c, err := te.Containerd()
	if err != nil {
		t.Fatal(err)
	}
	ctx := namespaces.WithNamespace(context.Background(), c.Namespace())
	ctr, err := c.Raw().LoadContainer(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	task, err := ctr.Task(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Kill(ctx, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
}

// TestPublishedServicePort runs busybox httpd as a service tool whose
// template publishes 8080/tcp to a random port on 127.0.0.1, fetches a
// page through it, kills the task so that the supervisor restarts it (in
// a new network namespace), fetches again, and stops the tool.
func TestPublishedServicePort(t *testing.T) {
	te := startEngine(t, "")
	ctx := context.Background()
	te.cfg.ServicesURI = "10.0.0.5" // replaces 0.0.0.0 only
	te.addPlugin("web", httpdScript, "[docker]\nports = {'8080/tcp': ('127.0.0.1', None)}\n"+
		"[service]\nuri_prefix1 = http://\nuri_postfix1 = /index.html")

	res, err := te.StartTools(ctx, []string{"web"})
	if err != nil || len(res) != 1 || res[0].Error != "" {
		t.Fatalf("start: %+v, %v", res, err)
	}
	id := res[0].Containers[0]
	info := serviceInfo(t, te, id)
	if info.Network != "published" || len(info.Published) != 1 || len(info.URIs) != 1 || info.Note != "" {
		t.Fatalf("services entry: %+v", info)
	}
	m := info.Published[0]
	url := info.URIs[0].URI
	if m.HostPort == 0 || url != fmt.Sprintf("http://127.0.0.1:%d/index.html", m.HostPort) {
		t.Fatalf("published %v, URI %s", m, url)
	}

	var body string
	eventually(t, 30*time.Second, "the page through the published port", func() bool {
		body, err = get(url)
		return err == nil
	})
	if body != "hello from web\n" {
		t.Errorf("page: %q", body)
	}

	// A crash: the supervisor starts a new task, in a new namespace, and
	// the same host port reaches it.
	oldPid := info.Status.Pid
	killTask(t, te, id)
	eventually(t, 30*time.Second, "the restarted service", func() bool {
		st := serviceInfo(t, te, id).Status
		return st.Running && st.Restarts >= 1 && st.Pid != oldPid
	})
	eventually(t, 30*time.Second, "the page after the restart", func() bool {
		body, err = get(url)
		return err == nil
	})
	if again := serviceInfo(t, te, id); again.Published[0] != m {
		t.Errorf("the host port changed over the restart: %v, then %v", m, again.Published[0])
	}

	// Stop closes the port.
	if _, err := te.StopTools(ctx, []string{"web"}); err != nil {
		t.Fatal(err)
	}
	if _, err := get(url); err == nil {
		t.Error("the page is still served after stop")
	}
	ln, err := net.Listen("tcp4", m.HostAddr())
	if err != nil {
		t.Errorf("the host port is still bound after stop: %v", err)
	} else {
		ln.Close()
	}
}

// TestServicePortErrors covers a port in use, a bad ports value, fixed
// ports with several instances and publish_all_ports, on one engine.
func TestServicePortErrors(t *testing.T) {
	te := startEngine(t, "")
	ctx := context.Background()

	taken, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	port := taken.Addr().(*net.TCPAddr).Port

	t.Run("port in use", func(t *testing.T) {
		te.addPlugin("clash", webScript, fmt.Sprintf("[docker]\nports = {'80/tcp': ('127.0.0.1', %d)}", port))
		res, err := te.StartTools(ctx, []string{"clash"})
		if err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("tool clash (container ventapp-local-clash-latest): "+
			"publish 80/tcp on 127.0.0.1:%d: %s", port, portmap.ErrPortInUse)
		if !strings.Contains(res[0].Error, want) {
			t.Errorf("error %q does not say %q", res[0].Error, want)
		}
		if ids := te.containerIDs(); slices.Contains(ids, "ventapp-local-clash-latest") {
			t.Errorf("a container was left: %q", ids)
		}
	})

	t.Run("bad ports value", func(t *testing.T) {
		// Refused when the template is read, naming its line and the
		// value, with nothing registered.
		dir := filepath.Join(t.TempDir(), "badport")
		os.MkdirAll(dir, 0o755)
		os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM "+baseImage+"\n"), 0o644)
		os.WriteFile(filepath.Join(dir, "vent.template"),
			[]byte("[info]\nname = badport\n[docker]\nports = {'http/tcp': None}\n"), 0o644)
		_, err := te.AddPlugins(ctx, dir, nil)
		if err == nil || !strings.Contains(err.Error(), "vent.template:4") ||
			!strings.Contains(err.Error(), `"http/tcp"`) {
			t.Errorf("add with a bad ports value: error %v, want one naming vent.template:4 and the value", err)
		}
		if _, err := te.Registry().Get("badport"); err == nil {
			t.Error("a tool with a bad ports value was registered")
		}
	})

	t.Run("instances and fixed ports", func(t *testing.T) {
		fixed := freeTCPPort(t)
		te.addPlugin("twice", webScript, fmt.Sprintf("instances = 2\n[docker]\n"+
			"ports = {'80/tcp': ('127.0.0.1', %d), '81/tcp': ('127.0.0.1', None)}", fixed))
		res, err := te.StartTools(ctx, []string{"twice"})
		if err != nil || res[0].Error != "" || len(res[0].Containers) != 2 {
			t.Fatalf("start: %+v, %v", res, err)
		}
		defer te.StopTools(ctx, []string{"twice"})

		first, second := serviceInfo(t, te, res[0].Containers[0]), serviceInfo(t, te, res[0].Containers[1])
		if len(first.Published) != 2 || first.Published[0].HostPort != uint16(fixed) || first.Note != "" {
			t.Errorf("first instance: %+v", first)
		}
		if len(second.Published) != 1 || second.Published[0].Port() != "81/tcp" ||
			!strings.Contains(second.Note, "first instance only") {
			t.Errorf("second instance: %+v", second)
		}
	})

	t.Run("publish_all_ports", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "exposer")
		os.MkdirAll(dir, 0o755)
		os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(fmt.Sprintf(
			"FROM %s\nEXPOSE 7000 7001/udp\nENTRYPOINT [\"/bin/sh\", \"-c\", %q]\n",
			baseImage, webScript)), 0o644)
		os.WriteFile(filepath.Join(dir, "vent.template"), []byte("[info]\nname = exposer\n[docker]\n"+
			"publish_all_ports = True\nports = {'7000/tcp': ('127.0.0.1', None)}\n"), 0o644)
		if r, err := te.AddPlugins(ctx, dir, nil); err != nil || !r[0].Built {
			t.Fatalf("add: %+v, %v", r, err)
		}
		p, err := te.Registry().Get("exposer")
		if err != nil {
			t.Fatal(err)
		}
		ms, err := te.portMappings(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		// 7000/tcp as ports says; 7001/udp on every address, as docker did.
		var got []string
		for _, m := range ms {
			got = append(got, m.String())
		}
		if want := "127.0.0.1:0->7000/tcp 0.0.0.0:0->7001/udp"; strings.Join(got, " ") != want {
			t.Errorf("mappings %q, want %s", got, want)
		}
	})

	t.Run("network_mode none publishes nothing", func(t *testing.T) {
		te.addPlugin("closed", webScript,
			"[docker]\nnetwork_mode = none\nports = {'80/tcp': ('127.0.0.1', None)}")
		res, err := te.StartTools(ctx, []string{"closed"})
		if err != nil || res[0].Error != "" {
			t.Fatalf("start: %+v, %v", res, err)
		}
		defer te.StopTools(ctx, []string{"closed"})
		info := serviceInfo(t, te, res[0].Containers[0])
		if info.Network != "none" || len(info.URIs) != 0 ||
			!strings.Contains(info.Note, "network_mode is none") {
			t.Errorf("services entry: %+v", info)
		}
	})

	t.Run("host network publishes nothing", func(t *testing.T) {
		p := &plugins.Plugin{Name: "h", Template: "[docker]\nnetwork_mode = host\nports = {'80': 80}\n"}
		p.Settings.Docker.HostNetwork = true
		if ms, err := te.portMappings(ctx, p); err != nil || len(ms) != 0 {
			t.Errorf("host network: %v, %v", ms, err)
		}
	})
}

// freeTCPPort returns a port on 127.0.0.1 that was free a moment ago.
func freeTCPPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func TestPublishedURIs(t *testing.T) {
	labels := map[string]string{"uri_prefix1": "https://", "uri_postfix1": "/ui", "uri_user2": "admin"}
	bound := []portmap.Mapping{
		{Proto: "tcp", ContainerPort: 8080, HostPort: 32001},
		{Proto: "tcp", ContainerPort: 10443, HostPort: 443, HostIP: netip.MustParseAddr("127.0.0.1")},
		{Proto: "tcp", ContainerPort: 10443, HostPort: 444},
		{Proto: "udp", ContainerPort: 53, HostPort: 5353, HostIP: netip.MustParseAddr("::1")},
	}
	tests := []struct {
		name, servicesURI string
		want              []string
	}{
		{"no services_uri", "", []string{"https://127.0.0.1:443/ui", "[::1]:5353", "0.0.0.0:32001"}},
		{"services_uri replaces 0.0.0.0 only", "10.0.0.5",
			[]string{"https://127.0.0.1:443/ui", "[::1]:5353", "10.0.0.5:32001"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			uris := publishedURIs(labels, bound, tt.servicesURI)
			var got []string
			for _, u := range uris {
				got = append(got, u.URI)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("URIs %q, want %q", got, tt.want)
			}
			if uris[1].User != "admin" || uris[1].Port != "53/udp" {
				t.Errorf("second URI %+v", uris[1])
			}
		})
	}
}

// TestNormalPort: template keys are compared with published mappings in
// one spelling, so '8080/TCP' and '53/udp ' are not reported unpublished.
func TestNormalPort(t *testing.T) {
	for in, want := range map[string]string{
		"8080": "8080/tcp", "8080/TCP": "8080/tcp", "53/udp ": "53/udp", " 80 / UDP": "80/udp", "9/": "9/tcp",
	} {
		if got := normalPort(in); got != want {
			t.Errorf("normalPort(%q) = %q, want %q", in, got, want)
		}
	}
}
