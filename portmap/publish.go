package portmap

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Publisher defaults.
const (
	// DefaultDialTimeout bounds a connection attempt inside the container.
	DefaultDialTimeout = 5 * time.Second

	// DefaultUDPIdle is how long a UDP session lives without traffic.
	DefaultUDPIdle = 60 * time.Second

	// DefaultMaxUDPSessions bounds the UDP sessions of one mapping; a new
	// client beyond it is dropped until a session ends.
	DefaultMaxUDPSessions = 1024

	// warnEvery is the least time between two warnings about the same
	// mapping; the others are logged at debug level.
	warnEvery = 10 * time.Second
)

// Options configure Publish.
type Options struct {
	// Pid returns the host pid of a process in the container's network
	// namespace. It is called for each new TCP connection and UDP session;
	// an error (ErrNotRunning, say) refuses that connection. Required.
	Pid func() (int, error)

	// Log receives connection errors; nil discards them.
	Log *slog.Logger

	// DialTimeout bounds a connection attempt inside the container.
	// Default: DefaultDialTimeout.
	DialTimeout time.Duration

	// UDPIdle ends a UDP session after this long without traffic.
	// Default: DefaultUDPIdle.
	UDPIdle time.Duration

	// MaxUDPSessions bounds the UDP sessions of each mapping.
	// Default: DefaultMaxUDPSessions.
	MaxUDPSessions int
}

// Publisher relays the published ports of one container. Its methods are
// safe for concurrent use.
type Publisher struct {
	o     Options
	log   *slog.Logger
	bound []Mapping

	ctx    context.Context // cancelled by Close; bounds dials
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	closed  bool
	closers map[io.Closer]struct{} // listeners and open connections
}

// Publish binds every mapping and starts relaying. It binds all of them or
// none: on an error the sockets bound so far are closed. An address in use
// gives an error that wraps ErrPortInUse and names the address and port.
func Publish(ms []Mapping, o Options) (*Publisher, error) {
	if o.Pid == nil {
		return nil, errors.New("portmap: Options.Pid is required")
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = DefaultDialTimeout
	}
	if o.UDPIdle <= 0 {
		o.UDPIdle = DefaultUDPIdle
	}
	if o.MaxUDPSessions <= 0 {
		o.MaxUDPSessions = DefaultMaxUDPSessions
	}
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Publisher{o: o, log: log, ctx: ctx, cancel: cancel, closers: map[io.Closer]struct{}{}}

	// Bind everything first, so that a port in use leaves nothing behind.
	var starts []func()
	for _, m := range ms {
		start, err := p.bind(&m)
		if err != nil {
			_ = p.Close()
			return nil, err
		}
		p.bound = append(p.bound, m)
		starts = append(starts, start)
	}

	for _, start := range starts {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			start()
		}()
	}
	return p, nil
}

// bind opens the host socket of m, sets m.HostPort to the port it got and
// returns the loop that serves it.
func (p *Publisher) bind(m *Mapping) (func(), error) {
	network := m.Proto
	if m.HostIP.Is4() && m.HostIP.IsUnspecified() {
		network += "4"
	}
	addr := ":" + strconv.Itoa(int(m.HostPort))
	if m.HostIP.IsValid() {
		addr = m.HostAddr()
	}

	switch m.Proto {
	case "tcp":
		ln, err := net.Listen(network, addr)
		if err != nil {
			return nil, bindErr(*m, err)
		}
		p.track(ln)
		m.HostPort = uint16(ln.Addr().(*net.TCPAddr).Port)
		r := &relay{p: p, m: *m}
		return func() { r.serveTCP(ln.(*net.TCPListener)) }, nil
	case "udp":
		pc, err := net.ListenPacket(network, addr)
		if err != nil {
			return nil, bindErr(*m, err)
		}
		p.track(pc)
		m.HostPort = uint16(pc.LocalAddr().(*net.UDPAddr).Port)
		r := &relay{p: p, m: *m}
		return func() { r.serveUDP(pc.(*net.UDPConn)) }, nil
	}
	return nil, fmt.Errorf("%w: %s: protocol %q is not tcp or udp", ErrSpec, m, m.Proto)
}

// bindErr describes a failed bind, marking an address in use.
func bindErr(m Mapping, err error) error {
	if errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("publish %s on %s: %w", m.Port(), m.HostAddr(), ErrPortInUse)
	}
	return fmt.Errorf("publish %s on %s: %w", m.Port(), m.HostAddr(), err)
}

