// Package taskio waits for a containerd task's output to be read before
// the task is deleted.
//
// Deleting a task through the containerd client cancels its output copies
// before waiting for them: the copies' ends of the FIFOs are closed, and
// whatever the process wrote that the copies had not yet read is lost. On
// a busy machine that can be all of a short process's output. Drain, called
// once the process has exited and before the delete, lets the copies reach
// the end of the output first.
package taskio

import (
	"time"

	"github.com/containerd/containerd/v2/pkg/cio"
)

// Drain waits up to limit for tio's copies to finish, and reports whether
// they did. If not, it cancels them (a process the container left running
// may hold the output open) and returns once they have stopped.
func Drain(tio cio.IO, limit time.Duration) bool {
	done := make(chan struct{})
	go func() {
		tio.Wait()
		close(done)
	}()

	t := time.NewTimer(limit)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		tio.Cancel()
		<-done
		return false
	}
}
