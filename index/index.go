package index

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/standard"
	"github.com/blevesearch/bleve/v2/document"
	"github.com/blevesearch/bleve/v2/index/scorch"
	"github.com/blevesearch/bleve/v2/search/query"
)

// Defaults for Options.
const (
	DefaultBatchSize     = 1000
	DefaultFlushInterval = 200 * time.Millisecond
)

// Options configures Open.
type Options struct {
	// Logger receives warnings about failed batches and raw log writes;
	// nil discards them.
	Logger *slog.Logger
	// BatchSize is the number of documents that triggers a commit before
	// FlushInterval has passed; 0 means DefaultBatchSize.
	BatchSize int
	// FlushInterval is the longest time an added line waits before it is
	// committed and searchable; 0 means DefaultFlushInterval.
	FlushInterval time.Duration
	// LogDir is the root of the vent-style raw log files; "" disables them.
	LogDir string
	// NumericFields indexes the numbers of structured lines as numeric
	// fields, so that range queries such as fields.bytes:>1000 work. It
	// costs about 40% of the ingest rate (see the package comment). When
	// false, numbers are exact tokens: fields.port:53 still matches.
	NumericFields bool
}

// Index is a full-text index of plugin output lines. It is safe for
// concurrent use.
type Index struct {
	dir string
	log *slog.Logger
	idx bleve.Index
	// jobIdx holds the job documents (layout 3; nil before).
	jobIdx bleve.Index
	build  builder
	raw    *rawLogs

	batchSize  int
	maxPending int
	interval   time.Duration

	mu      sync.Mutex // guards pending, closed, jobs and the counters below
	drained *sync.Cond // signalled when pending is taken for a commit
	pending []*document.Document
	closed  bool
	jobs    map[string]struct{} // jobs whose job document was queued (layout 3)
	st      Stats
	rateAt  time.Time // start of the current ingest-rate window
	rateN   uint64    // DocsIndexed at rateAt

	// commitMu is held shared by each background commit and exclusively
	// by Flush, Close and DeleteJob, which so wait for those in flight.
	commitMu sync.RWMutex
	workers  int // background commits at once

	kick chan struct{}
	done chan struct{}
	wg   sync.WaitGroup
}

// Open opens the index in dir, creating it (and dir) when dir is missing or
// empty, and starts the background committer. A directory holding anything
// else than an index of this schema gives an error wrapping ErrOpen.
func Open(dir string, opts Options) (*Index, error) {
	idx, lay, err := openBleve(dir)
	if err != nil {
		return nil, err
	}

	ix := &Index{
		dir:       dir,
		log:       opts.Logger,
		idx:       idx,
		batchSize: opts.BatchSize,
		interval:  opts.FlushInterval,
		kick:      make(chan struct{}, 1),
		done:      make(chan struct{}),
		rateAt:    time.Now(),
		jobs:      make(map[string]struct{}),
		build: builder{
			analyzer: newFastAnalyzer(idx.Mapping().AnalyzerNamed(standard.Name)),
			numeric:  opts.NumericFields,
			layout:   lay,
		},
	}
	if ix.log == nil {
		ix.log = slog.New(slog.DiscardHandler)
	}
	if lay.jobDocs() {
		jobsDir := filepath.Join(dir, jobsDirName)
		_, statErr := os.Stat(jobsDir)
		if ix.jobIdx, err = openJobIndex(jobsDir); err != nil {
			_ = idx.Close()
			return nil, err
		}
		if n, _ := idx.DocCount(); n > 0 && errors.Is(statErr, os.ErrNotExist) {
			ix.st.LastError = fmt.Sprintf("job index %s was missing and is made anew: searches by "+
				"file, file_sha256 and container miss the %d lines indexed before, whose hits show no "+
				"tool or file", jobsDir, n)
			ix.st.LastErrorAt = time.Now()
			ix.log.Warn("index: job index missing", "dir", jobsDir, "lines", n)
		}
	}
	if ix.batchSize <= 0 {
		ix.batchSize = DefaultBatchSize
	}
	if ix.interval <= 0 {
		ix.interval = DefaultFlushInterval
	}
	ix.maxPending = 8 * ix.batchSize
	ix.workers = min(max(runtime.GOMAXPROCS(0), 1), 4)
	ix.drained = sync.NewCond(&ix.mu)
	if opts.LogDir != "" {
		ix.raw = newRawLogs(opts.LogDir, MaxOpenLogs)
	}

	ix.wg.Add(1)
	go ix.loop()
	return ix, nil
}

