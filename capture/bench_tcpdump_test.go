package capture

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gopacket/gopacket/pcapgo"
)

// The comparison with tcpdump is opt-in: it needs tcpdump, root, two
// network namespaces, and it loads both CPUs for several seconds.
const benchTcpdumpEnv = "VENTAPP_BENCH_TCPDUMP"

// benchPort is the UDP port both captures filter on.
const benchPort = 9000

// benchDuration is how long traffic is sent at each rate.
const benchDuration = 2 * time.Second

// requireTcpdumpBench skips unless the opt-in variable is set and tcpdump
// is installed; it returns tcpdump's path.
func requireTcpdumpBench(b *testing.B) string {
	b.Helper()
	if os.Getenv(benchTcpdumpEnv) != "1" {
		b.Skipf("set %s=1 to compare taps with tcpdump", benchTcpdumpEnv)
	}
	path, err := exec.LookPath("tcpdump")
	if err != nil {
		b.Skip("tcpdump is not installed")
	}
	requireRoot(b)
	return path
}

// linkCounters are a NIC's receive counters, read with `ip -s -j`.
type linkCounters struct {
	Packets, Bytes, Dropped uint64
}

func rxCounters(b *testing.B, ns, nic string) linkCounters {
	b.Helper()
	out, err := exec.Command("ip", "-n", ns, "-s", "-j", "link", "show", "dev", nic).Output()
	if err != nil {
		b.Fatalf("ip -n %s -s link show %s: %v", ns, nic, err)
	}
	var links []struct {
		Stats struct {
			Rx struct {
				Bytes, Packets, Dropped uint64
			} `json:"rx"`
		} `json:"stats64"`
	}
	if err := json.Unmarshal(out, &links); err != nil || len(links) != 1 {
		b.Fatalf("ip -s -j link show %s: %v: %s", nic, err, out)
	}
	rx := links[0].Stats.Rx
	return linkCounters{rx.Packets, rx.Bytes, rx.Dropped}
}

// pacedUDP sends size-byte datagrams to benchPort for d, at rate packets a
// second (0: as fast as the socket takes them). It returns the datagrams
// the socket accepted.
func (p *vethPair) pacedUDP(b *testing.B, rate, size int, d time.Duration) int {
	b.Helper()
	conn := p.peerSocket(b)
	defer conn.Close()
	dst := &net.UDPAddr{IP: net.ParseIP(p.capAddr), Port: benchPort}
	payload := make([]byte, size)

	sent := 0
	start := time.Now()
	for {
		elapsed := time.Since(start)
		if elapsed >= d {
			return sent
		}
		target := int(float64(rate) * elapsed.Seconds())
		if rate == 0 {
			target = sent + 64
		}
		if sent >= target {
			time.Sleep(200 * time.Microsecond)
			continue
		}
		for ; sent < target; sent++ {
			if _, err := conn.WriteToUDP(payload, dst); err != nil {
				// ENOBUFS and the like: the packet was not offered.
				sent--
				target = sent
				break
			}
		}
	}
}

// tcpdumpRun is a `tcpdump -w` process capturing in a namespace.
type tcpdumpRun struct {
	cmd    *exec.Cmd
	file   string
	stderr *strings.Builder
	done   chan error
}

var tcpdumpCaptured = regexp.MustCompile(`(\d+) packets captured`)
var tcpdumpDropped = regexp.MustCompile(`(\d+) packets dropped by kernel`)

// startTcpdump starts tcpdump on nic in ns with the same filter as the
// tap and waits until it is listening.
func startTcpdump(b *testing.B, tcpdump, ns, nic, file string) *tcpdumpRun {
	b.Helper()
	r := &tcpdumpRun{file: file, stderr: &strings.Builder{}, done: make(chan error, 1)}
	r.cmd = exec.Command("ip", "netns", "exec", ns, tcpdump, "-i", nic, "-n", "-w", file,
		fmt.Sprintf("udp port %d", benchPort))
	pipe, err := r.cmd.StderrPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := r.cmd.Start(); err != nil {
		b.Fatal(err)
	}
	listening := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(pipe)
		once := false
		for sc.Scan() {
			r.stderr.WriteString(sc.Text() + "\n")
			if !once && strings.Contains(sc.Text(), "listening on") {
				once = true
				close(listening)
			}
		}
		r.done <- r.cmd.Wait()
	}()
	select {
	case <-listening:
	case err := <-r.done:
		b.Fatalf("tcpdump ended before listening: %v\n%s", err, r.stderr)
	case <-time.After(10 * time.Second):
		r.cmd.Process.Kill()
		b.Fatalf("tcpdump did not start listening within 10s\n%s", r.stderr)
	}
	return r
}

