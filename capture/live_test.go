package capture

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// TestLiveFilterRotateIters captures on a veth end while the peer sends
// UDP to two ports and pings: only the filtered port reaches the files,
// every sent packet is there, files carry vent's names, the staging folder
// is left empty and the tap ends done after its iters.
func TestLiveFilterRotateIters(t *testing.T) {
	p := newVethPair(t)
	m, dir := testManager(t, p.capPath())

	_, err := m.Create(Tap{ID: "lab1", NIC: p.capIf, Interval: time.Second, Iters: 3,
		Filter: "udp port 9999"}, true)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(400 * time.Millisecond) // the socket drains before its filter goes on
	p.sendUDP(t, 9999, 40, 100)
	p.sendUDP(t, 8888, 25, 100)
	p.ping(t, 3)

	st := waitState(t, m, "lab1", 10*time.Second, StateDone, StateFailed)
	if st.State != StateDone {
		t.Fatalf("state %s: %s", st.State, st.Reason)
	}
	if st.Stats.Rotations != 3 {
		t.Errorf("rotations = %d, want 3", st.Stats.Rotations)
	}
	files := dropFiles(t, filepath.Join(dir, "files"))
	if len(files) == 0 || len(files) > 3 {
		t.Fatalf("%d files, want 1 to 3: %v", len(files), files)
	}
	total := 0
	for _, f := range files {
		pkts, link := readPcap(t, f)
		if len(pkts) == 0 {
			t.Errorf("%s is empty; empty intervals must make no file", f)
		}
		ports := udpPorts(link, pkts)
		if len(ports) != 1 || ports[9999] != len(pkts) {
			t.Errorf("%s: packets by UDP port %v, want only 9999", f, ports)
		}
		total += len(pkts)
		if m := traceName.FindStringSubmatch(filepath.Base(f)); m == nil || m[1] != "lab1" {
			t.Errorf("%s: id in name = %v", f, m)
		}
	}
	if total != 40 || st.Stats.Packets != 40 {
		t.Errorf("files hold %d packets, stats %d; want 40", total, st.Stats.Packets)
	}
	if st.Stats.KernelPackets < 40 || st.Stats.KernelDrops != 0 {
		t.Errorf("kernel counters packets %d drops %d", st.Stats.KernelPackets, st.Stats.KernelDrops)
	}
	if left, _ := os.ReadDir(filepath.Join(dir, "capture-tmp")); len(left) != 0 {
		t.Errorf("staging folder keeps %d files", len(left))
	}
}

// TestLiveStripSnapEmpty checks payload stripping, the snap length, and
// that intervals without packets make no file.
func TestLiveStripSnapEmpty(t *testing.T) {
	p := newVethPair(t)
	m, dir := testManager(t, p.capPath())
	drop := filepath.Join(dir, "files")

	// Empty: nothing matches, two intervals, no file.
	if _, err := m.Create(Tap{ID: "quiet", NIC: p.capIf, Interval: 300 * time.Millisecond, Iters: 2,
		Filter: "udp port 7"}, true); err != nil {
		t.Fatal(err)
	}
	st := waitState(t, m, "quiet", 5*time.Second, StateDone, StateFailed)
	if st.State != StateDone || st.Stats.Rotations != 2 || st.Stats.Files != 0 {
		t.Fatalf("quiet tap: %+v", st)
	}
	if files := dropFiles(t, drop); len(files) != 0 {
		t.Fatalf("empty intervals made files: %v", files)
	}

	cases := []struct {
		tap     Tap
		wantCap int
	}{
		{Tap{ID: "strip", StripPayload: true}, 14 + 20 + 8},
		{Tap{ID: "snap", SnapLen: 60, RingMB: MinRingMB}, 60},
		{Tap{ID: "whole"}, 14 + 20 + 8 + 500},
	}
	for _, c := range cases {
		tap := c.tap
		tap.NIC, tap.Interval, tap.Filter = p.capIf, 800*time.Millisecond, "udp"
		if _, err := m.Create(tap, true); err != nil {
			t.Fatal(err)
		}
		time.Sleep(400 * time.Millisecond)
		p.sendUDP(t, 5555, 10, 500)
		if _, err := m.Stop(tap.ID); err != nil {
			t.Fatal(err)
		}
		st, _ := m.Get(tap.ID)
		if st.State != StateStopped || st.Stats.LastFile == "" {
			t.Fatalf("%s: %+v", tap.ID, st)
		}
		pkts, _ := readPcap(t, st.Stats.LastFile)
		if len(pkts) != 10 {
			t.Errorf("%s: %d packets, want 10", tap.ID, len(pkts))
		}
		for _, pk := range pkts {
			if pk.ci.CaptureLength != c.wantCap || len(pk.data) != c.wantCap || pk.ci.Length != 542 {
				t.Errorf("%s: caplen %d data %d len %d, want caplen %d len 542", tap.ID,
					pk.ci.CaptureLength, len(pk.data), pk.ci.Length, c.wantCap)
				break
			}
		}
		if tap.StripPayload && st.Stats.Stripped != 10 {
			t.Errorf("strip: stripped = %d", st.Stats.Stripped)
		}
	}
}