// mergeFanIn is the number of segments of one size that scorch lets pile
// up, and then merges into one.
const mergeFanIn = 20

// openBleve opens or creates the bleve index in dir and returns it with
// its layout.
func openBleve(dir string) (bleve.Index, layout, error) {
	config := map[string]interface{}{
		// Batches return once the segment is searchable; persisting to
		// disk runs in the background and Close waits for it.
		"unsafe_batch": true,
		// Merge 20 segments of a size at a time instead of bleve's 10:
		// each line is rewritten by fewer merges (merging was a sixth of
		// the CPU of indexing a line), for somewhat more segments to
		// search (BENCHMARKS.md).
		"scorchMergePlanOptions": map[string]interface{}{
			"maxSegmentsPerTier":   mergeFanIn,
			"segmentsPerMergeTask": mergeFanIn,
		},
	}

	fresh, err := isEmptyDir(dir)
	if err != nil {
		return nil, 0, fmt.Errorf("%w %s: %w", ErrOpen, dir, err)
	}
	if fresh {
		idx, err := bleve.NewUsing(dir, newMapping(), scorch.Name, scorch.Name, config)
		if err != nil {
			return nil, 0, fmt.Errorf("%w %s: creating: %w", ErrOpen, dir, err)
		}
		if err := idx.SetInternal([]byte(schemaKey), []byte(schemaVersion)); err != nil {
			_ = idx.Close()
			return nil, 0, fmt.Errorf("%w %s: writing schema version: %w", ErrOpen, dir, err)
		}
		lay, _ := parseLayout(schemaVersion)
		return idx, lay, nil
	}

	idx, err := bleve.OpenUsing(dir, config)
	if err != nil {
		return nil, 0, fmt.Errorf("%w %s: %w", ErrOpen, dir, err)
	}
	v, err := idx.GetInternal([]byte(schemaKey))
	lay, ok := parseLayout(string(v))
	if err != nil || !ok {
		_ = idx.Close()
		if err != nil {
			return nil, 0, fmt.Errorf("%w %s: reading the schema version: %w", ErrOpen, dir, err)
		}
		return nil, 0, fmt.Errorf("%w %s: index layout %q is not one this version reads (%q, %q or %q); "+
			"it was made by a newer ventapp", ErrOpen, dir, v, schemaV1, schemaV2, schemaVersion)
	}
	return idx, lay, nil
}

// openJobIndex opens or creates the job index (layout 3) in dir.
func openJobIndex(dir string) (bleve.Index, error) {
	config := map[string]interface{}{"unsafe_batch": true}
	idx, err := bleve.OpenUsing(dir, config)
	if errors.Is(err, bleve.ErrorIndexPathDoesNotExist) {
		idx, err = bleve.NewUsing(dir, newMapping(), scorch.Name, scorch.Name, config)
	}
	if err != nil {
		return nil, fmt.Errorf("%w %s: job index: %w", ErrOpen, dir, err)
	}
	return idx, nil
}

// isEmptyDir reports whether dir is missing or an empty directory.
func isEmptyDir(dir string) (bool, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return true, os.MkdirAll(filepath.Dir(filepath.Clean(dir)), 0o750)
	}
	if err != nil {
		return false, err
	}
	return len(entries) == 0, nil
}

// Add queues one line for indexing and writes it to the raw log. The line
// is copied; l.Text may be reused when Add returns. Blank lines (only white
// space) are written to the raw log but not indexed. Add blocks only when
// the committer has fallen behind by 8 batches. An error from the raw log
// is returned after the line was queued for the index.
func (ix *Index) Add(l Line) error {
	if l.Stream == "" {
		l.Stream = StreamStdout
	}
	if l.JobID == "" || l.LineNo < 1 || !validStream(l.Stream) {
		return fmt.Errorf("%w: job %q line %d stream %q: need a job id, a line number >= 1 "+
			"and a stream of [a-z0-9_-]", ErrInvalidLine, l.JobID, l.LineNo, l.Stream)
	}
	if l.Time.IsZero() {
		l.Time = time.Now()
	}

	text, nonBlank := lineText(l.Text)
	var doc, job *document.Document
	if nonBlank {
		if ix.build.layout.jobDocs() && ix.firstLineOf(l.JobID) {
			job = ix.build.jobDocument(&l)
		}
		doc = ix.build.document(&l, text)
	}

	if err := ix.enqueue(job, doc); err != nil {
		return err
	}

	if ix.raw != nil {
		if err := ix.raw.write(container(&l), l.Time, l.Stream, text); err != nil {
			return ix.recordError(err)
		}
	}
	return nil
}

