package containers

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
)

// A service's output is written to its log file by a small logging
// process that containerd's shim starts for each task: this program's own
// executable, run with serviceLogArg and the log path (containerd's
// "binary" log URI). The shim hands it the read ends of the task's stdout
// and stderr pipes as file descriptors 3 and 4, and waits for descriptor
// 5 to close before it starts the task. Being the shim's child, the logger
// keeps writing while ventapp is down or restarting.
//
// containerd's own "file" log URI was used before. Its shim closes the
// shared file as soon as stdout ends, so whatever stderr still held when
// the process exited (often the very message saying why) could be lost.

// serviceLogArg is the first argument of a logging process.
const serviceLogArg = "--ventapp-service-log"

// loggerName is a logging process's name in ps and /proc/PID/comm.
const loggerName = "ventapp-svclog"

// logChunk is the most a logging process reads at once.
const logChunk = 32 << 10

// serviceLogIO is the task IO of a service logging to path through exe.
func serviceLogIO(exe, path string) cio.Creator {
	return cio.BinaryIO(exe, map[string]string{serviceLogArg: path})
}

// ServiceLogMain makes this process a service's logging process when
// containerd's shim started it as one, and then exits; otherwise it
// returns at once. A program that runs services (RunService uses the
// program's own executable as the logger) calls it first thing in main,
// and its tests first thing in TestMain.
func ServiceLogMain() {
	if len(os.Args) != 3 || os.Args[1] != serviceLogArg {
		return
	}
	// Named apart from the daemon, so that `killall ventapp` or `pkill -x
	// ventapp` aimed at the daemon leaves the services' output alone.
	_ = os.WriteFile("/proc/self/comm", []byte(loggerName), 0)
	os.Exit(serviceLog(os.Args[2], os.NewFile(3, "stdout"), os.NewFile(4, "stderr"), os.NewFile(5, "ready")))
}

// serviceLog appends what arrives on stdout and stderr to the file at
// path until both end, and returns the exit status. It closes ready once
// the file is open. The streams end when the shim deletes the task (the
// shim holds their write ends until then, so a service that closes its
// own output keeps its logger); the shim also sends SIGTERM then, which is
// ignored so that both streams are read to their end and nothing written
// before is lost.
func serviceLog(path string, stdout, stderr io.Reader, ready io.Closer) int {
	signal.Ignore(syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGPIPE)

	lf, err := openLog(path)
	if err != nil {
		// The shim starts the task all the same; its output then has no
		// reader. Nothing can be told to the daemon from here.
		fmt.Fprintf(os.Stderr, "ventapp service log: %v\n", err)
		ready.Close()
		return 1
	}
	ready.Close()

	var wg sync.WaitGroup
	for _, r := range []io.Reader{stdout, stderr} {
		wg.Go(func() { lf.copyFrom(r) })
	}
	wg.Wait()
	if err := lf.close(); err != nil {
		fmt.Fprintf(os.Stderr, "ventapp service log: %v\n", err)
		return 1
	}
	return 0
}

// logFile is a service's log file shared by its two streams. It is
// moved to "<path>.1" when it grows past maxLogBytes.
type logFile struct {
	path string

	mu   sync.Mutex
	f    *os.File
	size int64
}

// openLog opens the log file at path for appending, creating it.
func openLog(path string) (*logFile, error) {
	f, size, err := openLogFile(path)
	if err != nil {
		return nil, err
	}
	return &logFile{path: path, f: f, size: size}, nil
}

// openLogFile opens the regular file at path for appending, creating it,
// and returns its size. Something else there (a FIFO would block the open
// for ever, a device would take the output) is an error naming the path.
func openLogFile(path string) (*os.File, int64, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|syscall.O_NONBLOCK, 0o640)
	if err != nil {
		return nil, 0, err
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = fmt.Errorf("%s: not a regular file (%s)", path, fi.Mode().Type())
	}
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, fi.Size(), nil
}

// copyFrom appends what r yields, a read at a time, until r ends. Write
// errors (a full disk) drop that piece and go on reading, so the task is
// never blocked on its output.
func (l *logFile) copyFrom(r io.Reader) {
	buf := make([]byte, logChunk)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			l.write(buf[:n])
		}
		if err != nil {
			return
		}
	}
}

// write appends p. When p takes the file past maxLogBytes, the file is
// moved aside after p's last whole line, so that the new file starts with
// a line (a piece with no newline at all goes in whole first).
func (l *logFile) write(p []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()

	if l.size > maxLogBytes {
		l.rotate()
	}
	if l.size+int64(len(p)) > maxLogBytes {
		if i := bytes.LastIndexByte(p, '\n'); i >= 0 {
			l.put(p[:i+1])
			l.rotate()
			p = p[i+1:]
		}
	}
	l.put(p)
}

// put appends p to the file as it is.
func (l *logFile) put(p []byte) {
	n, _ := l.f.Write(p)
	l.size += int64(n)
}

// rotate moves the file to "<path>.1" and opens a new one. When that
// cannot be done (the file or its folder was deleted, the folder is
// read-only) it empties the open file instead, so that the log never holds
// much more than maxLogBytes on disk, visible or not.
func (l *logFile) rotate() {
	if err := os.Rename(l.path, l.path+".1"); err == nil {
		f, _, err := openLogFile(l.path)
		if err == nil {
			l.f.Close()
			l.f, l.size = f, 0
			return
		}
	}
	if err := l.f.Truncate(0); err == nil {
		l.size = 0
	}
}

// close closes the file.
func (l *logFile) close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f.Close()
}

// loggerCheckEvery is how often a running service's logging process is
// looked for.
var loggerCheckEvery = 5 * time.Second

// checkLogger restarts the service's task when its logging process, seen
// before, is gone (killed by hand or by the OOM killer): the task's output
// would no longer be logged, and once its pipe is full the task would
// block. A logger never seen (a /proc that hides it) is left alone.
func (sv *Service) checkLogger() {
	sv.mu.Lock()
	task, pid := sv.task, sv.loggerPid
	sv.mu.Unlock()
	if task == nil {
		return
	}

	if pid != 0 && isLogger(pid, sv.o.LogPath) {
		return
	}
	if pid == 0 {
		if pid = findLogger(sv.o.LogPath); pid != 0 {
			sv.mu.Lock()
			if sv.task == task {
				sv.loggerPid = pid
			}
			sv.mu.Unlock()
		}
		return
	}

	sv.c.log.Warn("service's logging process is gone; restarting the service so its output is logged",
		"container", sv.spec.ID, "logger_pid", pid)
	kctx, cancel := cleanupCtx(sv.ctx)
	defer cancel()
	if err := task.Kill(kctx, syscall.SIGKILL, client.WithKillAll); err != nil {
		sv.c.log.Warn("could not kill service", "container", sv.spec.ID, "err", err)
	}
}

// findLogger returns the pid of the logging process writing to path, or 0.
func findLogger(path string) int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	for _, e := range entries {
		if pid, err := strconv.Atoi(e.Name()); err == nil && isLogger(pid, path) {
			return pid
		}
	}
	return 0
}

// isLogger reports whether process pid is a logging process writing to
// path.
func isLogger(pid int, path string) bool {
	cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return false
	}
	args := strings.Split(strings.TrimSuffix(string(cmdline), "\x00"), "\x00")
	return len(args) == 3 && args[1] == serviceLogArg && args[2] == path
}
