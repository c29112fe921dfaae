package capture

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/gopacket/gopacket"
	"go.etcd.io/bbolt"

	"github.com/ventapp/ventapp/capture/bpf"
	"github.com/ventapp/ventapp/internal/netns"
)

// bucketName is the top-level bbolt bucket holding one record per tap.
var bucketName = []byte("taps")

// State is where a tap is in its life.
type State string

// Tap states.
const (
	StateCreated  State = "created"  // stored, never started
	StateRunning  State = "running"  // capturing
	StateRetrying State = "retrying" // meant to capture, but its NIC is down or gone
	StateStopped  State = "stopped"  // stopped by request
	StateFailed   State = "failed"   // ended by an error (Reason says which)
	StateDone     State = "done"     // finished its iters
)

// active reports whether a tap in state s should be capturing.
func (s State) active() bool { return s == StateRunning || s == StateRetrying }

// Stats counts what a tap (or FilterFile) did.
type Stats struct {
	// Packets and Bytes were written to files (Bytes counts captured bytes).
	Packets uint64 `json:"packets"`
	Bytes   uint64 `json:"bytes"`
	// Stripped packets lost their TCP or UDP payload.
	Stripped uint64 `json:"stripped"`
	// Files were delivered into the drop folder (or written, for FilterFile).
	Files uint64 `json:"files"`
	// Rotations are intervals completed, files or not.
	Rotations uint64 `json:"rotations"`
	// KernelPackets passed the filter in the kernel; KernelDrops of them
	// were lost because the ring was full (PACKET_STATISTICS).
	KernelPackets uint64 `json:"kernel_packets"`
	KernelDrops   uint64 `json:"kernel_drops"`
	// Read is how many packets FilterFile read from its input.
	Read uint64 `json:"read,omitempty"`
	// LastFile is the newest delivered file.
	LastFile string `json:"last_file,omitempty"`
}

func (s *Stats) add(d Stats) {
	s.Packets += d.Packets
	s.Bytes += d.Bytes
	s.Stripped += d.Stripped
	s.Files += d.Files
	s.Rotations += d.Rotations
	s.KernelPackets += d.KernelPackets
	s.KernelDrops += d.KernelDrops
	s.Read += d.Read
}

// Status is a tap with its state and counters, as stored and as served.
type Status struct {
	ID      string    `json:"id"`
	Config  Tap       `json:"config"`
	State   State     `json:"state"`
	Reason  string    `json:"reason,omitempty"`
	Stats   Stats     `json:"stats"`
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
	Started time.Time `json:"started,omitzero"`
}

// Options configure a Manager.
type Options struct {
	// DB holds the taps bucket; the daemon passes its jobs store's DB. The
	// manager does not close it.
	DB *bbolt.DB
	// DropDir receives finished capture files.
	DropDir string
	// StagingDir holds files being written; it must not be inside DropDir
	// and should be on the same file system (else files are copied in).
	StagingDir string
	// Netns, when set, is the network namespace (a path such as
	// /run/netns/NAME) whose NICs the taps capture; "" means the daemon's.
	Netns string
	// Version is reported by Info.
	Version string
	// Logger receives tap events; nil discards them.
	Logger *slog.Logger
}

// Manager runs and stores taps. Its methods are safe for concurrent use.
type Manager struct {
	opts Options
	log  *slog.Logger

	mu     sync.Mutex
	taps   map[string]*entry
	closed bool
	wg     sync.WaitGroup
}

// entry is one tap in memory.
type entry struct {
	st     Status
	cancel context.CancelFunc // non-nil while a runner goroutine exists
	done   chan struct{}
	// closing means the runner is stopped by Close, so its stored state
	// stays active and Resume restarts it.
	closing bool
}

// NewManager loads the stored taps. It starts none; call Resume.
func NewManager(opts Options) (*Manager, error) {
	if opts.DB == nil {
		return nil, errors.New("tap manager: no database")
	}
	if opts.DropDir == "" || opts.StagingDir == "" {
		return nil, errors.New("tap manager: drop and staging folders are required")
	}
	drop, _ := filepath.Abs(opts.DropDir)
	stage, _ := filepath.Abs(opts.StagingDir)
	if rel, err := filepath.Rel(drop, stage); err == nil && filepath.IsLocal(rel) || drop == stage {
		return nil, fmt.Errorf("tap manager: staging folder %s is inside the drop folder %s", stage, drop)
	}
	opts.DropDir, opts.StagingDir = drop, stage
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &Manager{opts: opts, log: log, taps: map[string]*entry{}}

	err := opts.DB.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketName)
		if err != nil {
			return err
		}
		return b.ForEach(func(k, v []byte) error {
			var st Status
			if err := json.Unmarshal(v, &st); err != nil {
				return fmt.Errorf("tap record %q: %w", k, err)
			}
			m.taps[st.ID] = &entry{st: st}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("tap manager: loading taps: %w", err)
	}
	return m, nil
}