// validStream reports whether s is a short name of [a-z0-9_-], so that it
// cannot break a raw log record.
func validStream(s string) bool {
	if len(s) > 32 {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// container is the raw log name of a line: its container id, else its job.
func container(l *Line) string {
	if l.Container != "" {
		return l.Container
	}
	return l.JobID
}

// maxJobsSeen bounds the set of jobs whose job document was queued; when
// it is full it starts again, and a job seen again writes its job
// document again (the same document, replaced).
const maxJobsSeen = 1 << 16

// firstLineOf reports whether jobID has had no indexed line yet in this
// process (or since DeleteJob), so its job document is due.
func (ix *Index) firstLineOf(jobID string) bool {
	ix.mu.Lock()
	defer ix.mu.Unlock()

	if _, ok := ix.jobs[jobID]; ok {
		return false
	}
	if len(ix.jobs) >= maxJobsSeen {
		clear(ix.jobs)
	}
	ix.jobs[jobID] = struct{}{}
	return true
}

// enqueue appends the job document job (if any) and the line doc (nil: a
// skipped blank line) to the pending batch.
func (ix *Index) enqueue(job, doc *document.Document) error {
	ix.mu.Lock()
	defer ix.mu.Unlock()

	for !ix.closed && len(ix.pending) >= ix.maxPending {
		ix.signal()
		ix.drained.Wait()
	}
	if ix.closed {
		return ErrClosed
	}

	if doc == nil {
		ix.st.LinesSkipped++
		return nil
	}
	if job != nil {
		ix.pending = append(ix.pending, job)
	}
	ix.pending = append(ix.pending, doc)
	if len(ix.pending) >= ix.batchSize {
		ix.signal()
	}
	return nil
}

// signal wakes the committer without blocking.
func (ix *Index) signal() {
	select {
	case ix.kick <- struct{}{}:
	default:
	}
}

// loop commits pending documents every interval or when signalled. Up to
// ix.workers batches are built at the same time, so segment building uses
// more than one core.
func (ix *Index) loop() {
	defer ix.wg.Done()

	sem := make(chan struct{}, ix.workers)
	t := time.NewTicker(ix.interval)
	defer t.Stop()
	for {
		select {
		case <-ix.done:
			return
		case <-ix.kick:
			ix.dispatch(sem, ix.batchSize)
		case <-t.C:
			ix.dispatch(sem, 1)
			if ix.raw != nil {
				if err := ix.raw.flush(); err != nil {
					_ = ix.recordError(err)
				}
			}
		}
	}
}

// dispatch hands pending documents, in batches of at least atLeast, to
// background commits; it waits while ix.workers commits are running.
func (ix *Index) dispatch(sem chan struct{}, atLeast int) {
	for {
		// Taking the documents under commitMu keeps Flush from
		// returning while they are neither pending nor committed.
		sem <- struct{}{}
		ix.commitMu.RLock()
		docs := ix.take(atLeast)
		if len(docs) == 0 {
			ix.commitMu.RUnlock()
			<-sem
			return
		}

		go func() {
			defer func() { <-sem }()
			defer ix.commitMu.RUnlock()
			_ = ix.commitBatch(docs)
		}()
	}
}

// take removes up to one batch from the pending documents if at least
// atLeast are pending, and wakes producers waiting for room.
func (ix *Index) take(atLeast int) []*document.Document {
	ix.mu.Lock()
	defer ix.mu.Unlock()

	if len(ix.pending) < atLeast || len(ix.pending) == 0 {
		return nil
	}
	n := min(len(ix.pending), ix.batchSize)
	docs := ix.pending[:n:n]
	ix.pending = ix.pending[n:]
	if len(ix.pending) == 0 {
		ix.pending = nil
	}
	ix.drained.Broadcast()
	return docs
}

// commit writes every pending document now, after the background commits
// in flight have finished. Errors are recorded in Stats and returned; the
// documents of a failed batch are dropped.
func (ix *Index) commit() error {
	ix.commitMu.Lock()
	defer ix.commitMu.Unlock()

	var errs []error
	for {
		docs := ix.take(1)
		if len(docs) == 0 {
			return errors.Join(errs...)
		}
		errs = append(errs, ix.commitBatch(docs))
	}
}

// commitBatch indexes one batch: its job documents into the job index
// first, then its lines. commitMu is held (either way).
func (ix *Index) commitBatch(docs []*document.Document) error {
	start := time.Now()
	b := ix.idx.NewBatch()
	var jb *bleve.Batch
	for _, d := range docs {
		dst := b
		if ix.jobIdx != nil && isJobDoc(d.ID()) {
			if jb == nil {
				jb = ix.jobIdx.NewBatch()
			}
			dst = jb
		}
		if err := dst.IndexAdvanced(d); err != nil {
			return ix.recordError(fmt.Errorf("indexing %s: adding %s: %w", ix.dir, d.ID(), err))
		}
	}

	var err error
	if jb != nil {
		err = ix.jobIdx.Batch(jb)
	}
	if err == nil {
		err = ix.idx.Batch(b)
	}
	if err != nil {
		ix.mu.Lock()
		ix.st.BatchErrors++
		ix.st.DocsDropped += uint64(b.Size())
		ix.mu.Unlock()
		return ix.recordError(fmt.Errorf("indexing %s: batch of %d lines: %w", ix.dir, b.Size(), err))
	}

	now := time.Now()
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.st.DocsIndexed += uint64(b.Size())
	ix.st.Batches++
	ix.st.LastBatch = now.Sub(start)
	if d := now.Sub(ix.rateAt); d >= rateWindow {
		ix.st.LinesPerSecond = float64(ix.st.DocsIndexed-ix.rateN) / d.Seconds()
		ix.rateAt, ix.rateN = now, ix.st.DocsIndexed
	}
	return nil
}

// rateWindow is the shortest period over which LinesPerSecond is measured.
const rateWindow = 5 * time.Second

// recordError remembers err for Stats, logs it and returns it.
func (ix *Index) recordError(err error) error {
	ix.mu.Lock()
	ix.st.LastError = err.Error()
	ix.st.LastErrorAt = time.Now()
	ix.mu.Unlock()

	ix.log.Warn("index write failed", "dir", ix.dir, "err", err)
	return err
}

// Flush commits the pending lines now, so that they are searchable when it
// returns, and writes buffered raw log records to their files.
func (ix *Index) Flush() error {
	ix.mu.Lock()
	closed := ix.closed
	ix.mu.Unlock()
	if closed {
		return ErrClosed
	}

	err := ix.commit()
	if ix.raw != nil {
		err = errors.Join(err, ix.raw.flush())
	}
	return err
}

// EndJob closes the raw log files of a container (a job's container id, or
// its job id when the lines had no container). Later lines reopen them.
func (ix *Index) EndJob(container string) error {
	ix.mu.Lock()
	closed := ix.closed
	ix.mu.Unlock()
	if closed {
		return ErrClosed
	}

	if ix.raw == nil {
		return nil
	}
	return ix.raw.end(container)
}

// Close commits the pending lines, closes the raw logs and the index.
// Calling Close again returns nil.
func (ix *Index) Close() error {
	ix.mu.Lock()
	if ix.closed {
		ix.mu.Unlock()
		return nil
	}
	ix.closed = true
	ix.drained.Broadcast()
	ix.mu.Unlock()

	close(ix.done)
	ix.wg.Wait()

	err := ix.commit()
	err = errors.Join(err, persist(ix.idx, ix.dir))
	if ix.jobIdx != nil {
		err = errors.Join(err, persist(ix.jobIdx, ix.dir))
		if cerr := ix.jobIdx.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("closing job index of %s: %w", ix.dir, cerr))
		}
	}
	if ix.raw != nil {
		err = errors.Join(err, ix.raw.close())
	}
	if cerr := ix.idx.Close(); cerr != nil {
		err = errors.Join(err, fmt.Errorf("closing index %s: %w", ix.dir, cerr))
	}
	return err
}

