// Package netns runs code inside another Linux network namespace.
//
// A goroutine cannot change namespaces; an OS thread can. Run locks the
// calling goroutine to its thread, moves that thread into the namespace,
// runs the function and moves the thread back. Sockets made inside keep
// their namespace after Run returns and may be used from any goroutine,
// which is how ventapp opens capture sockets on a sensor's NICs and dials
// into a service container.
package netns

import (
	"fmt"
	"runtime"

	"golang.org/x/sys/unix"
)

// Run runs fn on a thread that has joined the network namespace at path
// (a file such as /run/netns/NAME or /proc/PID/ns/net), then puts the
// thread back into the namespace it came from. With path "" fn runs in
// the caller's namespace. When the thread cannot go back it stays locked,
// so the runtime ends it with the calling goroutine instead of reusing it
// in the wrong namespace; callers that may hit that should call Run from
// a goroutine of their own.
func Run(path string, fn func() error) error {
	if path == "" {
		return fn()
	}
	runtime.LockOSThread()

	orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("network namespace: reading this thread's: %w", err)
	}
	defer unix.Close(orig)
	target, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("network namespace %s: %w", path, err)
	}
	defer unix.Close(target)

	if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("network namespace %s: joining: %w", path, err)
	}
	ferr := fn()
	if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("network namespace %s: leaving (the thread is discarded): %w", path, err)
	}
	runtime.UnlockOSThread()
	return ferr
}
