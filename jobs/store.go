package jobs

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/bbolt"
)

// SchemaVersion is the version of the bucket layout this package writes.
// Version 1 stored job and file records as JSON, version 2 stores them in
// a binary form (see record.go); Open migrates version 1 stores.
const SchemaVersion = 2

// DefaultLockTimeout is how long Open waits for another process to release
// the store file when Options.LockTimeout is zero.
const DefaultLockTimeout = 2 * time.Second

// DefaultMaxGroup is the most write requests one transaction applies when
// Options.MaxGroup is zero.
const DefaultMaxGroup = 2048

// Bucket and key names; the layout is described in the package doc.
var (
	bucketRoot    = []byte("jobs")
	bucketMeta    = []byte("meta")
	bucketJob     = []byte("job")
	bucketFile    = []byte("file")
	bucketFileJob = []byte("filejob")
	bucketState   = []byte("state")
	bucketCount   = []byte("count")
	keySchema     = []byte("schema_version")
)

// Options tune Open. The zero value is ready for production use.
type Options struct {
	// Logger receives the store's log records; nil discards them.
	Logger *slog.Logger
	// NoSync skips fsync on commit. A crash may then lose or corrupt the
	// store, so it is for tests and benchmarks only.
	NoSync bool
	// LockTimeout is how long Open waits for another process to release
	// the file before failing with ErrLocked; 0 means DefaultLockTimeout.
	LockTimeout time.Duration
	// MaxGroup is the most write requests applied in one transaction;
	// 0 means DefaultMaxGroup.
	MaxGroup int
	// Now returns the current time; nil means time.Now. Tests set it to
	// control NotBefore.
	Now func() time.Time

	// viaBatch sends writes through bbolt's DB.Batch instead of the writer
	// goroutine. Only the benchmark that compares the two sets it.
	viaBatch bool
}

// Store is an open job store. Its methods are safe for concurrent use.
type Store struct {
	db   *bbolt.DB
	path string
	log  *slog.Logger
	now  func() time.Time
	opts Options

	// mu guards closed. Senders to reqs and readers of db hold it shared;
	// Close holds it exclusively to stop new work.
	mu     sync.RWMutex
	closed bool
	reqs   chan *request
	done   chan struct{}

	wakeMu sync.Mutex
	wakeCh chan struct{}

	groups, requests atomic.Uint64
}

// Stats counts the writer's work since Open.
type Stats struct {
	// Groups is the number of write transactions committed (or failed) by
	// the writer, each costing one fsync.
	Groups uint64
	// Requests is the number of write requests they carried.
	Requests uint64
}

// Stats returns counters of the writer's work since Open. Requests divided
// by Groups is the average number of writes that shared one fsync.
func (s *Store) Stats() Stats {
	return Stats{Groups: s.groups.Load(), Requests: s.requests.Load()}
}

// Open opens the store at path, creating the file and its buckets when
// missing. A file held by another process gives ErrLocked after
// Options.LockTimeout; a file that is not a bbolt database gives ErrCorrupt;
// a store with a newer schema gives ErrSchemaTooNew. All errors name path.
func Open(path string, opts Options) (*Store, error) {
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = DefaultLockTimeout
	}
	if opts.MaxGroup <= 0 {
		opts.MaxGroup = DefaultMaxGroup
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}

	db, err := openBolt(path, opts)
	if err != nil {
		return nil, err
	}

	s := &Store{
		db:     db,
		path:   path,
		log:    log,
		now:    func() time.Time { return opts.Now().UTC().Round(0) },
		opts:   opts,
		reqs:   make(chan *request, opts.MaxGroup),
		done:   make(chan struct{}),
		wakeCh: make(chan struct{}),
	}
	if err := s.init(); err != nil {
		_ = db.Close()
		return nil, err
	}

	go s.writer()
	counts, _ := s.Counts()
	log.Info("job store open", "path", path, "schema", SchemaVersion,
		"queued", counts[Queued], "running", counts[Running])
	return s, nil
}

// openBolt opens the bbolt file and turns its errors into ours.
func openBolt(path string, opts Options) (*bbolt.DB, error) {
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{
		Timeout:      opts.LockTimeout,
		NoSync:       opts.NoSync,
		FreelistType: bbolt.FreelistMapType,
	})
	switch {
	case err == nil:
		return db, nil
	case errors.Is(err, bbolt.ErrTimeout):
		return nil, fmt.Errorf("open job store %s: gave up after %s: %w", path, opts.LockTimeout, ErrLocked)
	case errors.Is(err, bbolt.ErrInvalid), errors.Is(err, bbolt.ErrChecksum),
		errors.Is(err, bbolt.ErrVersionMismatch):
		return nil, fmt.Errorf("open job store %s: not a bbolt database, or damaged (%w): %w",
			path, err, ErrCorrupt)
	default:
		return nil, fmt.Errorf("open job store %s: %w", path, err)
	}
}