// stop ends tcpdump with SIGINT (it then flushes its file and prints its
// counters) and returns the packets in its file and its kernel drops.
func (r *tcpdumpRun) stop(b *testing.B) (kept, kernelDrops uint64) {
	b.Helper()
	r.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-r.done:
	case <-time.After(15 * time.Second):
		r.cmd.Process.Kill()
		<-r.done
		b.Fatalf("tcpdump did not stop within 15s")
	}
	if m := tcpdumpDropped.FindStringSubmatch(r.stderr.String()); m != nil {
		kernelDrops, _ = strconv.ParseUint(m[1], 10, 64)
	}
	if tcpdumpCaptured.FindStringSubmatch(r.stderr.String()) == nil {
		b.Fatalf("tcpdump printed no counters:\n%s", r.stderr)
	}
	return countPackets(b, r.file), kernelDrops
}

// countPackets counts the records of a pcap file without keeping them.
func countPackets(b *testing.B, path string) uint64 {
	b.Helper()
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(bufio.NewReaderSize(f, 1<<20))
	if err != nil {
		b.Fatalf("%s: %v", path, err)
	}
	var n uint64
	for {
		_, _, err := r.ReadPacketData()
		if err == io.EOF {
			return n
		}
		if err != nil {
			b.Fatalf("%s: packet %d: %v", path, n, err)
		}
		n++
	}
}

// sideBySide is one run of a tap and tcpdump on the same NIC.
type sideBySide struct {
	sent              int           // datagrams the sender's socket accepted
	arrived           linkCounters  // what the capture NIC received meanwhile
	tapKept, tcpKept  uint64        // packets in each capture's files
	tapDrops, tcpDrop uint64        // kernel ring drops each reported
	tapBytes          uint64        // bytes in the tap's files
	tapElapsed        time.Duration // tap start to file delivered
}

// runSideBySide captures with a tap and tcpdump (none when tcpdump is "") while rate datagrams a
// second of size bytes are sent for benchDuration.
func runSideBySide(b *testing.B, p *vethPair, m *Manager, tcpdump, id string, rate, size int) sideBySide {
	b.Helper()
	dir := b.TempDir()
	var td *tcpdumpRun
	if tcpdump != "" {
		td = startTcpdump(b, tcpdump, p.capNS, p.capIf, filepath.Join(dir, "tcpdump.pcap"))
	}
	start := time.Now()
	if _, err := m.Create(Tap{ID: id, NIC: p.capIf, Interval: time.Hour,
		Filter: fmt.Sprintf("udp port %d", benchPort)}, true); err != nil {
		b.Fatal(err)
	}
	time.Sleep(400 * time.Millisecond) // the tap drains its socket before its filter goes on

	var r sideBySide
	before := rxCounters(b, p.capNS, p.capIf)
	r.sent = p.pacedUDP(b, rate, size, benchDuration)
	// Let both read what their rings hold: libpcap hands a partly filled
	// TPACKET_V3 block over only after its 1 s block timeout, and tcpdump
	// does not read the ring again once interrupted.
	time.Sleep(1500 * time.Millisecond)
	after := rxCounters(b, p.capNS, p.capIf)
	r.arrived = linkCounters{after.Packets - before.Packets, after.Bytes - before.Bytes,
		after.Dropped - before.Dropped}

	st, err := m.Stop(id)
	if err != nil {
		b.Fatal(err)
	}
	r.tapElapsed = time.Since(start)
	if td != nil {
		r.tcpKept, r.tcpDrop = td.stop(b)
	}
	r.tapKept, r.tapDrops, r.tapBytes = st.Stats.Packets, st.Stats.KernelDrops, st.Stats.Bytes
	if err := m.Delete(id); err != nil {
		b.Fatal(err)
	}
	return r
}

// BenchmarkTapVsTcpdump offers UDP at rising rates over a veth pair and
// counts what a tap and `tcpdump -w`, capturing the same NIC at the same
// time with the same filter, each kept. Metrics: offered packets a second
// (sent), and each capture's kept packets as a percentage of those sent.
func BenchmarkTapVsTcpdump(b *testing.B) {
	tcpdump := requireTcpdumpBench(b)
	p := newVethPair(b)
	m, dir := testManager(b, p.capPath())

	for _, rate := range []int{10_000, 50_000, 100_000, 200_000, 0} {
		name := fmt.Sprintf("pps=%d", rate)
		if rate == 0 {
			name = "pps=max"
		}
		b.Run(name, func(b *testing.B) {
			for i := range b.N {
				r := runSideBySide(b, p, m, tcpdump, fmt.Sprintf("r%d-%d", rate, i), rate, 200)
				sent := float64(max(r.sent, 1))
				b.ReportMetric(float64(r.sent)/benchDuration.Seconds(), "sent/s")
				b.ReportMetric(float64(r.tapKept)/sent*100, "tap%kept")
				b.ReportMetric(float64(r.tcpKept)/sent*100, "tcpdump%kept")
				b.Logf("rate %d: sent %d, NIC rx %d (rx dropped %d); tap kept %d (kernel drops %d); "+
					"tcpdump kept %d (kernel drops %d)", rate, r.sent, r.arrived.Packets, r.arrived.Dropped,
					r.tapKept, r.tapDrops, r.tcpKept, r.tcpDrop)
				os.RemoveAll(filepath.Join(dir, "files"))
			}
		})
	}
}

