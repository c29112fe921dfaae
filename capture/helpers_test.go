package capture

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"go.etcd.io/bbolt"

	"github.com/ventapp/ventapp/internal/netns"
)

// pcapsDir holds the shared real captures (capture/ is one level down).
var pcapsDir = filepath.Join("..", "..", "shared", "testdata", "pcaps")

// traceName matches vent's capture file names.
var traceName = regexp.MustCompile(`^trace_([^_]+)_\d{4}-\d\d-\d\d_\d\d_\d\d_\d\d(_\d+)?\.pcap$`)

var nsCounter atomic.Int32

// vethPair is two network namespaces made by a test, joined by a veth
// pair: capIf (capAddr) in capNS, peerIf (peerAddr) in peerNS.
type vethPair struct {
	capNS, peerNS     string
	capIf, peerIf     string
	capAddr, peerAddr string
	subnet            int
}

func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (CAP_NET_RAW and CAP_SYS_ADMIN to make network namespaces)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs iproute2's ip")
	}
}

func ipCmd(t testing.TB, args ...string) {
	t.Helper()
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// newVethPair makes the namespaces and removes them when the test ends.
func newVethPair(t testing.TB) *vethPair {
	t.Helper()
	requireRoot(t)
	n := int(nsCounter.Add(1))
	p := &vethPair{
		capNS:  fmt.Sprintf("vtcap%d-%d", os.Getpid(), n),
		peerNS: fmt.Sprintf("vtpeer%d-%d", os.Getpid(), n),
		capIf:  "vcap0", peerIf: "vpeer0",
		subnet: 100 + n%100,
	}
	p.capAddr = fmt.Sprintf("10.199.%d.1", p.subnet)
	p.peerAddr = fmt.Sprintf("10.199.%d.2", p.subnet)
	for _, ns := range []string{p.capNS, p.peerNS} {
		ipCmd(t, "netns", "add", ns)
		t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
		ipCmd(t, "-n", ns, "link", "set", "lo", "up")
	}
	p.link(t)
	return p
}

// link (re)creates the veth pair with its addresses.
func (p *vethPair) link(t testing.TB) {
	t.Helper()
	ipCmd(t, "-n", p.capNS, "link", "add", p.capIf, "type", "veth", "peer", "name", p.peerIf,
		"netns", p.peerNS)
	ipCmd(t, "-n", p.capNS, "addr", "add", p.capAddr+"/24", "dev", p.capIf)
	ipCmd(t, "-n", p.peerNS, "addr", "add", p.peerAddr+"/24", "dev", p.peerIf)
	// No IPv6 chatter (router solicitations, DAD) in the captures.
	for _, ns := range []string{p.capNS, p.peerNS} {
		exec.Command("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1").Run()
	}
	ipCmd(t, "-n", p.capNS, "link", "set", p.capIf, "up")
	ipCmd(t, "-n", p.peerNS, "link", "set", p.peerIf, "up")
}

func (p *vethPair) capPath() string { return "/run/netns/" + p.capNS }

// peerSocket opens a UDP socket in the peer namespace. It is unconnected,
// so the port-unreachable answers cannot fail sends.
func (p *vethPair) peerSocket(t testing.TB) *net.UDPConn {
	t.Helper()
	var conn *net.UDPConn
	err := netns.Run("/run/netns/"+p.peerNS, func() error {
		var err error
		conn, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(p.peerAddr)})
		return err
	})
	if err != nil {
		t.Fatalf("udp socket in %s: %v", p.peerNS, err)
	}
	return conn
}

// sendUDP sends n datagrams of size bytes from the peer namespace to the
// capture end's port.
func (p *vethPair) sendUDP(t testing.TB, port, n, size int) {
	t.Helper()
	conn := p.peerSocket(t)
	defer conn.Close()
	dst := &net.UDPAddr{IP: net.ParseIP(p.capAddr), Port: port}
	payload := make([]byte, size)
	for i := range payload {
		payload[i] = 'x'
	}
	for i := range n {
		if _, err := conn.WriteToUDP(payload, dst); err != nil {
			t.Fatalf("udp packet %d: %v", i, err)
		}
		if i%50 == 49 {
			time.Sleep(time.Millisecond)
		}
	}
}

// ping sends n ICMP echoes from the peer namespace with busybox.
func (p *vethPair) ping(t testing.TB, n int) {
	t.Helper()
	out, err := exec.Command("ip", "netns", "exec", p.peerNS, "busybox", "ping", "-c",
		fmt.Sprint(n), "-i", "0.05", "-W", "1", p.capAddr).CombinedOutput()
	if err != nil {
		t.Fatalf("ping: %v\n%s", err, out)
	}
}

// openDB opens a bbolt file in dir.
func openDB(t testing.TB, path string) *bbolt.DB {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// testManager returns a manager over a fresh DB in a temp dir, capturing
// in netns ("" for the test's own).
func testManager(t testing.TB, netns string) (*Manager, string) {
	t.Helper()
	dir := t.TempDir()
	db := openDB(t, filepath.Join(dir, "jobs.db"))
	t.Cleanup(func() { db.Close() })
	m, err := NewManager(Options{
		DB: db, DropDir: filepath.Join(dir, "files"), StagingDir: filepath.Join(dir, "capture-tmp"),
		Netns: netns, Version: "test",
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m, dir
}

// waitState polls until tap id is in one of states, or fails the test.
func waitState(t testing.TB, m *Manager, id string, timeout time.Duration, states ...State) Status {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		st, err := m.Get(id)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range states {
			if st.State == s {
				return st
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("tap %s: state %s (%s) after %s, want one of %v", id, st.State, st.Reason, timeout, states)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// readPackets reads every packet of a pcap file.
type pkt struct {
	ci   gopacket.CaptureInfo
	data []byte
}

func readPcap(t testing.TB, path string) ([]pkt, layers.LinkType) {
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
	var out []pkt
	for {
		data, ci, err := r.ReadPacketData()
		if err == io.EOF {
			return out, r.LinkType()
		}
		if err != nil {
			t.Fatalf("%s: packet %d: %v", path, len(out), err)
		}
		out = append(out, pkt{ci, data})
	}
}

// dropFiles lists the files in dir, sorted, checking vent's names.
func dropFiles(t testing.TB, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if !traceName.MatchString(e.Name()) {
			t.Errorf("file %q in the drop folder does not have vent's name", e.Name())
		}
		out = append(out, filepath.Join(dir, e.Name()))
	}
	sort.Strings(out)
	return out
}

// udpPorts decodes packets and counts them by UDP destination port (-1 for
// anything not UDP).
func udpPorts(link layers.LinkType, pkts []pkt) map[int]int {
	out := map[int]int{}
	for _, p := range pkts {
		g := gopacket.NewPacket(p.data, link, gopacket.Default)
		if u, ok := g.Layer(layers.LayerTypeUDP).(*layers.UDP); ok {
			out[int(u.DstPort)]++
			continue
		}
		out[-1]++
	}
	return out
}

func execOut(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	return string(out), err
}

func statDev(path string) uint64 {
	var st syscall.Stat_t
	if syscall.Stat(path, &st) != nil {
		return 0
	}
	return st.Dev
}
