package drop

import (
	"container/heap"
	"os"
	"syscall"
	"time"
)

// fileID identifies an inode.
type fileID struct {
	dev, ino uint64
}

// fileState is what the watcher compares to decide that a file stopped
// changing: which inode the path names, its size and its modification time.
type fileState struct {
	id    fileID
	size  int64
	mtime int64 // nanoseconds since the Unix epoch
}

func idOf(fi os.FileInfo) fileID {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileID{}
	}
	return fileID{dev: uint64(st.Dev), ino: st.Ino}
}

func stateOf(fi os.FileInfo) fileState {
	return fileState{id: idOf(fi), size: fi.Size(), mtime: fi.ModTime().UnixNano()}
}

// waitMode says which rule a pending file waits under.
type waitMode uint8

const (
	// settling: the file appeared with no Write event so far; it is ready
	// when Settle passes with no event and the second stat matches.
	settling waitMode = iota

	// quieting: the file is being written; it is ready when Quiet passes
	// with no event and no change.
	quieting
)

// pending is a file that is not ready yet.
type pending struct {
	path  string
	mode  waitMode
	state fileState // last stat taken
	last  time.Time // last event or observed change
	gen   uint64    // generation of the queue item that is current
}

// dueItem is an entry of the deadline queue. An item whose gen differs
// from its pending file's gen is stale and is dropped when popped.
type dueItem struct {
	due  time.Time
	path string
	gen  uint64
}

// dueQueue is a min-heap of deadlines; it implements heap.Interface.
type dueQueue []dueItem

func (q dueQueue) Len() int           { return len(q) }
func (q dueQueue) Less(i, j int) bool { return q[i].due.Before(q[j].due) }
func (q dueQueue) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *dueQueue) Push(x any)        { *q = append(*q, x.(dueItem)) }

func (q *dueQueue) Pop() any {
	old := *q
	it := old[len(old)-1]
	*q = old[:len(old)-1]
	return it
}

// schedule queues a deadline for p, making any earlier item for p stale.
func (l *loop) schedule(p *pending, due time.Time) {
	l.gen++
	p.gen = l.gen
	heap.Push(&l.queue, dueItem{due: due, path: p.path, gen: p.gen})
}

// dueAt returns when p should next be looked at.
func (l *loop) dueAt(p *pending) time.Time {
	if p.mode == settling {
		return p.last.Add(l.w.settle)
	}
	return p.last.Add(l.w.quiet)
}

// armTimer sets t to fire at the earliest deadline, or stops it.
func (l *loop) armTimer(t *time.Timer) {
	if len(l.queue) == 0 {
		t.Stop()
		return
	}
	t.Reset(time.Until(l.queue[0].due))
}

// fireDue looks at every pending file whose deadline has passed.
func (l *loop) fireDue(now time.Time) {
	for len(l.queue) > 0 && !l.queue[0].due.After(now) {
		it := heap.Pop(&l.queue).(dueItem)
		p := l.pending[it.path]
		if p == nil || p.gen != it.gen {
			continue
		}
		if due := l.dueAt(p); due.After(now) {
			l.schedule(p, due)
			continue
		}
		l.evaluate(p, now)
	}

	// Drop the backing array once a burst is over.
	if len(l.queue) == 0 && cap(l.queue) > 1024 {
		l.queue = nil
	}
}
