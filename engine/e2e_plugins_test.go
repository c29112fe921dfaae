package engine

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ventapp/ventapp/jobs"
	"github.com/ventapp/ventapp/plugins"
)

// TestPluginsRepoEndToEnd adds a repository laid out like CyberReboot's
// vent-plugins from git: a tool built with RUN steps, a folder with two
// Dockerfiles and a service tool. A dropped capture is processed by the
// first tool, which writes into vent's <tool>-<time>-UTC folder; the
// eval tool of the multi-Dockerfile folder processes that output through
// process_from_tool, and its lines, which carry text made by a RUN step
// of the first tool's build, are found in search. The service runs and is
// listed.
func TestPluginsRepoEndToEnd(t *testing.T) {
	te := startEngine(t, "")
	repo := filepath.Join(t.TempDir(), "acme", "vent-plugins")
	gitRepo(t, repo, map[string]string{
		"README.md": "plugins\n",
		"plugins/pcap_stats/Dockerfile": "FROM " + baseImage + "\n" +
			"RUN mkdir -p /app\n" +
			"COPY run.sh /app/run.sh\n" +
			"RUN chmod 755 /app/run.sh && echo runstepmarker > /app/marker\n" +
			"ENTRYPOINT [\"/app/run.sh\"]\n",
		"plugins/pcap_stats/run.sh": "#!/bin/sh\n" +
			"d=\"$(dirname \"$1\")/Pcap-Stats-$(date -u +%Y-%m-%d-%H_%M_%S).000000-UTC\"\n" +
			"mkdir -p \"$d\"\n" +
			"echo \"stats of $(basename \"$1\") $(cat /app/marker)\" > \"$d/summary.stats\"\n" +
			"echo \"{\\\"tool\\\": \\\"pcap_stats\\\", \\\"bytes\\\": $(wc -c < \"$1\")}\"\n",
		"plugins/pcap_stats/vent.template": "[info]\nname = Pcap Stats\ngroups = pcap\n" +
			"[settings]\next_types = .pcap\n",

		"plugins/multi/Dockerfile": "FROM " + baseImage + "\nENTRYPOINT [\"/bin/sh\", \"-c\", " +
			"\"echo plain $1\", \"p\"]\n",
		"plugins/multi/vent.template": "[info]\nname = multi plain\n[settings]\next_types = .plain\n",
		"plugins/multi/Dockerfile.eval": "FROM " + baseImage + "\nENTRYPOINT [\"/bin/sh\", \"-c\", " +
			"\"echo evalchain; cat \\\"$1\\\"\", \"p\"]\n",
		"plugins/multi/eval.template": "[info]\nname = Stats Eval\n[settings]\next_types = .stats\n" +
			"process_base = no\nprocess_from_tool = Pcap Stats\n",

		"services/heartbeat/Dockerfile": "FROM " + baseImage + "\n" +
			"CMD [\"/bin/sh\", \"-c\", \"while true; do echo beat; sleep 1; done\"]\n",
		"services/heartbeat/vent.template": "[info]\nname = Heartbeat\ngroups = core\n" +
			"[settings]\npriority = 1\n",
	})

	res, err := te.AddRepo(context.Background(), plugins.RepoOptions{URL: "file://" + repo}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range res.Tools {
		names = append(names, r.Tool)
		if !r.Built {
			t.Errorf("%s not built: %s", r.Tool, r.Error)
		}
	}
	if got := strings.Join(names, " "); got != "heartbeat multi@eval multi@unspecified pcap_stats" {
		t.Fatalf("tools: %s", got)
	}
	p, _ := te.Registry().Get("multi@eval")
	if p.Image != "acme/vent-plugins-plugins-multi-eval:main" || p.LinkName != "Stats Eval" {
		t.Errorf("multi@eval: image %s, name %q", p.Image, p.LinkName)
	}

	capture := te.dropFile("", "cap.pcap", "not really a capture")
	if j := te.waitJob("pcap_stats", capture, time.Minute); j.State != jobs.Done {
		t.Fatalf("pcap_stats: %s %s %q", j.State, j.Reason, j.LogTail)
	}

	var chained jobs.Job
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) && !chained.State.Final() {
		list, _ := te.Store().List(jobs.Filter{Tool: "multi@eval"})
		if len(list) > 0 {
			chained = list[0]
		}
		time.Sleep(100 * time.Millisecond)
	}
	if chained.State != jobs.Done || !strings.Contains(chained.File, "Pcap-Stats-") ||
		!strings.HasSuffix(chained.File, "-UTC/summary.stats") {
		t.Fatalf("chained job: %+v", chained)
	}

	found := te.search("runstepmarker")
	var fromEval bool
	for _, h := range found.Hits {
		if h.Tool == "multi@eval" && strings.Contains(h.Message, "stats of cap.pcap runstepmarker") {
			fromEval = true
		}
	}
	if !fromEval {
		t.Errorf("chained output not in search: %+v", found.Hits)
	}
	if list, _ := te.Store().List(jobs.Filter{Tool: "multi@unspecified"}); len(list) != 0 {
		t.Errorf("the plain tool ran: %+v", list)
	}

	started, err := te.StartTools(context.Background(), []string{"heartbeat"})
	if err != nil || len(started) != 1 || started[0].Error != "" {
		t.Fatalf("start heartbeat: %+v %v", started, err)
	}
	svcs, err := te.Services(context.Background())
	if err != nil || len(svcs) != 1 || svcs[0].Tool != "heartbeat" || svcs[0].Name != "Heartbeat" {
		t.Fatalf("services: %+v %v", svcs, err)
	}
	r, err := te.StartTools(context.Background(), []string{"pcap_stats"})
	if err != nil || len(r) != 1 || !strings.Contains(r[0].Error, "processes files") {
		t.Errorf("a file tool started as a service: %+v %v", r, err)
	}
}