// TestLiveNICGoneRetries deletes the NIC under a running tap: the tap
// reports retrying with the reason, then captures again once the NIC is
// back.
func TestLiveNICGoneRetries(t *testing.T) {
	p := newVethPair(t)
	m, _ := testManager(t, p.capPath())
	if _, err := m.Create(Tap{ID: "flaky", NIC: p.capIf, Interval: time.Hour, Filter: "udp"}, true); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	ipCmd(t, "-n", p.capNS, "link", "del", p.capIf)
	st := waitState(t, m, "flaky", 5*time.Second, StateRetrying)
	if !strings.Contains(st.Reason, p.capIf) {
		t.Errorf("reason %q does not name the NIC", st.Reason)
	}

	p.link(t)
	waitState(t, m, "flaky", 15*time.Second, StateRunning)
	time.Sleep(300 * time.Millisecond)
	p.sendUDP(t, 4444, 5, 50)
	st, err := m.Stop("flaky")
	if err != nil {
		t.Fatal(err)
	}
	if st.Stats.Packets != 5 || st.Stats.Files != 1 {
		t.Errorf("after the NIC came back: %+v", st.Stats)
	}
}

// TestLivePersistResume closes a manager with a running tap and opens a
// new one over the same DB: Resume restarts the tap; a stopped tap stays
// stopped.
func TestLivePersistResume(t *testing.T) {
	p := newVethPair(t)
	dir := t.TempDir()
	db := openDB(t, filepath.Join(dir, "jobs.db"))
	defer db.Close()
	opts := Options{DB: db, DropDir: filepath.Join(dir, "files"), StagingDir: filepath.Join(dir, "stage"),
		Netns: p.capPath()}

	m1, err := NewManager(opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m1.Create(Tap{ID: "keep", NIC: p.capIf, Interval: time.Hour, Filter: "udp",
		Metadata: map[string]any{"site": "lab"}}, true); err != nil {
		t.Fatal(err)
	}
	if _, err := m1.Create(Tap{ID: "halt", NIC: p.capIf, Interval: time.Hour}, true); err != nil {
		t.Fatal(err)
	}
	if _, err := m1.Stop("halt"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(400 * time.Millisecond)
	p.sendUDP(t, 3333, 7, 50)
	time.Sleep(100 * time.Millisecond)
	m1.Close()
	if _, err := m1.Start("keep"); err == nil {
		t.Error("Start after Close succeeded")
	}

	m2, err := NewManager(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	if st, _ := m2.Get("keep"); st.State != StateRunning || st.Stats.Packets != 7 || st.Stats.Files != 1 {
		t.Fatalf("stored after Close: %+v", st)
	}
	if got := m2.Resume(); len(got) != 1 || got[0] != "keep" {
		t.Fatalf("Resume started %v, want [keep]", got)
	}
	if st, _ := m2.Get("halt"); st.State != StateStopped {
		t.Errorf("halt resumed as %s", st.State)
	}
	time.Sleep(400 * time.Millisecond)
	p.sendUDP(t, 3333, 4, 50)
	st, err := m2.Stop("keep")
	if err != nil {
		t.Fatal(err)
	}
	if st.Stats.Packets != 11 || st.Stats.Files != 2 || st.Config.Metadata["site"] != "lab" {
		t.Errorf("after resume: %+v", st)
	}
	if files := dropFiles(t, opts.DropDir); len(files) != 2 {
		t.Errorf("drop folder: %v", files)
	}
}

// TestLiveDiskFull fills a small tmpfs: the tap fails with the reason, and
// every file already delivered is a whole capture.
func TestLiveDiskFull(t *testing.T) {
	p := newVethPair(t)
	root := t.TempDir()
	ipless := filepath.Join(root, "small")
	os.Mkdir(ipless, 0o755)
	if out, err := execOut("mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", ipless); err != nil {
		t.Skipf("cannot mount a tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { execOut("umount", ipless) })
	db := openDB(t, filepath.Join(root, "jobs.db"))
	defer db.Close()
	m, err := NewManager(Options{DB: db, DropDir: filepath.Join(ipless, "files"),
		StagingDir: filepath.Join(ipless, "stage"), Netns: p.capPath()})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := m.Create(Tap{ID: "full", NIC: p.capIf, Interval: 300 * time.Millisecond, Filter: "udp"}, true); err != nil {
		t.Fatal(err)
	}
	time.Sleep(400 * time.Millisecond)
	for range 40 {
		p.sendUDP(t, 2222, 20, 1200)
		time.Sleep(25 * time.Millisecond)
		if st, _ := m.Get("full"); st.State == StateFailed {
			break
		}
	}
	st := waitState(t, m, "full", 5*time.Second, StateFailed)
	if !strings.Contains(st.Reason, "no space") {
		t.Errorf("reason %q does not say the disk is full", st.Reason)
	}
	files := dropFiles(t, filepath.Join(ipless, "files"))
	if len(files) == 0 {
		t.Fatalf("no file was finished before the disk filled (stats %+v)", st.Stats)
	}
	n := 0
	for _, f := range files {
		pkts, _ := readPcap(t, f) // fails the test on a cut file
		n += len(pkts)
	}
	if uint64(n) != st.Stats.Packets-0 && uint64(n) > st.Stats.Packets {
		t.Errorf("files hold %d packets, stats say %d", n, st.Stats.Packets)
	}
	if left, _ := os.ReadDir(filepath.Join(ipless, "stage")); len(left) != 0 {
		t.Errorf("staging keeps %d files after the failure", len(left))
	}
}

// decodeUDP is used by tests that check a packet's payload length.
func decodeUDP(data []byte) *layers.UDP {
	g := gopacket.NewPacket(data, layers.LinkTypeEthernet, gopacket.Default)
	u, _ := g.Layer(layers.LayerTypeUDP).(*layers.UDP)
	return u
}

// TestLiveCapturingWhenStartReturns sends right after Create and Start
// return: every packet must be in the files, also with a large ring that
// takes a while to set up. Before, start returned before the socket was
// open and the first packets were lost without a drop being counted.
func TestLiveCapturingWhenStartReturns(t *testing.T) {
	p := newVethPair(t)
	m, _ := testManager(t, p.capPath())

	for _, ring := range []int{0, 512} {
		id := fmt.Sprintf("ring%d", ring)
		st, err := m.Create(Tap{ID: id, NIC: p.capIf, Interval: time.Hour, Filter: "udp port 5601",
			RingMB: ring}, true)
		if err != nil {
			t.Fatal(err)
		}
		if st.State != StateRunning {
			t.Fatalf("%s: Create returned state %s (%s), want running", id, st.State, st.Reason)
		}
		p.sendUDP(t, 5601, 20, 100)
		time.Sleep(100 * time.Millisecond)
		st, err = m.Stop(id)
		if err != nil {
			t.Fatal(err)
		}
		if st.Stats.Packets != 20 {
			t.Errorf("%s: %d packets captured of the 20 sent right after start", id, st.Stats.Packets)
		}

		// Start again (not Create): the same promise.
		if st, err = m.Start(id); err != nil || st.State != StateRunning {
			t.Fatalf("%s: Start: %v, state %s", id, err, st.State)
		}
		p.sendUDP(t, 5601, 20, 100)
		time.Sleep(100 * time.Millisecond)
		if st, err = m.Stop(id); err != nil {
			t.Fatal(err)
		}
		if st.Stats.Packets != 40 {
			t.Errorf("%s: %d packets captured in all, want 40", id, st.Stats.Packets)
		}
	}
}
