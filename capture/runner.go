package capture

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gopacket/gopacket/afpacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/ventapp/ventapp/capture/bpf"
)

// Retry backoff while a NIC is down or missing.
const (
	minBackoff = 250 * time.Millisecond
	maxBackoff = 10 * time.Second
	// publishEvery is how often a runner copies its counters to the manager
	// while packets flow.
	publishEvery = 500 * time.Millisecond
	// stopDrain bounds how long a stopping tap reads what is left.
	stopDrain = time.Second
)

// outcome is how a runner ended.
type outcome struct {
	state  State
	reason string
}

// runner captures one tap until its iters are done, its context ends, or
// it fails.
type runner struct {
	tap     Tap
	prog    *bpf.Program
	link    layers.LinkType
	open    func() (source, error)
	rot     *rotator
	done    int // rotations already completed, counted toward tap.Iters
	report  func(st State, reason string)
	publish func(delta Stats, files []delivered)
	// ready, when set, is closed once the source is open, or once the
	// first attempt to open it failed with a reason to retry.
	ready chan struct{}

	src      source
	pending  Stats // counters not yet published
	files    []delivered
	lastPub  time.Time
	kPkts    uint64 // kernel counters of src already published
	kDrops   uint64
	retrying bool
}

// run captures until the end and returns how it ended. Cancelling ctx
// delivers the file in progress and returns state stopped.
func (r *runner) run(ctx context.Context) outcome {
	defer r.closeSource()
	snap := r.tap.SnapLen
	if snap == 0 {
		snap = DefaultSnapLen
	}

	start := time.Now()
	end := start.Add(r.tap.Interval)
	backoff := minBackoff
	opened := false
	for {
		if ctx.Err() != nil {
			r.drainOnStop(start, snap)
			return r.stop(outcome{state: StateStopped})
		}

		var data []byte
		var now time.Time
		got := false
		if r.src == nil {
			src, err := r.open()
			if errors.Is(err, ErrPermission) {
				// Not ready: the caller of start learns the failure when
				// the manager records it and closes the tap's done channel.
				return r.stop(outcome{StateFailed, err.Error()})
			}
			if err != nil {
				r.setRetrying(err.Error())
				r.signalReady()
				wait := min(backoff, max(time.Until(end), 10*time.Millisecond))
				backoff = min(backoff*2, maxBackoff)
				select {
				case <-ctx.Done():
				case <-time.After(wait):
				}
				now = time.Now()
			} else {
				r.src, backoff = src, minBackoff
				r.kPkts, r.kDrops = 0, 0
				if !opened {
					// The first interval counts from when packets can
					// come, not from before a large ring was set up.
					opened = true
					start = time.Now()
					end = start.Add(r.tap.Interval)
				}
				if r.retrying {
					r.retrying = false
					r.report(StateRunning, "")
				}
				r.signalReady()
				continue
			}
		} else {
			d, ci, err := r.src.read()
			switch {
			case err == nil:
				data, now, got = d, ci.Timestamp, true
				if out, stop := r.rotateUntil(now, &start, &end); stop {
					return out
				}
				if err := r.handle(start, ci.Length, ci.Timestamp, data, snap); err != nil {
					return r.stop(outcome{StateFailed, err.Error()})
				}
			case errors.Is(err, afpacket.ErrTimeout):
				now = time.Now()
			default:
				r.closeSource()
				r.setRetrying(fmt.Sprintf("nic %s: capture interrupted (%v); reopening", r.tap.NIC, err))
				now = time.Now()
			}
		}

		if !got {
			if out, stop := r.rotateUntil(now, &start, &end); stop {
				return out
			}
		}
		if now.Sub(r.lastPub) >= publishEvery {
			r.flushStats()
		}
	}
}

// signalReady closes r.ready once.
func (r *runner) signalReady() {
	if r.ready != nil {
		close(r.ready)
		r.ready = nil
	}
}

// drainOnStop reads what the kernel still holds for this tap (packets in a
// ring block not yet handed over) into the current file, until a read
// times out or stopDrain passes.
func (r *runner) drainOnStop(start time.Time, snap int) {
	deadline := time.Now().Add(stopDrain)
	for r.src != nil && time.Now().Before(deadline) {
		data, ci, err := r.src.read()
		if err != nil {
			return
		}
		if err := r.handle(start, ci.Length, ci.Timestamp, data, snap); err != nil {
			return
		}
	}
}

// rotateUntil closes every interval that ended before now. It reports
// stop when the tap has done all its iters or a file could not be written.
func (r *runner) rotateUntil(now time.Time, start, end *time.Time) (outcome, bool) {
	for !now.Before(*end) {
		if err := r.finishFile(); err != nil {
			return r.stop(outcome{StateFailed, err.Error()}), true
		}
		r.done++
		r.pending.Rotations++
		if r.tap.Iters > 0 && r.done >= r.tap.Iters {
			return r.stop(outcome{state: StateDone}), true
		}
		*start = *end
		*end = start.Add(r.tap.Interval)
		if now.Sub(*start) > 10*r.tap.Interval {
			// Far behind (the clock jumped): skip ahead, counting nothing.
			*start = now
			*end = now.Add(r.tap.Interval)
		}
	}
	return outcome{}, false
}

// handle cuts, strips and writes one packet.
func (r *runner) handle(start time.Time, wireLen int, ts time.Time, data []byte, snap int) error {
	if len(data) > snap {
		data = data[:snap]
	}
	if r.tap.StripPayload {
		if n := headerLen(r.link, data); n < len(data) {
			data = data[:n]
			r.pending.Stripped++
		}
	}
	ci := captureInfo(ts, len(data), wireLen)
	d, err := r.rot.write(start, ci, data)
	if d != nil {
		r.files = append(r.files, *d)
		r.pending.Files++
	}
	if err != nil {
		return err
	}
	r.pending.Packets++
	r.pending.Bytes += uint64(len(data))
	return nil
}

func (r *runner) finishFile() error {
	d, err := r.rot.finish()
	if err != nil {
		return err
	}
	if d != nil {
		r.files = append(r.files, *d)
		r.pending.Files++
	}
	return nil
}

// stop delivers or drops the file in progress, publishes the counters and
// returns out (turned into a failure when delivering fails).
func (r *runner) stop(out outcome) outcome {
	if out.state == StateFailed {
		r.rot.abort()
	} else if err := r.finishFile(); err != nil {
		out = outcome{StateFailed, err.Error()}
	}
	r.flushStats()
	return out
}

func (r *runner) setRetrying(reason string) {
	r.retrying = true
	r.report(StateRetrying, reason)
}

// flushStats reads the kernel counters and hands everything new to the
// manager.
func (r *runner) flushStats() {
	if r.src != nil {
		r.flushKernel()
	}
	r.lastPub = time.Now()
	r.publish(r.pending, r.files)
	r.pending, r.files = Stats{}, nil
}

func (r *runner) closeSource() {
	if r.src == nil {
		return
	}
	r.flushKernel()
	r.src.close()
	r.src = nil
}

// flushKernel folds the last kernel counters of src into pending.
func (r *runner) flushKernel() {
	if p, d, err := r.src.kernelStats(); err == nil {
		r.pending.KernelPackets += p - r.kPkts
		r.pending.KernelDrops += d - r.kDrops
		r.kPkts, r.kDrops = p, d
	}
}