// Bound returns the mappings as published, with the host ports that
// random ports got, in the order they were given to Publish.
func (p *Publisher) Bound() []Mapping {
	return append([]Mapping(nil), p.bound...)
}

// Close stops listening, closes every open connection and UDP session and
// waits for the relays to end. It is safe to call more than once.
func (p *Publisher) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	all := p.closers
	p.closers = nil
	p.mu.Unlock()

	p.cancel()
	var errs []error
	for c := range all {
		if err := c.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	p.wg.Wait()
	return errors.Join(errs...)
}

// track registers c to be closed by Close. It reports false, after closing
// c, when the Publisher is closed already.
func (p *Publisher) track(c io.Closer) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		_ = c.Close()
		return false
	}
	p.closers[c] = struct{}{}
	return true
}

// untrack closes c and forgets it.
func (p *Publisher) untrack(c io.Closer) {
	p.mu.Lock()
	if p.closers != nil {
		delete(p.closers, c)
	}
	p.mu.Unlock()
	_ = c.Close()
}

// relay serves one mapping.
type relay struct {
	p        *Publisher
	m        Mapping
	lastWarn atomic.Int64 // unix nanoseconds of the last warning
}

// dial opens a connection to the container port inside the container's
// current network namespace.
func (r *relay) dial(network string) (net.Conn, error) {
	pid, err := r.p.o.Pid()
	if err == nil && pid <= 0 {
		err = ErrNotRunning
	}
	if err != nil {
		return nil, fmt.Errorf("find the container's process: %w", err)
	}
	ctx, cancel := context.WithTimeout(r.p.ctx, r.p.o.DialTimeout)
	defer cancel()
	return dialInNetns(ctx, pid, network, "127.0.0.1:"+strconv.Itoa(int(r.m.ContainerPort)))
}

// warn logs a problem at warning level, at most once per warnEvery for
// the mapping, and at debug level otherwise.
func (r *relay) warn(msg string, args ...any) {
	level := slog.LevelDebug
	now := time.Now().UnixNano()
	last := r.lastWarn.Load()
	if now-last >= int64(warnEvery) && r.lastWarn.CompareAndSwap(last, now) {
		level = slog.LevelWarn
	}
	args = append([]any{"port", r.m.Port(), "host", r.m.HostAddr()}, args...)
	r.p.log.Log(context.Background(), level, msg, args...)
}

// serveTCP accepts connections until the listener is closed.
func (r *relay) serveTCP(ln *net.TCPListener) {
	delay := 5 * time.Millisecond
	for {
		c, err := ln.AcceptTCP()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors, say: wait a little and go on.
			r.warn("published port cannot accept", "err", err)
			time.Sleep(delay)
			delay = min(2*delay, time.Second)
			continue
		}
		delay = 5 * time.Millisecond

		r.p.wg.Add(1)
		go func() {
			defer r.p.wg.Done()
			r.handleTCP(c)
		}()
	}
}

// handleTCP connects one client to the container and copies both ways.
func (r *relay) handleTCP(client *net.TCPConn) {
	if !r.p.track(client) {
		return
	}
	defer r.p.untrack(client)

	up, err := r.dial("tcp")
	if err != nil {
		r.warn("published port cannot reach the container", "client", client.RemoteAddr().String(),
			"err", err)
		return
	}
	if !r.p.track(up) {
		return
	}
	defer r.p.untrack(up)

	pipe(client, up.(*net.TCPConn), func(err error) {
		r.p.log.Debug("published connection ended with an error", "port", r.m.Port(),
			"client", client.RemoteAddr().String(), "err", err)
	})
}

// pipe copies a to b and b to a. When one side has no more to send, the
// other side's write half is closed and the other direction goes on; an
// error in either direction closes both.
func pipe(a, b *net.TCPConn, onErr func(error)) {
	var wg sync.WaitGroup
	copyHalf := func(dst, src *net.TCPConn) {
		defer wg.Done()
		if _, err := io.Copy(dst, src); err != nil {
			if !errors.Is(err, net.ErrClosed) {
				onErr(err)
			}
			_ = a.Close()
			_ = b.Close()
			return
		}
		_ = dst.CloseWrite()
	}
	wg.Add(2)
	go copyHalf(b, a)
	copyHalf(a, b)
	wg.Wait()
}
