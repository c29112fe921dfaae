package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"golang.org/x/sys/unix"

	"github.com/ventapp/ventapp/capture"
	"github.com/ventapp/ventapp/internal/ctrdtest"
	"github.com/ventapp/ventapp/jobs"
)

// tapNets is a pair of network namespaces made by the test, joined by a
// veth pair: capIf (capAddr) in capNS, peerIf (peerAddr) in peerNS.
type tapNets struct {
	capNS, peerNS     string
	capIf, peerIf     string
	capAddr, peerAddr string
}

// newTapNets makes the namespaces and the veth pair, removed when the test
// ends. Names carry the process id so parallel runs do not collide.
func newTapNets(t *testing.T) *tapNets {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: CAP_SYS_ADMIN for network namespaces and CAP_NET_RAW to capture")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs iproute2's ip")
	}
	pid := os.Getpid()
	n := &tapNets{
		capNS:   fmt.Sprintf("vte2ecap%d", pid),
		peerNS:  fmt.Sprintf("vte2epeer%d", pid),
		capIf:   fmt.Sprintf("vtc%d", pid%1000000),
		peerIf:  fmt.Sprintf("vtp%d", pid%1000000),
		capAddr: "10.198.77.1", peerAddr: "10.198.77.2",
	}
	for _, ns := range []string{n.capNS, n.peerNS} {
		ipRun(t, "netns", "add", ns)
		t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
		ipRun(t, "-n", ns, "link", "set", "lo", "up")
		// No IPv6 chatter (router solicitations, DAD) in the captures.
		exec.Command("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1").Run()
	}
	ipRun(t, "-n", n.capNS, "link", "add", n.capIf, "type", "veth", "peer", "name", n.peerIf,
		"netns", n.peerNS)
	ipRun(t, "-n", n.capNS, "addr", "add", n.capAddr+"/24", "dev", n.capIf)
	ipRun(t, "-n", n.peerNS, "addr", "add", n.peerAddr+"/24", "dev", n.peerIf)
	ipRun(t, "-n", n.capNS, "link", "set", n.capIf, "up")
	ipRun(t, "-n", n.peerNS, "link", "set", n.peerIf, "up")
	return n
}

func ipRun(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// udpSocketIn opens an unconnected UDP socket bound to addr inside the
// named network namespace. The socket stays in that namespace; the thread
// that joined it is locked and ends with its goroutine, so no other
// goroutine runs in the wrong namespace.
func udpSocketIn(ns, addr string) (*net.UDPConn, error) {
	type result struct {
		conn *net.UDPConn
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		fd, err := unix.Open("/run/netns/"+ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			ch <- result{err: fmt.Errorf("network namespace %s: %w", ns, err)}
			return
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			ch <- result{err: fmt.Errorf("network namespace %s: joining: %w", ns, err)}
			return
		}
		conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(addr)})
		ch <- result{conn, err}
	}()
	r := <-ch
	return r.conn, r.err
}

