package portmap

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// maxDatagram is the largest UDP payload relayed.
const maxDatagram = 64 << 10

// udpSession is the relay of one client address: a connected UDP socket
// inside the container's namespace.
type udpSession struct {
	up   net.Conn
	last atomic.Int64 // unix nanoseconds of the last datagram either way
}

// serveUDP reads datagrams from clients until the socket is closed and
// sends each through the session of its client, opening one when needed.
func (r *relay) serveUDP(host *net.UDPConn) {
	var mu sync.Mutex
	sessions := map[netip.AddrPort]*udpSession{}
	buf := make([]byte, maxDatagram)

	for {
		n, from, err := host.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			r.warn("published UDP port cannot read", "err", err)
			continue
		}

		mu.Lock()
		s := sessions[from]
		count := len(sessions)
		mu.Unlock()
		if s == nil {
			if count >= r.p.o.MaxUDPSessions {
				r.warn("too many UDP clients; datagram dropped", "client", from.String(),
					"sessions", count)
				continue
			}
			if s = r.openSession(host, from, &mu, sessions); s == nil {
				continue
			}
		}

		s.last.Store(time.Now().UnixNano())
		if _, err := s.up.Write(buf[:n]); err != nil {
			r.p.log.Debug("UDP datagram not delivered to the container", "port", r.m.Port(),
				"client", from.String(), "err", err)
		}
	}
}

// openSession dials the container for client and starts relaying its
// replies; nil when the container cannot be reached.
func (r *relay) openSession(host *net.UDPConn, client netip.AddrPort, mu *sync.Mutex,
	sessions map[netip.AddrPort]*udpSession) *udpSession {
	up, err := r.dial("udp")
	if err != nil {
		r.warn("published port cannot reach the container", "client", client.String(), "err", err)
		return nil
	}
	if !r.p.track(up) {
		return nil
	}
	s := &udpSession{up: up}
	s.last.Store(time.Now().UnixNano())
	mu.Lock()
	sessions[client] = s
	mu.Unlock()

	r.p.wg.Add(1)
	go func() {
		defer r.p.wg.Done()
		r.replies(host, client, s)

		mu.Lock()
		if sessions[client] == s {
			delete(sessions, client)
		}
		mu.Unlock()
		r.p.untrack(up)
	}()
	return s
}

// replies copies the container's datagrams back to client until the
// session has been idle for UDPIdle or its socket fails or is closed.
func (r *relay) replies(host *net.UDPConn, client netip.AddrPort, s *udpSession) {
	buf := make([]byte, maxDatagram)
	idle := r.p.o.UDPIdle
	for {
		last := time.Unix(0, s.last.Load())
		if time.Since(last) >= idle {
			return
		}
		_ = s.up.SetReadDeadline(last.Add(idle))
		n, err := s.up.Read(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue // the loop checks whether the client sent meanwhile
			}
			if !errors.Is(err, net.ErrClosed) {
				// ECONNREFUSED: nothing listens on the port in the container.
				r.p.log.Debug("UDP session ended", "port", r.m.Port(), "client", client.String(), "err", err)
			}
			return
		}

		s.last.Store(time.Now().UnixNano())
		if _, err := host.WriteToUDPAddrPort(buf[:n], client); err != nil {
			r.p.log.Debug("UDP reply not delivered to the client", "port", r.m.Port(),
				"client", client.String(), "err", err)
		}
	}
}
