package plugins

import (
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// chainPlugins loads the vent-plugins pcap tools as built, enabled plugins.
func chainPlugins(t testing.TB) []*Plugin {
	t.Helper()
	root := t.TempDir()
	var ps []*Plugin
	for _, dir := range []string{
		"tcprewrite_dot1q", "pcap_to_node_pcap", "p0f", "tcpdump_hex_parser",
		"pcap_stats", "replay_pcap", "gpu_example",
	} {
		tool := writeTool(t, root, dir, map[string]string{
			"Dockerfile": "FROM scratch\n", "vent.template": realTemplate(t, dir),
		})
		loaded, err := LoadDir(tool)
		if err != nil {
			t.Fatal(err)
		}
		loaded[0].Built = true
		ps = append(ps, loaded...)
	}
	return ps
}

// names returns the plugin names of ps.
func names(ps []*Plugin) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Name)
	}
	return out
}

func TestMatchVentChain(t *testing.T) {
	ps := chainPlugins(t)
	const drop = "/opt/vent_files"
	at := time.Date(2019, 12, 1, 10, 20, 30, 123456000, time.UTC)

	rewritten := filepath.Join(drop, OutputDirName("tcprewrite dot1q", at))
	split := filepath.Join(rewritten, OutputDirName("pcap node splitter", at.Add(time.Minute)))

	tests := []struct {
		path string
		want []string
	}{
		// A capture dropped in the root goes to the base tools.
		{drop + "/capture.pcap", []string{"tcprewrite_dot1q", "tcpdump_hex_parser", "pcap_stats"}},
		// tcprewrite's output goes to the splitter only.
		{rewritten + "/capture.pcap", []string{"pcap_to_node_pcap"}},
		// The splitter's per-host outputs go to p0f and the hex parser,
		// not back to the splitter.
		{split + "/clients/trace-10.0.0.1-10.0.0.2-TCP-80.pcap", []string{"p0f", "tcpdump_hex_parser"}},
		{split + "/servers/trace-10.0.0.2.pcap", []string{"p0f", "tcpdump_hex_parser"}},
		// Without a UTC folder the tool name must equal a folder name.
		{drop + "/pcap-node-splitter/x.pcap", []string{"p0f", "tcpdump_hex_parser"}},
		{drop + "/pcap-node-splitter-old/x.pcap", nil},
		{drop + "/sub/x.pcap", nil},
		// The last UTC folder decides, even when an earlier one names the tool.
		{drop + "/pcap-node-splitter-x-UTC/other-UTC/x.pcap", nil},
		// ext_types is a case-sensitive suffix test on the whole path.
		{drop + "/capture.PCAP", nil},
		{drop + "/capturepcap", []string{"tcprewrite_dot1q", "tcpdump_hex_parser", "pcap_stats"}},
		{drop + "/replay.dump", []string{"replay_pcap"}},
		{drop + "/m.matrix", []string{"gpu_example"}},
		// Paths outside the drop folder, and the folder itself, never match.
		{"/elsewhere/capture.pcap", nil},
		{drop + "/../capture.pcap", nil},
		{drop, nil},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			if got := names(Match(ps, drop, tt.path)); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Match(%s) = %q, want %q", tt.path, got, tt.want)
			}
		})
	}
}

func TestMatchSkipsDisabledUnbuiltAndDuplicates(t *testing.T) {
	ps := chainPlugins(t)
	stats := ps[4]
	if stats.Name != "pcap_stats" {
		t.Fatalf("fixture order changed: %s", stats.Name)
	}
	stats.Settings.ExtTypes = []string{"pcap", ".pcap", "p"}
	stats.Settings.Instances = 3

	const drop, file = "/files", "/files/a.pcap"
	got := names(Match([]*Plugin{stats, stats, nil}, drop, file))
	if !reflect.DeepEqual(got, []string{"pcap_stats"}) {
		t.Errorf("Match = %q, want pcap_stats once", got)
	}

	stats.Enabled = false
	if got := Match([]*Plugin{stats}, drop, file); len(got) != 0 || !stats.Matches(drop, file) {
		t.Errorf("disabled: Match = %q, Matches = %v; want none and true",
			names(got), stats.Matches(drop, file))
	}

	stats.Enabled, stats.Built = true, false
	if got := Match([]*Plugin{stats}, drop, file); len(got) != 0 {
		t.Errorf("unbuilt: Match = %q, want none", names(got))
	}
}

func TestMatchesWithoutExtTypes(t *testing.T) {
	p := &Plugin{Name: "x", Enabled: true, Built: true,
		Settings: Settings{ProcessBase: true, Instances: 1}}
	if p.Matches("/files", "/files/a.pcap") {
		t.Error("a tool without ext_types matched a file")
	}
}

func TestOutputDirName(t *testing.T) {
	tests := []struct {
		link string
		t    time.Time
		want string
	}{
		{"tcprewrite dot1q", time.Date(2019, 12, 1, 10, 20, 30, 123456789, time.UTC),
			"tcprewrite-dot1q-2019-12-01-10_20_30.123456-UTC"},
		{"pcap node splitter", time.Date(2020, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600)),
			"pcap-node-splitter-2020-01-02-02_04_05.000000-UTC"},
	}
	for _, tt := range tests {
		if got := OutputDirName(tt.link, tt.t); got != tt.want {
			t.Errorf("OutputDirName(%q) = %q, want %q", tt.link, got, tt.want)
		}
	}
}

func BenchmarkMatch(b *testing.B) {
	ps := chainPlugins(b)
	path := "/opt/vent_files/tcprewrite-dot1q-2019-12-01-10_20_30.123456-UTC/" +
		"pcap-node-splitter-2019-12-01-10_21_30.123456-UTC/clients/trace.pcap"
	b.ReportAllocs()
	for b.Loop() {
		Match(ps, "/opt/vent_files", path)
	}
}