// TestEndToEndTap runs a real daemon told by [taps] netns to capture in a
// network namespace that holds one end of a veth pair, makes a tap with a UDP filter through the CLI, and sends
// matching UDP, non-matching UDP and ICMP from the other end. The tap must
// deliver exactly iters files with vent's names holding only the filtered
// packets, readable by gopacket and by tcpdump, and each file must become a
// done pcap-summary job whose flow lines are found by search.
func TestEndToEndTap(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping end-to-end test in -short mode")
	}
	nets := newTapNets(t)
	d := ctrdtest.Start(t)
	bin, plugin := buildBinaries(t)

	a := newAppliance(t, bin, d)
	cfg, err := os.OpenFile(a.config, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(cfg, "[taps]\nnetns = %s\n", nets.capNS)
	cfg.Close()
	a.start()
	if out := a.mustRun("tap", "nics"); !strings.Contains(out, nets.capIf) {
		t.Fatalf("tap nics does not list %s of namespace %s:\n%s", nets.capIf, nets.capNS, out)
	}
	if out := a.mustRun("tap", "info"); !strings.Contains(out, "/run/netns/"+nets.capNS) {
		t.Fatalf("tap info does not name the capture namespace %s:\n%s", nets.capNS, out)
	}
	if out := a.mustRun("plugins", "add", plugin); !strings.Contains(out, "built") {
		t.Fatalf("plugins add: %s", out)
	}

	const iters = 2
	a.mustRun("tap", "create", "--nic", nets.capIf, "--id", "e2e", "--interval", "2",
		"--iters", fmt.Sprint(iters), "--filter", "udp port 9999")

	// Send until the tap is done, so both intervals hold matching packets.
	conn, err := udpSocketIn(nets.peerNS, nets.peerAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	pingDone := make(chan []byte, 1)
	go func() {
		out, _ := exec.Command("ip", "netns", "exec", nets.peerNS, "busybox", "ping", "-c", "20",
			"-i", "0.2", "-W", "1", nets.capAddr).CombinedOutput()
		pingDone <- out
	}()
	payload := []byte(strings.Repeat("ventapp-e2e-tap ", 8))
	var st capture.Status
	deadline := time.Now().Add(20 * time.Second)
	for sent := 0; ; sent++ {
		for _, port := range []int{9999, 8888} {
			dst := &net.UDPAddr{IP: net.ParseIP(nets.capAddr), Port: port}
			if _, err := conn.WriteToUDP(payload, dst); err != nil {
				t.Fatalf("udp packet %d to port %d: %v", sent, port, err)
			}
		}
		time.Sleep(20 * time.Millisecond)
		if sent%10 != 9 {
			continue
		}
		st = tapStatus(t, a, "e2e")
		if st.State != capture.StateRunning && st.State != capture.StateCreated {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("tap still %s after 20s", st.State)
		}
	}
	if out := <-pingDone; !strings.Contains(string(out), "packets received") {
		t.Fatalf("busybox ping sent nothing:\n%s", out)
	}
	if st.State != capture.StateDone {
		t.Fatalf("tap state %s (%s), want done", st.State, st.Reason)
	}

	// Exactly iters files, only UDP to 9999 inside, as many as the tap counted.
	files, _ := filepath.Glob(filepath.Join(a.drop, "trace_e2e_*.pcap"))
	sort.Strings(files)
	if len(files) != iters {
		t.Fatalf("%d trace files in the drop folder, want %d: %v", len(files), iters, files)
	}
	total := 0
	for _, f := range files {
		n, others := countUDP9999(t, f)
		if n == 0 || others != 0 {
			t.Errorf("%s: %d packets to UDP 9999 and %d others; want some and none", f, n, others)
		}
		total += n + others
		checkTcpdump(t, f, n)
	}
	if uint64(total) != st.Stats.Packets || st.Stats.Files != iters {
		t.Errorf("files hold %d packets in %d files; tap counted %d packets in %d files",
			total, len(files), st.Stats.Packets, st.Stats.Files)
	}

	// Each file was processed by the plugin, and its flow is searchable.
	list := a.waitSettled(iters, 3*time.Minute)
	for _, f := range files {
		var job *jobs.Job
		for i := range list {
			if filepath.Base(list[i].File) == filepath.Base(f) {
				job = &list[i]
			}
		}
		switch {
		case job == nil:
			t.Errorf("%s: no job\n%s", filepath.Base(f), summarize(list))
		case job.State != jobs.Done:
			t.Errorf("%s: job state %s (reason %q, log %q), want done", filepath.Base(f), job.State,
				job.Reason, job.LogTail)
		}
	}
	var want []string
	for _, f := range files {
		want = append(want, filepath.Base(f))
	}
	a.waitSearch("+fields.type:flow +fields.dst_port:9999", want...)

	// Metadata, the table, and a delete that names one unknown tap too:
	// the known one goes, the unknown one is reported, and the exit is 1.
	if out := a.mustRun("tap", "update", "e2e", "--metadata", `{"site": "lab 3"}`); out != "e2e: metadata updated\n" {
		t.Errorf("tap update printed %q", out)
	}
	if st := tapStatus(t, a, "e2e"); st.Config.Metadata["site"] != "lab 3" {
		t.Errorf("metadata after update: %v", st.Config.Metadata)
	}
	if out := a.mustRun("tap", "list"); !strings.Contains(out, "udp port 9999") || !strings.Contains(out, "done") {
		t.Errorf("tap list does not show the tap's filter and state:\n%s", out)
	}
	out, errOut, err := a.run("tap", "delete", "nosuch", "e2e")
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 || out != "e2e: deleted\n" ||
		!strings.Contains(errOut, "nosuch") {
		t.Errorf("tap delete nosuch e2e: %v, stdout %q, stderr %q; want e2e deleted, nosuch reported, exit 1",
			err, out, errOut)
	}
	if out := a.mustRun("tap", "list", "--json"); strings.TrimSpace(out) != "[]" {
		t.Errorf("taps left after delete: %s", out)
	}
}

// tapStatus reads one tap from `ventapp tap list --json`.
func tapStatus(t *testing.T, a *appliance, id string) capture.Status {
	t.Helper()
	var list []capture.Status
	if err := json.Unmarshal([]byte(a.mustRun("tap", "list", "--json")), &list); err != nil {
		t.Fatal(err)
	}
	for _, s := range list {
		if s.ID == id {
			return s
		}
	}
	t.Fatalf("tap %s not listed", id)
	return capture.Status{}
}

// countUDP9999 reads a pcap with gopacket and counts packets that are UDP
// to port 9999, and all others.
func countUDP9999(t *testing.T, path string) (match, others int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	for {
		data, _, err := r.ReadPacketData()
		if err == io.EOF {
			return match, others
		}
		if err != nil {
			t.Fatalf("%s: packet %d: %v", path, match+others, err)
		}
		p := gopacket.NewPacket(data, r.LinkType(), gopacket.Default)
		if u, ok := p.Layer(layers.LayerTypeUDP).(*layers.UDP); ok && u.DstPort == 9999 {
			match++
		} else {
			others++
		}
	}
}

// checkTcpdump reads path with `tcpdump -r` when tcpdump is installed and
// expects want packets, all UDP to port 9999.
func checkTcpdump(t *testing.T, path string, want int) {
	t.Helper()
	tcpdump, err := exec.LookPath("tcpdump")
	if err != nil {
		t.Logf("tcpdump is not installed; %s was read with gopacket only", filepath.Base(path))
		return
	}
	out, err := exec.Command(tcpdump, "-nn", "-r", path).Output()
	if err != nil {
		t.Errorf("tcpdump -r %s: %v", path, err)
		return
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != want {
		t.Errorf("tcpdump -r %s: %d packets, want %d", filepath.Base(path), len(lines), want)
	}
	for _, l := range lines {
		if !strings.Contains(l, ".9999: UDP") {
			t.Errorf("tcpdump -r %s: unexpected packet %q", filepath.Base(path), l)
			break
		}
	}
}
