package plugins

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// mustSettings parses text and derives settings, failing the test on error.
func mustSettings(t *testing.T, name, text string) Settings {
	t.Helper()
	tpl, err := ParseTemplate(name+"/vent.template", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	s, err := ParseSettings(tpl, name)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSettingsRealTemplates(t *testing.T) {
	tests := []struct {
		dir  string
		want Settings
	}{
		{"pcap_stats", Settings{
			Info:     InfoSettings{Name: "pcap stats", Groups: []string{"pcap"}},
			ExtTypes: []string{"pcap"}, ProcessBase: true, Instances: 1,
			Docker: DockerSettings{Environment: []string{"rabbit=true"}},
		}},
		{"p0f", Settings{
			Info:     InfoSettings{Name: "p0f", Groups: []string{"pcap"}},
			ExtTypes: []string{"pcap"}, ProcessBase: false,
			ProcessFromTool: []string{"pcap node splitter"}, Instances: 1,
			Docker: DockerSettings{Environment: []string{"redis=true", "rabbit=true"},
				Unsupported: []string{"links"}},
		}},
		{"tcpdump_hex_parser", Settings{
			Info:     InfoSettings{Name: "TCPDump Feature generation from PCAPs", Groups: []string{"pcap"}},
			ExtTypes: []string{"pcap"}, ProcessBase: true,
			ProcessFromTool: []string{"pcap node splitter"}, Instances: 1,
		}},
		{"gpu_example", Settings{
			Info:     InfoSettings{Name: "Simple GPU Example", Groups: []string{"gpu"}},
			ExtTypes: []string{"matrix"}, ProcessBase: true, Instances: 1,
			GPU: GPUSettings{Enabled: true, Dedicated: true, Device: 0, HasDevice: true, MemMB: 1024},
		}},
		{"replay_pcap", Settings{
			Info:     InfoSettings{Name: "replay pcaps", Groups: []string{"replay"}},
			ExtTypes: []string{"dump"}, ProcessBase: true, Instances: 1,
			Docker: DockerSettings{HostNetwork: true},
		}},
		{"check_files", Settings{
			Info:     InfoSettings{Name: "check_files", Groups: []string{"cpu"}},
			ExtTypes: []string{"exe"}, ProcessBase: true, Instances: 1,
			Docker: DockerSettings{Environment: []string{"VIRUS_TOTAL_API_KEY="}},
		}},
		{"kibana", Settings{
			Info:        InfoSettings{Name: "kibana", Groups: []string{"visualization"}},
			ProcessBase: true, Instances: 1, Priority: []int{1},
			Docker: DockerSettings{Unsupported: []string{"links"}},
			Labels: map[string]string{"uri_prefix1": "http://"},
		}},
		{"rq_worker", Settings{
			Info:        InfoSettings{Name: "RQ Worker", Groups: []string{"core", "files"}},
			ProcessBase: true, Instances: 2, Priority: []int{6},
			Docker: DockerSettings{
				Environment: []string{"REMOTE_REDIS_HOST=redis", "REMOTE_REDIS_PORT=6379"},
				Volumes:     []Mount{{Source: "/var/run/docker.sock", Target: "/var/run/docker.sock"}},
			},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.dir, func(t *testing.T) {
			got := mustSettings(t, tt.dir, realTemplate(t, tt.dir))
			got.Warnings = nil
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("settings:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestSettingsDefaultsAndWarnings(t *testing.T) {
	s := mustSettings(t, "My_Tool", `[info]
groups = , a ,b,
extra = 1

[settings]
ext_types = pcap, pcapng , ,
process_base = No
process_from_tool = tool a ,, tool b
mime_types = application/vnd.tcpdump.pcap
ext_note = pcap # comment

[docker]
links = {"Redis": "redis"}
network_mode = bridge
environment = ["HOST=`+"`hostname`"+`"]

[gpu]
colour = green

[odd]
k = v
`)

	if s.Info.Name != "My_Tool" {
		t.Errorf("default name = %q, want the folder name My_Tool", s.Info.Name)
	}
	if !reflect.DeepEqual(s.Info.Groups, []string{"a", "b"}) {
		t.Errorf("groups = %q", s.Info.Groups)
	}
	if !reflect.DeepEqual(s.ExtTypes, []string{"pcap", "pcapng"}) {
		t.Errorf("ext_types = %q (entries are trimmed, empty ones dropped)", s.ExtTypes)
	}
	if !s.ProcessBase {
		t.Error(`process_base = No turned base processing off; only "no" does`)
	}
	if !reflect.DeepEqual(s.ProcessFromTool, []string{"tool a", "tool b"}) {
		t.Errorf("process_from_tool = %q", s.ProcessFromTool)
	}
	if s.Instances != 1 {
		t.Errorf("instances = %d, want default 1", s.Instances)
	}
	if s.Docker.HostNetwork {
		t.Error("network_mode = bridge gave host network")
	}

	warnings := strings.Join(s.Warnings, "\n")
	for _, want := range []string{
		"[info] extra: not used by ventapp",
		`[settings] process_base: "No" is read as yes`,
		"[settings] mime_types: ignored",
		"[settings] ext_note: not used by ventapp",
		`[settings] ext_note: "pcap # comment": text after # or ; is part of the value`,
		"[docker] links: not supported by ventapp: links",
		`[docker] network_mode: "bridge" is not supported: the tool runs with no network`,
		"[docker] environment: back-ticks are passed as written",
		"[gpu] colour: not used by ventapp",
		"section [odd] is not used by ventapp",
	} {
		if !strings.Contains(warnings, want) {
			t.Errorf("warnings lack %q; got:\n%s", want, warnings)
		}
	}
}

func TestSettingsDockerValues(t *testing.T) {
	tests := []struct {
		name string
		body string
		want DockerSettings
	}{
		{"command string", `command = python3 /run.py --mode "a b" 'c d' e\ f`,
			DockerSettings{Command: []string{"python3", "/run.py", "--mode", "a b", "c d", "e f"}}},
		{"command quoted literal", `command = "tcpreplay -i eth0"`,
			DockerSettings{Command: []string{"tcpreplay", "-i", "eth0"}}},
		{"command list", `command = ['/bin/sh', '-c', 'echo "$1"']`,
			DockerSettings{Command: []string{"/bin/sh", "-c", `echo "$1"`}}},
		{"command hash (vent #712)", `command = #`, DockerSettings{Command: []string{"#"}}},
		{"environment dict", `environment = {'B': 2, 'A': 'x=y', 'C': None, 'D': True}`,
			DockerSettings{Environment: []string{"A=x=y", "B=2", "C", "D=True"}}},
		{"network host quoted", `network_mode = 'host'`, DockerSettings{HostNetwork: true}},
		{"network none", `network_mode = none`, DockerSettings{}},
		{"mem int", `mem_limit = 1048576`, DockerSettings{MemoryBytes: 1 << 20}},
		{"mem m", `mem_limit = 512m`, DockerSettings{MemoryBytes: 512 << 20}},
		{"mem G quoted", `mem_limit = "1G"`, DockerSettings{MemoryBytes: 1 << 30}},
		{"mem kb", `mem_limit = 100kb`, DockerSettings{MemoryBytes: 100 << 10}},
		{"mem bytes", `mem_limit = 4096b`, DockerSettings{MemoryBytes: 4096}},
		{"mem fraction", `mem_limit = 1.5g`, DockerSettings{MemoryBytes: 3 << 29}},
		{"pids", `pids_limit = 64`, DockerSettings{PidsLimit: 64}},
		{"pids unlimited", `pids_limit = -1`, DockerSettings{}},
		{"volumes dict", `volumes = {'/data/': {'bind': '/in', 'mode': 'ro'}, '/x': {'bind': '/a'}}`,
			DockerSettings{Volumes: []Mount{
				{Source: "/x", Target: "/a"},
				{Source: "/data", Target: "/in", ReadOnly: true},
			}}},
		{"volumes list", `volumes = ["/h:/c:ro", "/h2:/c2"]`,
			DockerSettings{Volumes: []Mount{
				{Source: "/h", Target: "/c", ReadOnly: true},
				{Source: "/h2", Target: "/c2"},
			}}},
		{"user name", `user = nobody`, DockerSettings{User: "nobody"}},
		{"user id", `user = 1000`, DockerSettings{User: "1000"}},
		{"user pair", `user = '1000:1000'`, DockerSettings{User: "1000:1000"}},
		{"working dir", `working_dir = /work/`, DockerSettings{WorkingDir: "/work"}},
		{"privileged false", `privileged = False`, DockerSettings{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := mustSettings(t, "tool", "[docker]\n"+tt.body+"\n")
			if !reflect.DeepEqual(s.Docker, tt.want) {
				t.Errorf("docker:\n got %+v\nwant %+v", s.Docker, tt.want)
			}
		})
	}
}

func TestSettingsErrors(t *testing.T) {
	tests := []struct {
		name    string
		text    string
		section string
		key     string
		value   string
		msg     string
	}{
		{"instances zero", "[settings]\ninstances = 0\n", "settings", "instances", "0", "1 or more"},
		{"instances text", "[settings]\ninstances = two\n", "settings", "instances", "two", "whole number"},
		{"priority", "[settings]\npriority = 1, x\n", "settings", "priority", "1, x", `"x"`},
		{"gpu enabled", "[gpu]\nenabled = true\n", "gpu", "enabled", "true", `"yes" or "no"`},
		{"gpu dedicated case", "[gpu]\ndedicated = Yes\n", "gpu", "dedicated", "Yes", `"yes" or "no"`},
		{"gpu device", "[gpu]\ndevice = -1\n", "gpu", "device", "-1", "GPU index"},
		{"gpu mem", "[gpu]\nmem_mb = lots\n", "gpu", "mem_mb", "lots", "MiB"},
		{"privileged", "[docker]\nprivileged = True\n", "docker", "privileged", "True",
			"refuses to run privileged"},
		{"privileged text", "[docker]\nprivileged = yes\n", "docker", "privileged", "yes",
			"refuses to run privileged"},
		{"command quote", "[docker]\ncommand = run 'x\n", "docker", "command", "run 'x", "unclosed single"},
		{"command int", "[docker]\ncommand = 5\n", "docker", "command", "5", "not an int"},
		{"command list int", "[docker]\ncommand = ['a', 1]\n", "docker", "command", "['a', 1]",
			"must be strings"},
		{"env string", "[docker]\nenvironment = A=b\n", "docker", "environment", "A=b",
			"must be a list"},
		{"env entry", "[docker]\nenvironment = ['=x']\n", "docker", "environment", "['=x']",
			"KEY=VALUE"},
		{"network int", "[docker]\nnetwork_mode = 1\n", "docker", "network_mode", "1", "string"},
		{"mem junk", "[docker]\nmem_limit = lots\n", "docker", "mem_limit", "lots", "not a size"},
		{"mem zero", "[docker]\nmem_limit = 0\n", "docker", "mem_limit", "0", "more than 0"},
		{"mem inf", "[docker]\nmem_limit = 1e400g\n", "docker", "mem_limit", "1e400g", "not a size"},
		{"mem huge", "[docker]\nmem_limit = 99999999999g\n", "docker", "mem_limit", "99999999999g",
			"out of range"},
		{"pids", "[docker]\npids_limit = many\n", "docker", "pids_limit", "many", "whole number"},
		{"port out of range", "[docker]\nports = {'8080/tcp': ('127.0.0.1', 99999)}\n", "docker", "ports",
			"{'8080/tcp': ('127.0.0.1', 99999)}", "99999"},
		{"ports not a dict", "[docker]\nports = 8080\n", "docker", "ports", "8080", "ports"},
		{"publish_all_ports", "[docker]\npublish_all_ports = maybe\n", "docker", "publish_all_ports",
			"maybe", "True or False"},
		{"volume named", "[docker]\nvolumes = ['data:/data']\n", "docker", "volumes",
			"['data:/data']", "named volumes"},
		{"volume mode", "[docker]\nvolumes = {'/a': {'bind': '/b', 'mode': 'z'}}\n", "docker",
			"volumes", "{'/a': {'bind': '/b', 'mode': 'z'}}", "'ro' or 'rw'"},
		{"volume no bind", "[docker]\nvolumes = {'/a': {}}\n", "docker", "volumes", "{'/a': {}}",
			"no 'bind'"},
		{"volume twice", "[docker]\nvolumes = ['/a:/c', '/b:/c']\n", "docker", "volumes",
			"['/a:/c', '/b:/c']", "two volumes"},
		{"working dir", "[docker]\nworking_dir = rel\n", "docker", "working_dir", "rel", "absolute"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tpl, err := ParseTemplate("x/vent.template", []byte(tt.text))
			if err != nil {
				t.Fatal(err)
			}
			_, err = ParseSettings(tpl, "x")
			if !errors.Is(err, ErrSetting) {
				t.Fatalf("err = %v, want ErrSetting", err)
			}
			var se *SettingError
			if !errors.As(err, &se) {
				t.Fatalf("err = %T, want *SettingError", err)
			}
			if se.File != "x/vent.template" || se.Line != 2 || se.Section != tt.section ||
				se.Key != tt.key || se.Value != tt.value || !strings.Contains(se.Problem, tt.msg) {
				t.Errorf("err = %+v\nwant line 2 [%s] %s = %q containing %q",
					se, tt.section, tt.key, tt.value, tt.msg)
			}
			if !strings.Contains(err.Error(), "x/vent.template:2") {
				t.Errorf("message %q does not name the file and line", err)
			}
		})
	}
}

func TestSettingsReportsEveryError(t *testing.T) {
	tpl, err := ParseTemplate("t", []byte("[settings]\ninstances = 0\n[gpu]\nenabled = on\n"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = ParseSettings(tpl, "t")
	if err == nil || !strings.Contains(err.Error(), "instances") ||
		!strings.Contains(err.Error(), "enabled") {
		t.Errorf("err = %v, want both bad values reported", err)
	}
}

func TestShellSplit(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"  a  b\tc\n", []string{"a", "b", "c"}},
		{`a"b c"d`, []string{"ab cd"}},
		{`'a\b' "x\"y\\z\q"`, []string{`a\b`, `x"y\z\q`}},
		{`""`, []string{""}},
		{`a\ b \#c`, []string{"a b", "#c"}},
		{"a\\\nb", []string{"ab"}},
	}
	for _, tt := range tests {
		got, err := shellSplit(tt.in)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("shellSplit(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{`'a`, `"a`, `a\`, `"a\"`} {
		if _, err := shellSplit(bad); err == nil {
			t.Errorf("shellSplit(%q) succeeded, want an error", bad)
		}
	}
}