// Resume starts every tap whose stored state is running or retrying. It
// returns the ids it started; a tap that fails to start is marked failed.
func (m *Manager) Resume() []string {
	m.mu.Lock()
	var ids []string
	for id, e := range m.taps {
		if e.st.State.active() && e.cancel == nil {
			ids = append(ids, id)
		}
	}
	m.mu.Unlock()

	slices.Sort(ids)
	var started []string
	for _, id := range ids {
		if _, err := m.start(id, true); err != nil {
			m.log.Error("tap not resumed", "tap", id, "err", err)
			continue
		}
		started = append(started, id)
	}
	return started
}

// Create stores a new tap and, when start is set, starts it (as vent's
// /create did). A bad config gives ErrBadTap; a used id gives ErrExists.
func (m *Manager) Create(t Tap, start bool) (Status, error) {
	if err := m.check(&t); err != nil {
		return Status{}, err
	}
	if err := m.checkNIC(t); err != nil {
		return Status{}, err
	}
	if ok, err := hasCapNetRaw(); start && err == nil && !ok {
		return Status{}, ErrPermission
	}

	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return Status{}, ErrClosed
	}
	if _, ok := m.taps[t.ID]; ok {
		m.mu.Unlock()
		return Status{}, fmt.Errorf("%w: %q", ErrExists, t.ID)
	}
	now := time.Now().UTC()
	e := &entry{st: Status{ID: t.ID, Config: t.clone(), State: StateCreated, Created: now, Updated: now}}
	if err := m.save(e.st, true); err != nil {
		m.mu.Unlock()
		return Status{}, err
	}
	m.taps[t.ID] = e
	st := e.st
	m.mu.Unlock()

	m.log.Info("tap created", "tap", t.ID, "nic", t.NIC, "filter", t.Filter)
	if !start {
		return st, nil
	}
	return m.start(t.ID, false)
}

// check validates t including its filter.
func (m *Manager) check(t *Tap) error {
	if err := t.Validate(); err != nil {
		return err
	}
	if _, err := bpf.Compile(t.Filter, linkTypeOf(m.opts.Netns, t.NIC), t.SnapLen); err != nil {
		return fmt.Errorf("%w: tap %s: %w", ErrBadTap, t.ID, err)
	}
	return nil
}

// checkNIC refuses a tap whose NIC does not exist.
func (m *Manager) checkNIC(t Tap) error {
	return netns.Run(m.opts.Netns, func() error {
		if _, err := net.InterfaceByName(t.NIC); err != nil {
			return fmt.Errorf("%w: tap %s: nic %q: %w", ErrBadTap, t.ID, t.NIC, errNICMissing)
		}
		return nil
	})
}

// Start starts a tap that is not running. A tap that had finished its
// iters starts them over; a stopped or failed one goes on with the
// intervals it had left. A running tap gives ErrState.
func (m *Manager) Start(id string) (Status, error) {
	return m.start(id, false)
}

