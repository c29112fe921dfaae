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

	early := strings.TrimSpace(a.mustRun("drop", filepath.Join(pcapDir, "dns-udp.pcap")))
	second := strings.TrimSpace(a.mustRun("drop", filepath.Join(pcapDir, "http-get.pcap")))
	waitFor(t, 30*time.Second, func() bool {
		var s engine.Status
		json.Unmarshal([]byte(a.mustRun("status", "--json")), &s)
		return s.Counters["files_ignored"] >= 2
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
		{[]string{"process", "--tools", " , ", early}, "names no tool"},
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

	// The whole drop folder: the other capture gets its job, the first
	// is counted as done already.
	table := a.mustRun("process", a.drop)
	for _, want := range []string{"FILE", second, "pcap-summary", "1 job queued for 1 file\n",
		"1 file not queued: already has a job from pcap-summary for this content"} {
		if !strings.Contains(table, want) {
			t.Errorf("process of the drop folder lacks %q:\n%s", want, table)
		}
	}
	list = a.waitSettled(2, 2*time.Minute)
	for _, j := range list {
		if j.State != jobs.Done {
			t.Errorf("job %s of %s: %s %s", j.ID, j.File, j.State, j.Reason)
		}
	}
	a.waitSearch("fields.type:http", "http-get.pcap")

	// Once more: nothing new to do.
	table = a.mustRun("process", a.drop)
	if !strings.Contains(table, "0 jobs queued for 0 files\n"+
		"2 files not queued: already has a job from pcap-summary for this content") {
		t.Errorf("third process:\n%s", table)
	}
	if n := len(a.jobs()); n != 2 {
		t.Errorf("%d jobs after asking three times, want 2", n)
	}
}
