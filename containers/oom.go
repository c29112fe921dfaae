package containers

import (
	"context"
	"fmt"
	"sync"
	"time"

	apievents "github.com/containerd/containerd/api/events"
	"github.com/containerd/typeurl/v2"
)

// oomGrace bounds how long a run that ended badly waits for containerd to
// relay the task's exit event, which follows any OOM event for the task.
const oomGrace = 2 * time.Second

// oomWatch follows containerd's OOM and exit events for one container.
type oomWatch struct {
	id     string
	cancel context.CancelFunc
	done   chan struct{}

	mu       sync.Mutex
	oom      bool
	exitSeen chan struct{}
	closed   bool
}

// watchOOM subscribes to the namespace's /tasks/oom and /tasks/exit events
// for container id. Call stop when done.
func (c *Client) watchOOM(ctx context.Context, id string) *oomWatch {
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	w := &oomWatch{id: id, cancel: cancel, done: make(chan struct{}), exitSeen: make(chan struct{})}

	evs, errs := c.cli.Subscribe(wctx,
		fmt.Sprintf(`topic=="/tasks/oom",namespace==%q`, c.ns),
		fmt.Sprintf(`topic=="/tasks/exit",namespace==%q`, c.ns))
	go func() {
		defer close(w.done)
		for {
			select {
			case env := <-evs:
				if env != nil {
					w.handle(env.Event)
				}
			case err := <-errs:
				if err != nil {
					c.log.Debug("event subscription ended", "container", id, "err", err)
				}
				return
			case <-wctx.Done():
				return
			}
		}
	}()
	return w
}

// handle records an OOM event, or the exit of the container's first
// process.
func (w *oomWatch) handle(event typeurl.Any) {
	if event == nil {
		return
	}
	v, err := typeurl.UnmarshalAny(event)
	if err != nil {
		return
	}

	w.mu.Lock()
	defer w.mu.Unlock()
	switch e := v.(type) {
	case *apievents.TaskOOM:
		if e.ContainerID == w.id {
			w.oom = true
		}
	case *apievents.TaskExit:
		if e.ContainerID == w.id && e.ID == w.id && !w.closed {
			w.closed = true
			close(w.exitSeen)
		}
	}
}

// killed reports whether an OOM event arrived for the container. When
// wait is set it first waits (up to oomGrace) for the exit event, which
// containerd relays after any OOM event.
func (w *oomWatch) killed(wait bool) bool {
	if wait {
		t := time.NewTimer(oomGrace)
		defer t.Stop()
		select {
		case <-w.exitSeen:
		case <-t.C:
		case <-w.done:
		}
	}

	w.mu.Lock()
	defer w.mu.Unlock()
	return w.oom
}

// stop ends the subscription.
func (w *oomWatch) stop() {
	w.cancel()
	<-w.done
}
