package main

import (
	"net/netip"
	"slices"
	"time"
)

// endpoint is one side of a flow.
type endpoint struct {
	ip   netip.Addr
	port uint16
}

// less orders endpoints by address, then port.
func (e endpoint) less(o endpoint) bool {
	if c := e.ip.Compare(o.ip); c != 0 {
		return c < 0
	}
	return e.port < o.port
}

// flowKey identifies a bidirectional flow: the IP protocol and the two
// endpoints in sorted order, so both directions share one key.
type flowKey struct {
	proto uint8
	lo    endpoint
	hi    endpoint
}

// flow accumulates the packets of one bidirectional conversation.
type flow struct {
	proto       uint8
	src, dst    endpoint // src is the initiator: the sender of the first packet seen
	packets     uint64
	bytes       uint64
	first, last time.Time
}

// fragTableMax bounds the fragment table; it is emptied when full.
const fragTableMax = 1 << 16

// flowTable groups packets into flows.
type flowTable struct {
	max     int
	byKey   map[flowKey]*flow
	order   []*flow // in order of each flow's first packet in the file
	dropped uint64  // packets of new flows beyond max

	// frags maps an IP datagram to the flow its first fragment went to, so
	// the later fragments (which carry no ports) land in the same flow.
	frags map[fragKey]flowKey

	// pending holds fragments that arrived before their datagram's first
	// fragment, until it comes or the file ends (pendingOrder keeps the
	// order they came in, for a deterministic flush).
	pending      map[fragKey]*pendingFrags
	pendingOrder []fragKey
}

// pendingFrags counts the fragments of one datagram whose first fragment is not seen yet.
type pendingFrags struct {
	info        packetInfo // the first of them; ports are zero
	packets     uint64
	bytes       uint64
	first, last time.Time
}

func newFlowTable(max int) *flowTable {
	return &flowTable{
		max:     max,
		byKey:   make(map[flowKey]*flow),
		frags:   make(map[fragKey]flowKey),
		pending: make(map[fragKey]*pendingFrags),
	}
}

// add accounts one IP packet of wireLen bytes seen at ts.
func (t *flowTable) add(info *packetInfo, wireLen int, ts time.Time) {
	src := endpoint{ip: info.src, port: info.srcPort}
	dst := endpoint{ip: info.dst, port: info.dstPort}
	key := flowKey{proto: info.ipProto, lo: src, hi: dst}
	if dst.less(src) {
		key.lo, key.hi = dst, src
	}

	if info.fragment && !info.fragFirst {
		k, ok := t.frags[info.frag]
		if !ok {
			t.addPending(info, wireLen, ts)
			return
		}
		key = k
	}

	f := t.get(key, info, src, dst)
	if f == nil {
		return
	}
	f.count(1, uint64(wireLen), ts, ts)

	if info.fragment && info.fragFirst {
		if len(t.frags) >= fragTableMax {
			clear(t.frags)
		}
		t.frags[info.frag] = key
		if p := t.pending[info.frag]; p != nil {
			f.count(p.packets, p.bytes, p.first, p.last)
			delete(t.pending, info.frag)
		}
	}
}

// get returns the flow for key, creating it from a packet sent from src to
// dst. It returns nil when the table is full (the packet is then dropped).
func (t *flowTable) get(key flowKey, info *packetInfo, src, dst endpoint) *flow {
	if f := t.byKey[key]; f != nil {
		return f
	}
	if len(t.order) >= t.max {
		t.dropped++
		return nil
	}

	f := &flow{proto: info.ipProto, src: src, dst: dst}
	// A SYN+ACK seen first means the capture missed the SYN: the receiver
	// of this packet opened the connection.
	if info.ipProto == protoTCP && info.syn && info.ack {
		f.src, f.dst = dst, src
	}
	t.byKey[key] = f
	t.order = append(t.order, f)
	return f
}

// count adds packets and bytes seen between first and last (zero times are unknown).
func (f *flow) count(packets, bytes uint64, first, last time.Time) {
	f.packets += packets
	f.bytes += bytes
	if !first.IsZero() && (f.first.IsZero() || first.Before(f.first)) {
		f.first = first
	}
	if last.After(f.last) {
		f.last = last
	}
}

// addPending holds a fragment whose datagram's first fragment is not seen yet.
func (t *flowTable) addPending(info *packetInfo, wireLen int, ts time.Time) {
	p := t.pending[info.frag]
	if p == nil {
		if len(t.pending) >= fragTableMax {
			t.flushPending()
		}
		p = &pendingFrags{info: *info}
		t.pending[info.frag] = p
		t.pendingOrder = append(t.pendingOrder, info.frag)
	}

	p.packets++
	p.bytes += uint64(wireLen)
	if !ts.IsZero() && (p.first.IsZero() || ts.Before(p.first)) {
		p.first = ts
	}
	if ts.After(p.last) {
		p.last = ts
	}
}

// flushPending gives the held fragments whose first fragment never came a
// flow of their own, keyed without ports.
func (t *flowTable) flushPending() {
	for _, k := range t.pendingOrder {
		p := t.pending[k]
		if p == nil {
			continue // its first fragment came after all
		}
		info := &p.info
		src, dst := endpoint{ip: info.src}, endpoint{ip: info.dst}
		key := flowKey{proto: info.ipProto, lo: src, hi: dst}
		if dst.less(src) {
			key.lo, key.hi = dst, src
		}
		if f := t.get(key, info, src, dst); f != nil {
			f.count(p.packets, p.bytes, p.first, p.last)
		}
	}
	clear(t.pending)
	t.pendingOrder = t.pendingOrder[:0]
}

// sorted flushes held fragments and returns the flows ordered by their
// first packet's time; flows without a known time (pcapng Simple Packet
// Blocks) come first, and ties keep file order.
func (t *flowTable) sorted() []*flow {
	t.flushPending()
	out := slices.Clone(t.order)
	slices.SortStableFunc(out, func(a, b *flow) int { return a.first.Compare(b.first) })
	return out
}