// start starts the runner of tap id and returns once its socket is open
// and filtered (so the packets sent after start returns are captured), or
// its first open failed (the status then says retrying or failed, with the
// reason), or startWait passed.
func (m *Manager) start(id string, resume bool) (Status, error) {
	m.mu.Lock()
	st, e, ready, err := m.startLocked(id, resume)
	var done chan struct{}
	if err == nil {
		done = e.done
	}
	m.mu.Unlock()
	if err != nil {
		return st, err
	}

	select {
	case <-ready:
	case <-done:
	case <-time.After(startWait):
		m.log.Warn("tap still opening its socket", "tap", id, "after", startWait)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return e.st, nil
}

// startWait bounds how long start waits for a tap's socket; a large ring
// takes a moment to allocate.
const startWait = 30 * time.Second

// startLocked is start up to launching the runner; m.mu is held. ready is
// closed once the runner's first attempt to open its socket has ended.
func (m *Manager) startLocked(id string, resume bool) (Status, *entry, <-chan struct{}, error) {
	if m.closed {
		return Status{}, nil, nil, ErrClosed
	}
	e, ok := m.taps[id]
	if !ok {
		return Status{}, nil, nil, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	if e.cancel != nil {
		return e.st, nil, nil, fmt.Errorf("%w: tap %s is %s", ErrState, id, e.st.State)
	}
	if !resume && e.st.State.active() {
		return e.st, nil, nil, fmt.Errorf("%w: tap %s is %s", ErrState, id, e.st.State)
	}
	t := e.st.Config.clone()
	if err := m.check(&t); err != nil {
		return e.st, nil, nil, err
	}
	if !resume {
		// A resumed tap whose NIC is gone retries instead.
		if err := m.checkNIC(t); err != nil {
			return e.st, nil, nil, err
		}
	}
	if ok, err := hasCapNetRaw(); err == nil && !ok {
		return e.st, nil, nil, ErrPermission
	}

	link := linkTypeOf(m.opts.Netns, t.NIC)
	prog, err := bpf.Compile(t.Filter, link, t.SnapLen)
	if err != nil {
		return e.st, nil, nil, fmt.Errorf("%w: tap %s: %w", ErrBadTap, id, err)
	}
	if e.st.State == StateDone || e.st.State == StateCreated {
		e.st.Stats.Rotations = 0
	}
	snap := t.SnapLen
	if snap == 0 {
		snap = DefaultSnapLen
	}
	ringMB := t.RingMB
	if ringMB == 0 {
		ringMB = DefaultRingMB
	}
	ready := make(chan struct{})
	r := &runner{
		tap: t, prog: prog, link: link, done: int(e.st.Stats.Rotations), ready: ready,
		open: func() (source, error) { return openAFPacket(m.opts.Netns, t.NIC, ringMB, prog) },
		rot: &rotator{
			id: id, stagingDir: m.opts.StagingDir, dropDir: m.opts.DropDir, link: link,
			snaplen: snap, maxBytes: t.MaxFileBytes,
		},
		report:  func(st State, reason string) { m.report(id, st, reason) },
		publish: func(d Stats, files []delivered) { m.publish(id, d, files) },
	}
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel, e.done, e.closing = cancel, make(chan struct{}), false
	e.st.State, e.st.Reason = StateRunning, ""
	e.st.Started = time.Now().UTC()
	e.st.Updated = e.st.Started
	if err := m.save(e.st, false); err != nil {
		m.log.Error("tap state not saved", "tap", id, "err", err)
	}
	m.wg.Add(1)
	go m.run(ctx, e, r)
	m.log.Info("tap started", "tap", id, "nic", t.NIC, "resume", resume)
	return e.st, e, ready, nil
}

// run runs r and records how it ended.
func (m *Manager) run(ctx context.Context, e *entry, r *runner) {
	defer m.wg.Done()
	out := r.run(ctx)

	m.mu.Lock()
	defer m.mu.Unlock()
	e.cancel = nil
	close(e.done)
	if e.closing && out.state == StateStopped {
		// Close: keep the stored state active so Resume restarts the tap.
		m.saveLogged(e.st)
		return
	}
	e.st.State, e.st.Reason = out.state, out.reason
	e.st.Updated = time.Now().UTC()
	m.saveLogged(e.st)
	if out.state == StateFailed {
		m.log.Error("tap failed", "tap", e.st.ID, "reason", out.reason)
	} else {
		m.log.Info("tap ended", "tap", e.st.ID, "state", out.state)
	}
}

// report records a runner's change between running and retrying.
func (m *Manager) report(id string, st State, reason string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.taps[id]
	if !ok || e.cancel == nil || (e.st.State == st && e.st.Reason == reason) {
		return
	}
	e.st.State, e.st.Reason, e.st.Updated = st, reason, time.Now().UTC()
	m.saveLogged(e.st)
	if st == StateRetrying {
		m.log.Warn("tap retrying", "tap", id, "reason", reason)
	} else {
		m.log.Info("tap capturing again", "tap", id)
	}
}

// publish adds a runner's new counters; files delivered are saved at once.
func (m *Manager) publish(id string, d Stats, files []delivered) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.taps[id]
	if !ok {
		return
	}
	e.st.Stats.add(d)
	for _, f := range files {
		e.st.Stats.LastFile = f.path
		m.log.Info("tap file delivered", "tap", id, "file", f.path, "packets", f.packets, "bytes", f.size)
	}
	if len(files) > 0 || d.Rotations > 0 {
		e.st.Updated = time.Now().UTC()
		m.saveLogged(e.st)
	}
}

// Stop stops a running tap, delivering the file in progress, and waits
// for it. A tap that is not running gives ErrState.
func (m *Manager) Stop(id string) (Status, error) {
	m.mu.Lock()
	e, ok := m.taps[id]
	if !ok {
		m.mu.Unlock()
		return Status{}, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	if e.cancel == nil {
		st := e.st
		m.mu.Unlock()
		return st, fmt.Errorf("%w: tap %s is %s, not running", ErrState, id, st.State)
	}
	e.cancel()
	done := e.done
	m.mu.Unlock()

	<-done
	m.log.Info("tap stopped", "tap", id)
	return m.Get(id)
}

// Delete stops a tap if it runs and removes it. Files it delivered stay.
func (m *Manager) Delete(id string) error {
	if _, err := m.Stop(id); err != nil && !errors.Is(err, ErrState) {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.taps[id]
	if !ok {
		return fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	if e.cancel != nil {
		return fmt.Errorf("%w: tap %s was started again while being deleted", ErrState, id)
	}
	err := m.opts.DB.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketName).Delete([]byte(id))
	})
	if err != nil {
		return fmt.Errorf("deleting tap %s: %w", id, err)
	}
	delete(m.taps, id)
	m.log.Info("tap deleted", "tap", id)
	return nil
}

// Update merges metadata into a tap's metadata: each key is set, and a key
// whose value is nil is removed (like vent's HMSET, plus removal).
func (m *Manager) Update(id string, metadata map[string]any) (Status, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.taps[id]
	if !ok {
		return Status{}, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	md := maps.Clone(e.st.Config.Metadata)
	if md == nil {
		md = map[string]any{}
	}
	for k, v := range metadata {
		if v == nil {
			delete(md, k)
			continue
		}
		md[k] = v
	}
	old := e.st
	e.st.Config.Metadata = md
	e.st.Updated = time.Now().UTC()
	if err := m.save(e.st, false); err != nil {
		e.st = old
		return old, err
	}
	return e.st, nil
}

// Get returns one tap.
func (m *Manager) Get(id string) (Status, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.taps[id]
	if !ok {
		return Status{}, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	st := e.st
	st.Config = st.Config.clone()
	return st, nil
}

// List returns every tap, sorted by id.
func (m *Manager) List() []Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Status, 0, len(m.taps))
	for _, e := range m.taps {
		st := e.st
		st.Config = st.Config.clone()
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b Status) int {
		if a.ID < b.ID {
			return -1
		}
		if a.ID > b.ID {
			return 1
		}
		return 0
	})
	return out
}

