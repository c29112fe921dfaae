package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// openPTY returns the two ends of a new pseudo-terminal.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { master.Close() })
	fd := int(master.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlocking the pseudo-terminal: %v", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("pseudo-terminal number: %v", err)
	}
	slave, err = os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { slave.Close() })
	return master, slave
}

// Every command runs on a terminal that answers no queries (a bare
// pseudo-terminal, a serial console) without asking it anything first:
// the terminal libraries linked in for the TUI would otherwise ask for
// the background colour as the binary starts and wait five seconds for an
// answer that never comes. TERM reaches the command's children unchanged.
func TestNoTerminalQueryAtStart(t *testing.T) {
	bin := ventappBinary(t)
	master, slave := openPTY(t)

	cmd := exec.Command(bin, "version")
	cmd.Env = append(os.Environ(), "TERM=xterm-256color", "COLORFGBG=")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close()

	var seen bytes.Buffer
	buf := make([]byte, 4096)
	for {
		n, err := master.Read(buf)
		seen.Write(buf[:n])
		if err != nil {
			break // EIO once the child and its terminal are gone
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("ventapp version on a terminal: %v; it wrote %q", err, seen.String())
	}

	for _, q := range []string{"\x1b]11;?", "\x1b]10;?", "\x1b[6n"} {
		if bytes.Contains(seen.Bytes(), []byte(q)) {
			t.Errorf("ventapp version sent the terminal the query %q; all it wrote: %q", q, seen.String())
		}
	}
	if !bytes.Contains(seen.Bytes(), []byte("ventapp")) {
		t.Errorf("no version line on the terminal: %q", seen.String())
	}
}

// A child the binary starts (here the editor of `plugins configure`) gets
// TERM as ventapp was given it.
func TestTermReachesChildren(t *testing.T) {
	dir := t.TempDir()
	bin := ventappBinary(t)
	sock := filepath.Join(dir, "api.sock")
	text := "[info]\nname = web\n"
	serveTemplates(t, sock, &text)
	cfg := filepath.Join(dir, "vent.cfg")
	os.WriteFile(cfg, []byte("[ventapp]\ndata_dir = "+dir+"\n[api]\nsocket = "+sock+"\n"), 0o600)
	editor := filepath.Join(dir, "editor.sh")
	seen := filepath.Join(dir, "term")
	os.WriteFile(editor, []byte("#!/bin/sh\necho \"$TERM\" > "+seen+"\n"), 0o755)

	for _, term := range []string{"xterm-256color", "linux"} {
		cmd := exec.Command(bin, "--config", cfg, "plugins", "configure", "web")
		cmd.Env = append(os.Environ(), "TERM="+term, "EDITOR="+editor, "VISUAL=")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("plugins configure: %v\n%s", err, out)
		}
		got, _ := os.ReadFile(seen)
		if string(bytes.TrimSpace(got)) != term {
			t.Errorf("the editor saw TERM=%q, want %q", bytes.TrimSpace(got), term)
		}
	}
}
