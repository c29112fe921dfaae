package portmap

import (
	"context"
	"fmt"
	"net"

	"github.com/ventapp/ventapp/internal/netns"
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
		r.err = netns.Run(fmt.Sprintf("/proc/%d/ns/net", pid), func() error {
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