// NICs lists the network interfaces taps can capture from.
func (m *Manager) NICs() ([]NIC, error) { return listNICs(m.opts.Netns) }

// Info describes what this build and process can do.
type Info struct {
	Version      string       `json:"version"`
	Capabilities Capabilities `json:"capabilities"`
	// Netns is the network namespace the taps capture in; "" is the
	// daemon's own.
	Netns string `json:"netns,omitempty"`
}

// Capabilities lists the capture features available.
type Capabilities struct {
	// FilterCompiler is true when libpcap is linked, so filters work.
	FilterCompiler bool   `json:"filter_compiler"`
	Libpcap        string `json:"libpcap"`
	// CapNetRaw is true when the process may open AF_PACKET sockets.
	CapNetRaw bool   `json:"cap_net_raw"`
	Capture   string `json:"capture"`
	// Error explains a capability that could not be read.
	Error string `json:"error,omitempty"`
}

// Info reports the version and the capabilities of this process.
func (m *Manager) Info() Info {
	caps := Capabilities{
		FilterCompiler: bpf.CompilerAvailable, Libpcap: bpf.CompilerVersion(),
		Capture: "AF_PACKET TPACKET_V3 (pure Go)",
	}
	ok, err := hasCapNetRaw()
	caps.CapNetRaw = ok
	if err != nil {
		caps.Error = err.Error()
	}
	return Info{Version: m.opts.Version, Capabilities: caps, Netns: m.opts.Netns}
}

// Close stops every running tap, delivering the files in progress, and
// waits for them. Their stored state stays running so Resume restarts
// them. The DB is left open.
func (m *Manager) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	for _, e := range m.taps {
		if e.cancel != nil {
			e.closing = true
			e.cancel()
		}
	}
	m.mu.Unlock()
	m.wg.Wait()
	return nil
}

// save writes st; with create it refuses to replace a record.
func (m *Manager) save(st Status, create bool) error {
	data, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("saving tap %s: %w", st.ID, err)
	}
	err = m.opts.DB.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketName)
		if create && b.Get([]byte(st.ID)) != nil {
			return fmt.Errorf("%w: %q", ErrExists, st.ID)
		}
		return b.Put([]byte(st.ID), data)
	})
	if err != nil {
		return fmt.Errorf("saving tap %s: %w", st.ID, err)
	}
	return nil
}

func (m *Manager) saveLogged(st Status) {
	if err := m.save(st, false); err != nil {
		m.log.Error("tap state not saved", "tap", st.ID, "err", err)
	}
}

// captureInfo builds the record header of one packet.
func captureInfo(ts time.Time, capLen, wireLen int) gopacket.CaptureInfo {
	if wireLen < capLen {
		wireLen = capLen
	}
	return gopacket.CaptureInfo{Timestamp: ts, CaptureLength: capLen, Length: wireLen}
}
