package portmap

import (
	"context"
	"fmt"
	"net"
	"runtime"

	"golang.org/x/sys/unix"
)

// dialInNetns connects to addr over network ("tcp" or "udp") from inside
// the network namespace of process pid. The socket is created on a thread
// that has joined that namespace, and keeps it after the thread leaves.
func dialInNetns(ctx context.Context, pid int, network, addr string) (net.Conn, error) {
	type result struct {
		c   net.Conn
		err error
	}
	ch := make(chan result, 1)

	// A goroutine of its own, so that a thread that cannot go back to our
	// namespace ends with it and nothing else is ever scheduled on it.
	go func() {
		var r result
		r.err = onNetnsThread(fmt.Sprintf("/proc/%d/ns/net", pid), func() error {
			var d net.Dialer
			c, err := d.DialContext(ctx, network, addr)
			r.c = c
			return err
		})
		if r.err != nil && r.c != nil {
			_ = r.c.Close()
			r.c = nil
		}
		ch <- r
	}()
	r := <-ch
	return r.c, r.err
}

// onNetnsThread runs fn on a locked OS thread that has joined the network
// namespace at path, then puts the thread back into the namespace it came
// from and unlocks it. When going back fails the thread stays locked, so
// the runtime ends it when the calling goroutine returns; the caller must
// return soon after.
func onNetnsThread(path string, fn func() error) error {
	runtime.LockOSThread()

	orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("open this thread's network namespace: %w", err)
	}
	defer unix.Close(orig)
	target, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("open network namespace %s: %w", path, err)
	}
	defer unix.Close(target)

	if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("join network namespace %s: %w", path, err)
	}
	ferr := fn()
	if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("leave network namespace %s (the thread is discarded): %w", path, err)
	}
	runtime.UnlockOSThread()
	return ferr
}