// persistTimeout bounds the wait for the final persist in Close.
const persistTimeout = time.Minute

// persist waits until everything committed to idx (of the index in dir)
// so far is written to disk. Batches run with unsafe_batch (they return
// once searchable), and closing a scorch index does not persist what is
// still in memory, so Close ends with one batch that waits for its
// persisted callback; persisting it persists every segment before it.
func persist(idx bleve.Index, dir string) error {
	done := make(chan error, 1)
	b := idx.NewBatch()
	b.SetInternal([]byte(syncKey), []byte(time.Now().UTC().Format(time.RFC3339Nano)))
	b.SetPersistedCallback(func(err error) { done <- err })
	if err := idx.Batch(b); err != nil {
		return fmt.Errorf("persisting %s: %w", dir, err)
	}

	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("persisting %s: %w", dir, err)
		}
		return nil
	case <-time.After(persistTimeout):
		return fmt.Errorf("persisting %s: no confirmation after %v", dir, persistTimeout)
	}
}

// Layout returns the index's document layout: 1, 2 or 3 (see mapping.go).
func (ix *Index) Layout() int { return int(ix.build.layout) }

// isJobDoc reports whether a document id is a job document's.
func isJobDoc(id string) bool { return strings.HasSuffix(id, jobDocSuffix) }

