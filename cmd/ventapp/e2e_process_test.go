package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ventapp/ventapp/engine"
	"github.com/ventapp/ventapp/internal/ctrdtest"
	"github.com/ventapp/ventapp/jobs"
)

// Captures dropped before the plugin was installed are recorded and left
// alone; `ventapp process` runs the plugin on them afterwards, once.
func TestProcessEarlyCaptures(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping end-to-end test in -short mode")
	}
	d := ctrdtest.Start(t)
	bin, plugin := buildBinaries(t)
	a := newAppliance(t, bin, d)
	a.start()

	src := filepath.Join(pcapDir, "dns-udp.pcap")
	early := strings.TrimSpace(a.mustRun("drop", src))
	waitFor(t, 30*time.Second, func() bool {
		var s engine.Status
		json.Unmarshal([]byte(a.mustRun("status", "--json")), &s)
		return s.Counters["files_ignored"] >= 1
	})
	a.mustRun("plugins", "add", plugin)
	time.Sleep(time.Second)
	if list := a.jobs(); len(list) != 0 {
		t.Fatalf("jobs before process was asked for: %s", summarize(list))
	}

	bad := []struct {
		args []string
		want string
	}{
		{[]string{"process"}, "one or more files"},
		{[]string{"process", "/etc/hostname"}, "/etc/hostname: outside the drop folder"},
		{[]string{"process", "--tools", "nope", early}, "nope"},
		{[]string{"process", filepath.Join(a.drop, "missing.pcap")}, "missing.pcap"},
	}
	for _, b := range bad {
		if out, errOut, err := a.run(b.args...); err == nil || !strings.Contains(errOut, b.want) {
			t.Errorf("ventapp %v: err %v, stdout %q, stderr %q; want a failure naming %q",
				b.args, err, out, errOut, b.want)
		}
	}

	// A relative path works from inside the drop folder.
	cmd := a.command("process", "--json", filepath.Base(early))
	cmd.Dir = a.drop
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("process: %v", err)
	}
	var res []engine.ProcessResult
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || res[0].File != early || len(res[0].Jobs) != 1 || res[0].Jobs[0].Tool != "pcap-summary" {
		t.Fatalf("process answered %s", out)
	}
	list := a.waitSettled(1, 2*time.Minute)
	if len(list) != 1 || list[0].State != jobs.Done {
		t.Fatalf("after process:\n%s", summarize(list))
	}
	a.waitSearch("+fields.query:www.tcpdump.org", "dns-udp.pcap")

	// The whole drop folder again: nothing new to do, and the table says so.
	table := a.mustRun("process", a.drop)
	if !strings.Contains(table, "already has a job from pcap-summary") ||
		!strings.Contains(table, "0 jobs queued for 1 files") {
		t.Errorf("second process:\n%s", table)
	}
	if n := len(a.jobs()); n != 1 {
		t.Errorf("%d jobs after asking twice, want 1", n)
	}
}
