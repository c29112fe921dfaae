package plugins

import (
	"os"
	"path/filepath"
	"testing"
)

// realTemplates are the template shapes of the CyberReboot/vent-plugins
// tools (tree of December 2019) and of vent's own core tools, written out
// here from their documented settings.
var realTemplates = []struct {
	dir  string
	text string
}{
	{"tcprewrite_dot1q", `[info]
name = tcprewrite dot1q
groups = pcap

[settings]
ext_types = pcap

[docker]
environment = ["rabbit=true"]
`},
	{"pcap_to_node_pcap", `[info]
name = pcap node splitter
groups = pcap

[settings]
ext_types = pcap
process_base = no
process_from_tool = tcprewrite dot1q

[docker]
environment = ["rabbit=true"]
`},
	{"p0f", `[info]
name = p0f
groups = pcap

[settings]
ext_types = pcap
process_base = no
process_from_tool = pcap node splitter

[docker]
links = {"Redis":"redis"}
environment = ["redis=true", "rabbit=true"]
`},
	{"tcpdump_hex_parser", `[info]
name = TCPDump Feature generation from PCAPs
groups = pcap

[settings]
ext_types = pcap
process_from_tool = pcap node splitter
`},
	{"pcap_stats", `[info]
name = pcap stats
groups = pcap

[settings]
ext_types = pcap

[docker]
environment = ["rabbit=true"]
`},
	{"snort", `[info]
name = snort
groups = pcap

[settings]
ext_types = pcap
`},
	{"check_files", `[info]
name = check_files
groups = cpu

[settings]
ext_types = exe

[docker]
environment = ["VIRUS_TOTAL_API_KEY="]
`},
	{"csv_row_broadcast", `[info]
name = Feature generation from CSVs
groups = csv

[settings]
ext_types = csv
`},
	{"gpu_example", `[info]
name = Simple GPU Example
groups = gpu

[settings]
ext_types = matrix

[gpu]
enabled = yes
mem_mb = 1024
dedicated = yes
device = 0
`},
	{"replay_pcap", `[info]
name = replay pcaps
groups = replay

[settings]
ext_types = dump

[docker]
network_mode = host
`},
	{"kibana", `[info]
name = kibana
groups = visualization

[settings]
priority = 1

[docker]
links = {"Elasticsearch":"elasticsearch"}
publish_all_ports = True

[service]
uri_prefix1 = http://
`},
	{"rq_worker", `[info]
name = RQ Worker
groups = core,files

[settings]
instances = 2
priority = 6

[docker]
volumes = {'/var/run/docker.sock': {'bind': '/var/run/docker.sock', 'mode': 'rw'}}
environment = ["REMOTE_REDIS_HOST=redis", "REMOTE_REDIS_PORT=6379"]
`},
}

// realTemplate returns the text of the named fixture.
func realTemplate(t testing.TB, dir string) string {
	t.Helper()
	for _, rt := range realTemplates {
		if rt.dir == dir {
			return rt.text
		}
	}
	t.Fatalf("no fixture %q", dir)
	return ""
}

// writeTool creates dir/name with a Dockerfile and the given template files
// (file name → text) and returns the tool folder.
func writeTool(t testing.TB, dir, name string, files map[string]string) string {
	t.Helper()
	tool := filepath.Join(dir, name)
	if err := os.MkdirAll(tool, 0o755); err != nil {
		t.Fatal(err)
	}
	for file, text := range files {
		if err := os.WriteFile(filepath.Join(tool, file), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return tool
}
