package portmap

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ventapp/ventapp/internal/netns"
)

// testNetns is a network namespace the test created, with a process in it
// whose pid the Publisher is given.
type testNetns struct {
	name string
	path string
	pid  int
}

// newNetns creates a network namespace with lo up and a sleeping process
// in it; both are removed when the test ends. It skips the test unless it
// runs as root with iproute2.
func newNetns(t *testing.T) *testNetns {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: network namespaces need root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("skipping: iproute2 (ip) is not installed")
	}

	b := make([]byte, 4)
	_, _ = rand.Read(b)
	n := &testNetns{name: "ventapp-pm-" + hex.EncodeToString(b)}
	n.path = "/run/netns/" + n.name
	run(t, "ip", "netns", "add", n.name)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", n.name).Run() })
	run(t, "ip", "-n", n.name, "link", "set", "lo", "up")

	cmd := exec.Command("ip", "netns", "exec", n.name, "sleep", "3600")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	n.pid = cmd.Process.Pid

	// ip joins the namespace, then becomes sleep: wait for the first step.
	nsInfo, err := os.Stat(n.path)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if fi, err := os.Stat(fmt.Sprintf("/proc/%d/ns/net", n.pid)); err == nil && os.SameFile(fi, nsInfo) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d did not join namespace %s", n.pid, n.name)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return n
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// tcpServer listens on 127.0.0.1:port inside n. Each connection gets back
// the namespace's name, a colon and everything the client sent before it
// closed its write half.
func (n *testNetns) tcpServer(t *testing.T, port int) {
	t.Helper()
	var ln net.Listener
	err := netns.Run(n.path, func() (err error) {
		ln, err = net.Listen("tcp4", fmt.Sprintf("127.0.0.1:%d", port))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				data, _ := io.ReadAll(c)
				_, _ = c.Write(append([]byte(n.name+":"), data...))
			}()
		}
	}()
}

// udpServer answers each datagram on 127.0.0.1:port inside n with the
// namespace's name, a colon and the datagram.
func (n *testNetns) udpServer(t *testing.T, port int) {
	t.Helper()
	var pc net.PacketConn
	err := netns.Run(n.path, func() (err error) {
		pc, err = net.ListenPacket("udp4", fmt.Sprintf("127.0.0.1:%d", port))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 2048)
		for {
			k, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = pc.WriteTo(append([]byte(n.name+":"), buf[:k]...), from)
		}
	}()
}

// testLog sends the Publisher's log to the test log.
func testLog(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// pidOf returns an Options.Pid function that reads *pid.
func pidOf(pid *atomic.Int64) func() (int, error) {
	return func() (int, error) {
		if v := pid.Load(); v > 0 {
			return int(v), nil
		}
		return 0, ErrNotRunning
	}
}

// ask connects to addr, sends msg, closes the write half and returns what
// came back until the server closed.
func ask(t *testing.T, addr, msg string) (string, error) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := c.Write([]byte(msg)); err != nil {
		return "", err
	}
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		return "", err
	}
	data, err := io.ReadAll(c)
	return string(data), err
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) uint16 {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return uint16(ln.Addr().(*net.TCPAddr).Port)
}

var loopback = netip.MustParseAddr("127.0.0.1")