// DocCount returns the number of committed line documents.
func (ix *Index) DocCount() (uint64, error) {
	n, err := ix.idx.DocCount()
	if err != nil {
		return 0, fmt.Errorf("counting documents in %s: %w", ix.dir, err)
	}
	return n, nil
}

// deletePage is the number of documents looked up per step of DeleteJob.
const deletePage = 10000

// DeleteJob removes every document of a job, pending ones included. Raw log
// files are left alone.
func (ix *Index) DeleteJob(jobID string) error {
	// Commit the job's pending lines first so they are deleted too; a
	// failed batch was dropped anyway, so only ErrClosed stops here.
	if err := ix.Flush(); errors.Is(err, ErrClosed) {
		return err
	}

	ix.commitMu.Lock()
	defer ix.commitMu.Unlock()
	ix.mu.Lock()
	delete(ix.jobs, jobID)
	ix.mu.Unlock()

	if ix.jobIdx != nil {
		if err := ix.jobIdx.Delete(jobID + jobDocSuffix); err != nil {
			return fmt.Errorf("deleting job %s from %s: %w", jobID, ix.dir, err)
		}
	}
	q := query.NewTermQuery(jobID)
	q.SetField(fieldJobID)
	for {
		req := bleve.NewSearchRequestOptions(q, deletePage, 0, false)
		res, err := ix.idx.Search(req)
		if err != nil {
			return fmt.Errorf("deleting job %s from %s: %w", jobID, ix.dir, err)
		}
		if len(res.Hits) == 0 {
			return nil
		}

		b := ix.idx.NewBatch()
		for _, h := range res.Hits {
			b.Delete(h.ID)
		}
		if err := ix.idx.Batch(b); err != nil {
			return fmt.Errorf("deleting job %s from %s: %w", jobID, ix.dir, err)
		}
	}
}

// CopyTo writes a point-in-time copy of the index into the folder dst,
// after committing what is pending, while the index stays in use. Backups
// use it.
func (ix *Index) CopyTo(dst string) error {
	if err := ix.Flush(); err != nil {
		return err
	}
	c, ok := ix.idx.(bleve.IndexCopyable)
	if !ok {
		return fmt.Errorf("index cannot be copied while open: %w", ErrOpen)
	}
	if err := c.CopyTo(bleve.FileSystemDirectory(dst)); err != nil {
		return fmt.Errorf("copy index to %s: %w", dst, err)
	}
	if ix.jobIdx == nil {
		return nil
	}
	jc, ok := ix.jobIdx.(bleve.IndexCopyable)
	if !ok {
		return fmt.Errorf("job index cannot be copied while open: %w", ErrOpen)
	}
	jobsDst := filepath.Join(dst, jobsDirName)
	if err := jc.CopyTo(bleve.FileSystemDirectory(jobsDst)); err != nil {
		return fmt.Errorf("copy job index to %s: %w", jobsDst, err)
	}
	return nil
}
