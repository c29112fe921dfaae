package ops

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// DaemonAnswers reports whether something accepts connections on the Unix
// socket at path.
func DaemonAnswers(socket string) bool {
	c, err := net.DialTimeout("unix", socket, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// checkIdle returns ErrDaemonRunning when a daemon answers on socket or
// holds the lock of the job store in dataDir.
func checkIdle(dataDir, socket string) error {
	if socket == "" {
		socket = filepath.Join(dataDir, socketName)
	}
	if DaemonAnswers(socket) {
		return fmt.Errorf("%w: it answers on %s; stop it first (systemctl stop ventapp)", ErrDaemonRunning, socket)
	}
	locked, err := storeLocked(filepath.Join(dataDir, jobsDBName))
	if err != nil {
		return err
	}
	if locked {
		return fmt.Errorf("%w: %s is locked by another process; stop it first",
			ErrDaemonRunning, filepath.Join(dataDir, jobsDBName))
	}
	return nil
}

// storeLocked reports whether another process holds bbolt's flock on the
// file at path. A missing file is not locked.
func storeLocked(path string) (bool, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("job store %s: %w", path, err)
	}
	defer f.Close()
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("job store %s: lock: %w", path, err)
	}
	syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return false, nil
}
