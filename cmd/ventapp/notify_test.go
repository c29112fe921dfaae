package main

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSystemdNotify runs `ventapp serve` the way systemd does (NOTIFY_SOCKET,
// WATCHDOG_USEC) and checks READY, the watchdog pings, STATUS, reloading on
// SIGHUP (a broken config is refused and the daemon keeps running) and
// STOPPING on SIGTERM. containerd is absent on purpose: the daemon must
// start, say so, and keep going.
func TestSystemdNotify(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping: builds the binary")
	}
	dir := t.TempDir()
	bin := ventappBinary(t)

	sockPath := filepath.Join(dir, "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sockPath, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	msgs := make(chan string, 100)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				close(msgs)
				return
			}
			msgs <- string(buf[:n])
		}
	}()

	cfgPath := filepath.Join(dir, "vent.cfg")
	writeCfg := func(extra string) {
		text := "[main]\nfiles = " + filepath.Join(dir, "drop") + "\n[ventapp]\ndata_dir = " +
			filepath.Join(dir, "data") + "\n[containerd]\naddress = " + filepath.Join(dir, "none.sock") + "\n" + extra
		if err := os.WriteFile(cfgPath, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeCfg("")

	var logBuf bytes.Buffer
	cmd := exec.Command(bin, "serve", "--config", cfgPath)
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sockPath, "WATCHDOG_USEC=1000000")
	cmd.Stderr = &logBuf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()

	expect := func(prefix string, within time.Duration) string {
		t.Helper()
		deadline := time.After(within)
		for {
			select {
			case m := <-msgs:
				if strings.HasPrefix(m, prefix) {
					return m
				}
			case <-deadline:
				t.Fatalf("no %q notification within %s; log:\n%s", prefix, within, logBuf.String())
			}
		}
	}

	ready := expect("READY=1", 20*time.Second)
	if !strings.Contains(ready, "STATUS=") || !strings.Contains(ready, "containerd unavailable") {
		t.Errorf("READY message %q should carry a status saying containerd is unavailable", ready)
	}
	if out, err := exec.Command(bin, "status", "--config", cfgPath).CombinedOutput(); err != nil {
		t.Errorf("status right after READY: %v\n%s", err, out)
	}
	expect("WATCHDOG=1", 5*time.Second)
	expect("STATUS=", 5*time.Second)

	writeCfg("[jobs]\ntimeout = 5m\n")
	cmd.Process.Signal(syscall.SIGHUP)
	expect("RELOADING=1", 5*time.Second)
	expect("READY=1", 5*time.Second)

	writeCfg("[jobs]\nworkers = none\n")
	cmd.Process.Signal(syscall.SIGHUP)
	expect("READY=1", 5*time.Second)
	// The client cannot read the broken file either; it finds the socket
	// through the data dir.
	if out, err := exec.Command(bin, "status", "--data-dir", filepath.Join(dir, "data")).CombinedOutput(); err != nil {
		t.Errorf("status after a refused reload: %v\n%s", err, out)
	}

	// A syntax error too: the daemon keeps its config, and clients still
	// reach it through the file, warned about the line they ignored.
	writeCfg("[broken\n")
	cmd.Process.Signal(syscall.SIGHUP)
	expect("READY=1", 5*time.Second)
	out, err := exec.Command(bin, "status", "--config", cfgPath).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "malformed section header") {
		t.Errorf("status with a syntax error in the config: %v\n%s", err, out)
	}

	writeCfg("")
	cmd.Process.Signal(syscall.SIGTERM)
	expect("STOPPING=1", 30*time.Second)
	if err := cmd.Wait(); err != nil {
		t.Errorf("serve exited with %v", err)
	}

	log := logBuf.String()
	for _, want := range []string{"config reloaded", "config reload refused", "workers"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
}
