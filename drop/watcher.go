package drop

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Defaults for the zero values of Options.
const (
	DefaultQuiet  = 2 * time.Second
	DefaultSettle = 10 * time.Millisecond
	DefaultRescan = 5 * time.Minute
)

// eventBuffer is the number of fsnotify events buffered between fsnotify's
// reader and the watcher loop, on top of the kernel's own queue, so that a
// slow ready callback or a long scan does not overflow the kernel queue as
// quickly.
const eventBuffer = 8192

// File is a file that the watcher found ready.
type File struct {
	// Path is absolute and cleaned; it lies under Options.Root.
	Path string

	// Size is the size in bytes when the file was found ready.
	Size int64

	// ModTime is the modification time when the file was found ready.
	ModTime time.Time
}

// Options configures a Watcher.
type Options struct {
	// Root is the drop folder. New creates it (mode 0755) when missing.
	Root string

	// Quiet is how long a file written in place must see no change before
	// it is ready. Zero means DefaultQuiet (2s).
	Quiet time.Duration

	// Settle is how long a file that appeared whole (renamed or linked into
	// place) must stay unchanged, with no Write event, before it is ready.
	// Zero means DefaultSettle (10ms).
	Settle time.Duration

	// Rescan is the interval between full rescans. Zero means
	// DefaultRescan (5 minutes).
	Rescan time.Duration

	// Logger receives the watcher's log records. Nil discards them.
	Logger *slog.Logger

	// OnError, when set, is called with the path of each file that cannot
	// be opened for reading and with each directory that cannot be read. It
	// is called from the goroutine that calls the ready callback.
	OnError func(path string, err error)
}

// Stats holds the watcher's counters.
type Stats struct {
	// Watches is the number of directories watched now.
	Watches int

	// WatchFailures counts directories that could not be watched and are
	// covered by rescans only.
	WatchFailures uint64

	// Events counts fsnotify events received.
	Events uint64

	// Overflows counts kernel event-queue overflows.
	Overflows uint64

	// Rescans counts completed full scans, the start scan included.
	Rescans uint64

	// Ready counts files reported to the ready callback.
	Ready uint64

	// Pending is the number of files waiting to become ready now.
	Pending int

	// Errors counts files and directories that could not be read.
	Errors uint64
}

// Watcher watches a drop folder. Create one with New and start it with Run.
type Watcher struct {
	root    string
	quiet   time.Duration
	settle  time.Duration
	rescan  time.Duration
	log     *slog.Logger
	onError func(string, error)

	rescanReq chan struct{}
	running   atomic.Bool

	watches       atomic.Int64
	watchFailures atomic.Uint64
	events        atomic.Uint64
	overflows     atomic.Uint64
	rescans       atomic.Uint64
	ready         atomic.Uint64
	pending       atomic.Int64
	errs          atomic.Uint64
}

// New checks opts, creates the drop folder when it is missing and returns
// a Watcher that is not running yet.
func New(opts Options) (*Watcher, error) {
	if opts.Root == "" {
		return nil, fmt.Errorf("%w: empty Root", ErrBadOptions)
	}
	for _, d := range []struct {
		name string
		val  time.Duration
	}{{"Quiet", opts.Quiet}, {"Settle", opts.Settle}, {"Rescan", opts.Rescan}} {
		if d.val < 0 {
			return nil, fmt.Errorf("%w: negative %s %v", ErrBadOptions, d.name, d.val)
		}
	}

	root, err := filepath.Abs(opts.Root)
	if err != nil {
		return nil, fmt.Errorf("drop folder %s: %w", opts.Root, err)
	}
	if err := ensureRoot(root); err != nil {
		return nil, err
	}

	w := &Watcher{
		root:      root,
		quiet:     orDefault(opts.Quiet, DefaultQuiet),
		settle:    orDefault(opts.Settle, DefaultSettle),
		rescan:    orDefault(opts.Rescan, DefaultRescan),
		log:       opts.Logger,
		onError:   opts.OnError,
		rescanReq: make(chan struct{}, 1),
	}
	if w.log == nil {
		w.log = slog.New(slog.DiscardHandler)
	}
	return w, nil
}

// ensureRoot creates root when it is missing and checks that it is a
// directory (possibly through a symbolic link).
func ensureRoot(root string) error {
	fi, err := os.Stat(root)
	if errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(root, 0o755); err != nil {
			return fmt.Errorf("creating drop folder %s: %w", root, err)
		}
		fi, err = os.Stat(root)
	}
	if err != nil {
		return fmt.Errorf("drop folder %s: %w", root, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("drop folder %s: %w", root, ErrNotDir)
	}
	return nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// Root returns the absolute path of the drop folder.
func (w *Watcher) Root() string { return w.root }

// Rescan asks the running watcher for a full rescan soon. It never blocks;
// requests made while one is already waiting are merged.
func (w *Watcher) Rescan() {
	select {
	case w.rescanReq <- struct{}{}:
	default:
	}
}

// Stats returns a snapshot of the watcher's counters. It is safe to call
// from any goroutine.
func (w *Watcher) Stats() Stats {
	return Stats{
		Watches:       int(w.watches.Load()),
		WatchFailures: w.watchFailures.Load(),
		Events:        w.events.Load(),
		Overflows:     w.overflows.Load(),
		Rescans:       w.rescans.Load(),
		Ready:         w.ready.Load(),
		Pending:       int(w.pending.Load()),
		Errors:        w.errs.Load(),
	}
}

// Run watches the drop folder until ctx is done and calls ready for each
// file found ready, always from the calling goroutine, one call at a time.
// ready should return quickly: while it runs, events wait in the queues.
// Run returns nil when ctx is done, and an error when the watcher cannot
// start or is already running.
func (w *Watcher) Run(ctx context.Context, ready func(File)) error {
	if ready == nil {
		return fmt.Errorf("%w: nil ready callback", ErrBadOptions)
	}
	if !w.running.CompareAndSwap(false, true) {
		return fmt.Errorf("drop folder %s: %w", w.root, ErrRunning)
	}
	defer w.running.Store(false)

	fsw, err := fsnotify.NewBufferedWatcher(eventBuffer)
	if err != nil {
		return fmt.Errorf("watching drop folder %s: %w", w.root, err)
	}
	defer func() { _ = fsw.Close() }()

	l := newLoop(w, fsw, ready)
	defer l.reset()
	return l.run(ctx)
}