// init checks the schema version and creates missing buckets. The version
// is checked in a read transaction first so a newer store is never written.
func (s *Store) init() (err error) {
	defer func() {
		// bbolt panics on some damaged pages; report those as corruption.
		if r := recover(); r != nil {
			err = fmt.Errorf("open job store %s: reading buckets: %v: %w", s.path, r, ErrCorrupt)
		}
	}()

	found := 0
	err = s.db.View(func(tx *bbolt.Tx) error {
		v, err := readSchema(tx)
		found = v
		return err
	})
	if err != nil {
		return fmt.Errorf("open job store %s: %w", s.path, err)
	}
	if found > SchemaVersion {
		return fmt.Errorf("open job store %s: schema version %d found, this program supports up to %d: %w",
			s.path, found, SchemaVersion, ErrSchemaTooNew)
	}
	if found == 1 {
		if err := s.migrate(); err != nil {
			return fmt.Errorf("open job store %s: migrating from schema 1: %w", s.path, err)
		}
	}

	err = s.db.Update(func(tx *bbolt.Tx) error {
		root, err := tx.CreateBucketIfNotExists(bucketRoot)
		if err != nil {
			return err
		}
		names := [][]byte{bucketMeta, bucketJob, bucketFile, bucketFileJob, bucketState, bucketCount}
		for _, name := range names {
			if _, err := root.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("bucket %s: %w", name, err)
			}
		}
		states := root.Bucket(bucketState)
		for _, st := range allStates {
			if _, err := states.CreateBucketIfNotExists([]byte(st)); err != nil {
				return fmt.Errorf("bucket state/%s: %w", st, err)
			}
		}
		return root.Bucket(bucketMeta).Put(keySchema, []byte(strconv.Itoa(SchemaVersion)))
	})
	if err != nil {
		return fmt.Errorf("open job store %s: creating buckets: %w", s.path, err)
	}
	return nil
}

// readSchema returns the stored schema version, or 0 for a store this
// package has never written.
func readSchema(tx *bbolt.Tx) (int, error) {
	root := tx.Bucket(bucketRoot)
	if root == nil {
		return 0, nil
	}
	meta := root.Bucket(bucketMeta)
	if meta == nil {
		return 0, fmt.Errorf("bucket jobs/meta is missing: %w", ErrCorrupt)
	}
	raw := meta.Get(keySchema)
	if raw == nil {
		return 0, fmt.Errorf("schema version key is missing: %w", ErrCorrupt)
	}
	v, err := strconv.Atoi(string(raw))
	if err != nil || v < 1 {
		return 0, fmt.Errorf("schema version %q is not a positive number: %w", raw, ErrCorrupt)
	}
	return v, nil
}

// Path returns the file the store was opened from.
func (s *Store) Path() string {
	return s.path
}

// DB returns the underlying bbolt database so other packages can keep
// their own top-level buckets in the same file, and so a backup can use
// Tx.WriteTo. Callers must not touch the "jobs" bucket.
func (s *Store) DB() *bbolt.DB {
	return s.db
}

// Close waits for pending writes, stops the writer and closes the file.
// Later calls to any method return ErrClosed; a second Close returns nil.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.reqs)
	s.mu.Unlock()

	<-s.done
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close job store %s: %w", s.path, err)
	}
	return nil
}

// Wake returns a channel that is closed after the next commit that leaves
// a job queued (AddFile, Retry, Requeue, Recover). Idle workers wait on it
// instead of polling. A queued job whose NotBefore lies in the future does
// not close it again when that time comes; poll for those.
func (s *Store) Wake() <-chan struct{} {
	s.wakeMu.Lock()
	defer s.wakeMu.Unlock()
	return s.wakeCh
}

// wakeAll closes the current wake channel and starts a new one.
func (s *Store) wakeAll() {
	s.wakeMu.Lock()
	close(s.wakeCh)
	s.wakeCh = make(chan struct{})
	s.wakeMu.Unlock()
}

// view runs fn in a read transaction unless the store is closed.
func (s *Store) view(fn func(t *txn) error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	return s.db.View(func(tx *bbolt.Tx) error {
		t, err := newTxn(tx)
		if err != nil {
			return err
		}
		return fn(t)
	})
}
