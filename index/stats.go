package index

import (
	"time"

	"github.com/blevesearch/bleve/v2"
)

// Stats describes the work of an Index since Open.
type Stats struct {
	// DocsIndexed counts lines committed to the index.
	DocsIndexed uint64
	// DocsPending counts lines added but not yet committed.
	DocsPending int
	// DocsDropped counts lines lost in failed batches.
	DocsDropped uint64
	// LinesSkipped counts blank lines (raw log only).
	LinesSkipped uint64
	// Batches counts successful commits; BatchErrors failed ones.
	Batches     uint64
	BatchErrors uint64
	// LastBatch is how long the latest successful commit took.
	LastBatch time.Duration
	// LinesPerSecond is the commit rate over the latest window of at
	// least 5 seconds that saw a commit.
	LinesPerSecond float64
	// LastError is the text of the latest indexing or raw log error, and
	// LastErrorAt when it happened; empty and zero when none occurred.
	LastError   string
	LastErrorAt time.Time
	// BytesOnDisk is the size of the index files.
	BytesOnDisk uint64
	// OpenLogFiles is the number of raw log files held open.
	OpenLogFiles int
}

// Stats returns a snapshot of the index counters.
func (ix *Index) Stats() Stats {
	ix.mu.Lock()
	st := ix.st
	st.DocsPending = len(ix.pending)
	closed := ix.closed
	ix.mu.Unlock()
	if closed {
		return st
	}

	st.BytesOnDisk = onDisk(ix.idx)
	if ix.jobIdx != nil {
		st.BytesOnDisk += onDisk(ix.jobIdx)
	}
	if ix.raw != nil {
		st.OpenLogFiles = ix.raw.openCount()
	}
	return st
}

// onDisk returns the size of a scorch index's files.
func onDisk(idx bleve.Index) uint64 {
	if m, ok := idx.StatsMap()["index"].(map[string]interface{}); ok {
		if n, ok := m["CurOnDiskBytes"].(uint64); ok {
			return n
		}
	}
	return 0
}