func TestPublishTCP(t *testing.T) {
	a := newNetns(t)
	a.tcpServer(t, 8080)
	a.tcpServer(t, 9090)
	var pid atomic.Int64
	pid.Store(int64(a.pid))

	fixed := freePort(t)
	p, err := Publish([]Mapping{
		{Proto: "tcp", HostIP: loopback, ContainerPort: 8080},
		{Proto: "tcp", HostIP: loopback, HostPort: fixed, ContainerPort: 9090},
	}, Options{Pid: pidOf(&pid), Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	bound := p.Bound()
	if len(bound) != 2 || bound[0].HostPort == 0 || bound[1].HostPort != fixed {
		t.Fatalf("bound %v, want a random port and %d", bound, fixed)
	}
	tests := []struct {
		name string
		m    Mapping
		msg  string
	}{
		{"random port", bound[0], "hello"},
		{"fixed port", bound[1], "world"},
		{"large body", bound[0], strings.Repeat("0123456789", 200_000)},
		{"nothing sent", bound[1], ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ask(t, tt.m.HostAddr(), tt.msg)
			if err != nil {
				t.Fatal(err)
			}
			if want := a.name + ":" + tt.msg; got != want {
				t.Errorf("reply of %d bytes, want %d bytes (%.40q...)", len(got), len(want), want)
			}
		})
	}
}

func TestPublishFollowsPid(t *testing.T) {
	a, b := newNetns(t), newNetns(t)
	a.tcpServer(t, 8080)
	b.tcpServer(t, 8080)
	var pid atomic.Int64
	pid.Store(int64(a.pid))

	p, err := Publish([]Mapping{{Proto: "tcp", HostIP: loopback, ContainerPort: 8080}},
		Options{Pid: pidOf(&pid), Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	addr := p.Bound()[0].HostAddr()

	// A connection opened before the switch stays with its namespace.
	early, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer early.Close()
	if _, err := early.Write([]byte("early")); err != nil {
		t.Fatal(err)
	}

	for i, n := range []*testNetns{a, b, a} {
		pid.Store(int64(n.pid))
		if got, err := ask(t, addr, "x"); err != nil || got != n.name+":x" {
			t.Errorf("connection %d: %q, %v; want the reply of %s", i, got, err, n.name)
		}
	}

	_ = early.(*net.TCPConn).CloseWrite()
	if got, _ := io.ReadAll(early); string(got) != a.name+":early" {
		t.Errorf("connection opened before the switch: %q", got)
	}

	// No process: the client is let in and closed at once; the publisher
	// goes on serving.
	pid.Store(0)
	if got, _ := ask(t, addr, "x"); got != "" {
		t.Errorf("reply with no process: %q", got)
	}
	pid.Store(int64(b.pid))
	if got, err := ask(t, addr, "y"); got != b.name+":y" {
		t.Errorf("after a refused connection: %q, %v", got, err)
	}
}

func TestPublishNothingListening(t *testing.T) {
	a := newNetns(t)
	var pid atomic.Int64
	pid.Store(int64(a.pid))
	p, err := Publish([]Mapping{{Proto: "tcp", HostIP: loopback, ContainerPort: 8080}},
		Options{Pid: pidOf(&pid), Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	if got, _ := ask(t, p.Bound()[0].HostAddr(), "x"); got != "" {
		t.Errorf("reply with nothing listening in the container: %q", got)
	}
	a.tcpServer(t, 8080)
	if got, err := ask(t, p.Bound()[0].HostAddr(), "x"); got != a.name+":x" {
		t.Errorf("once the service listens: %q, %v", got, err)
	}
}

func TestPublishPortInUse(t *testing.T) {
	taken, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	port := uint16(taken.Addr().(*net.TCPAddr).Port)
	free := freePort(t)

	noPid := func() (int, error) { return 0, ErrNotRunning }
	_, err = Publish([]Mapping{
		{Proto: "tcp", HostIP: loopback, HostPort: free, ContainerPort: 80},
		{Proto: "tcp", HostIP: loopback, HostPort: port, ContainerPort: 8080},
	}, Options{Pid: noPid})
	if !errors.Is(err, ErrPortInUse) {
		t.Fatalf("err %v, want ErrPortInUse", err)
	}
	want := fmt.Sprintf("publish 8080/tcp on 127.0.0.1:%d", port)
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not name %q", err, want)
	}

	// The port bound before the failure was given back.
	ln, err := net.Listen("tcp4", fmt.Sprintf("127.0.0.1:%d", free))
	if err != nil {
		t.Errorf("the first port was kept after the failure: %v", err)
	} else {
		ln.Close()
	}

	if _, err := Publish(nil, Options{}); err == nil {
		t.Error("Publish without Pid worked")
	}
}

func TestPublishUDP(t *testing.T) {
	a, b := newNetns(t), newNetns(t)
	a.udpServer(t, 5353)
	b.udpServer(t, 5353)
	var pid atomic.Int64
	pid.Store(int64(a.pid))

	p, err := Publish([]Mapping{{Proto: "udp", HostIP: loopback, ContainerPort: 5353}},
		Options{Pid: pidOf(&pid), Log: testLog(t), UDPIdle: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	addr := net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback, p.Bound()[0].HostPort))

	exchange := func(c *net.UDPConn, msg string) string {
		t.Helper()
		if _, err := c.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 2048)
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		n, err := c.Read(buf)
		if err != nil {
			return "error: " + err.Error()
		}
		return string(buf[:n])
	}

	// Two clients, each with a session of its own.
	c1, err := net.DialUDP("udp4", nil, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	c2, err := net.DialUDP("udp4", nil, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if got := exchange(c1, "one"); got != a.name+":one" {
		t.Errorf("client 1: %q", got)
	}
	if got := exchange(c2, "two"); got != a.name+":two" {
		t.Errorf("client 2: %q", got)
	}
	big := bytes.Repeat([]byte("u"), 1400)
	if got := exchange(c1, string(big)); got != a.name+":"+string(big) {
		t.Errorf("client 1, 1400 bytes: got %d bytes", len(got))
	}

	// The session of client 1 ends once idle; its next datagram opens a
	// new one, in the namespace the pid names then.
	pid.Store(int64(b.pid))
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := exchange(c1, "three")
		if got == b.name+":three" {
			break
		}
		if got != a.name+":three" && !strings.HasPrefix(got, "error:") {
			t.Fatalf("client 1 after the switch: %q", got)
		}
		if time.Now().After(deadline) {
			t.Fatal("the idle UDP session never ended")
		}
		time.Sleep(300 * time.Millisecond)
	}
}

func TestClose(t *testing.T) {
	a := newNetns(t)
	var pid atomic.Int64
	pid.Store(int64(a.pid))

	// A server that holds connections open until the client goes.
	var ln net.Listener
	err := netns.Run(a.path, func() (err error) {
		ln, err = net.Listen("tcp4", "127.0.0.1:7000")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(c, c); c.Close() }()
		}
	}()

	p, err := Publish([]Mapping{
		{Proto: "tcp", HostIP: loopback, ContainerPort: 7000},
		{Proto: "udp", HostIP: loopback, ContainerPort: 7000},
	}, Options{Pid: pidOf(&pid), Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	addr := p.Bound()[0].HostAddr()
	open, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()
	buf := make([]byte, 4)
	_, _ = open.Write([]byte("ping"))
	_ = open.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(open, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("echo before Close: %q, %v", buf, err)
	}

	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := open.Read(buf); err == nil {
		t.Error("an open connection survived Close")
	}
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Error("the port still accepts after Close")
	}
	if pc, err := net.ListenPacket("udp4", p.Bound()[1].HostAddr()); err != nil {
		t.Errorf("the UDP port is still bound after Close: %v", err)
	} else {
		pc.Close()
	}
}
