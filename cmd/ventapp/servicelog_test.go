package main

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// TestServiceLoggerMode starts the ventapp binary the way containerd's
// shim starts a service's logging process: stdout and stderr pipes on
// descriptors 3 and 4, a readiness pipe on 5, an empty environment. It
// must signal ready, name itself apart from the daemon, outlast a SIGTERM,
// and append both streams to the file named until they end.
func TestServiceLoggerMode(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping a test that builds the binary in -short mode")
	}
	dir := t.TempDir()
	bin := ventappBinary(t)
	logPath := filepath.Join(dir, "svc.log")

	pipe := func() (*os.File, *os.File) {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		return r, w
	}
	outR, outW := pipe()
	errR, errW := pipe()
	readyR, readyW := pipe()
	cmd := exec.Command(bin, "--ventapp-service-log", logPath)
	cmd.Env = []string{"CONTAINER_ID=svc", "CONTAINER_NAMESPACE=ventapp"}
	cmd.ExtraFiles = []*os.File{outR, errR, readyW}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	outR.Close()
	errR.Close()
	readyW.Close()

	if n, err := readyR.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("ready pipe: %d bytes, %v; want it closed", n, err)
	}
	if _, err := os.Stat(logPath); err != nil {
		t.Fatalf("the log file is not there once ready: %v", err)
	}
	comm, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(cmd.Process.Pid), "comm"))
	if string(comm) != "ventapp-svclog\n" {
		t.Errorf("process name %q, want ventapp-svclog (apart from the daemon's)", comm)
	}
	outW.WriteString("first out\n")
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	errW.WriteString("last err\n")
	outW.Close()
	errW.Close()

	if err := cmd.Wait(); err != nil {
		t.Fatalf("logging process: %v", err)
	}
	if data, _ := os.ReadFile(logPath); string(data) != "first out\nlast err\n" {
		t.Errorf("log %q, want both lines", data)
	}
}