// BenchmarkTapWriteRate sends large datagrams as fast as the sender can
// over a veth pair with a raised MTU, by a tap alone and with tcpdump
// capturing beside it, and compares the tap's write rate with the link's
// rate and the disk's sequential write speed, measured with dd (256 MiB,
// conv=fdatasync) in the same folder.
func BenchmarkTapWriteRate(b *testing.B) {
	tcpdump := requireTcpdumpBench(b)
	p := newVethPair(b)
	m, dir := testManager(b, p.capPath())
	disk := ddSpeed(b, dir)
	b.Logf("dd: %.0f MB/s sequential write to %s", disk/1e6, dir)

	for _, mtu := range []int{9000, 65000} {
		for _, c := range []struct {
			withTcpdump bool
			// pace, when not 0, offers that multiple of the disk's speed
			// instead of sending as fast as the socket takes datagrams.
			pace float64
		}{{false, 0}, {true, 0}, {false, 1.25}, {true, 1.25}} {
			withTcpdump := c.withTcpdump
			name := fmt.Sprintf("mtu=%d/tap-only", mtu)
			td := ""
			if withTcpdump {
				name, td = fmt.Sprintf("mtu=%d/with-tcpdump", mtu), tcpdump
			}
			rate := 0
			if c.pace > 0 {
				rate = int(c.pace * disk / float64(mtu-28))
				name += fmt.Sprintf("/paced=%.2fx-disk", c.pace)
			}
			b.Run(name, func(b *testing.B) {
				for _, ns := range []struct{ ns, nic string }{{p.capNS, p.capIf}, {p.peerNS, p.peerIf}} {
					ipCmd(b, "-n", ns.ns, "link", "set", "dev", ns.nic, "mtu", fmt.Sprint(mtu))
				}
				for i := range b.N {
					r := runSideBySide(b, p, m, td, fmt.Sprintf("w%d-%v-%d", mtu, withTcpdump, i), rate, mtu-28)
					link := float64(r.arrived.Bytes) / benchDuration.Seconds()
					// The tap's bytes over the send time; the file is fsynced at Stop.
					tapRate := float64(r.tapBytes) / benchDuration.Seconds()
					sent := float64(max(r.sent, 1))
					b.ReportMetric(disk/1e6, "disk-MB/s")
					b.ReportMetric(link/1e6, "link-MB/s")
					b.ReportMetric(tapRate/1e6, "tap-MB/s")
					b.ReportMetric(tapRate/disk*100, "tap%disk")
					b.ReportMetric(float64(r.tapKept)/sent*100, "tap%kept")
					if withTcpdump {
						b.ReportMetric(float64(r.tcpKept)/sent*100, "tcpdump%kept")
					}
					b.Logf("mtu %d: sent %d, NIC rx %d (%d bytes); tap kept %d (%d bytes, kernel drops %d, "+
						"start to delivered %s); tcpdump kept %d (kernel drops %d)",
						mtu, r.sent, r.arrived.Packets, r.arrived.Bytes, r.tapKept, r.tapBytes, r.tapDrops,
						r.tapElapsed.Round(time.Millisecond), r.tcpKept, r.tcpDrop)
					os.RemoveAll(filepath.Join(dir, "files"))
				}
			})
		}
	}
}

// ddSpeed writes 256 MiB of zeros to dir with dd and conv=fdatasync and
// returns bytes a second.
func ddSpeed(b *testing.B, dir string) float64 {
	b.Helper()
	path := filepath.Join(dir, "dd.bin")
	defer os.Remove(path)
	start := time.Now()
	out, err := exec.Command("dd", "if=/dev/zero", "of="+path, "bs=1M", "count=256",
		"conv=fdatasync").CombinedOutput()
	if err != nil {
		b.Fatalf("dd: %v\n%s", err, out)
	}
	return float64(256<<20) / time.Since(start).Seconds()
}
