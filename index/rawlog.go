package index

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
	"unicode/utf8"
)

// MaxOpenLogs bounds the raw log files held open at once; the least
// recently written one is closed when another is needed.
const MaxOpenLogs = 64

// rawLogs writes vent-style per-container log files:
// root/YYYY/MM/DD/<container>.log, one record per line.
type rawLogs struct {
	root string
	max  int

	mu    sync.Mutex
	files map[string]*logFile // by path
	tick  uint64
}

// logFile is one open raw log.
type logFile struct {
	f         *os.File
	w         *bufio.Writer
	container string
	used      uint64
}

// newRawLogs returns a writer rooted at root.
func newRawLogs(root string, max int) *rawLogs {
	return &rawLogs{root: root, max: max, files: make(map[string]*logFile)}
}

// logPath returns the raw log path for a container and a time (in UTC).
func logPath(root, container string, t time.Time) string {
	u := t.UTC()
	return filepath.Join(root, fmt.Sprintf("%04d", u.Year()), fmt.Sprintf("%02d", int(u.Month())),
		fmt.Sprintf("%02d", u.Day()), logName(container)+".log")
}

// logName makes a container id safe as a file name: characters other than
// letters, digits, '.', '_' and '-' become '_', and a leading dot is
// replaced so the name can never be "." or "..".
func logName(container string) string {
	if container == "" {
		return "unknown"
	}

	b := []byte(container)
	for i, c := range b {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '.' || c == '_' || c == '-'
		if !ok || (i == 0 && c == '.') {
			b[i] = '_'
		}
	}
	if len(b) > 200 {
		b = b[:200]
	}
	return string(b)
}

// appendRecord appends "<RFC3339Nano UTC time> <stream> <escaped text>\n".
func appendRecord(buf []byte, t time.Time, stream string, text []byte) []byte {
	buf = t.UTC().AppendFormat(buf, time.RFC3339Nano)
	buf = append(buf, ' ')
	buf = append(buf, stream...)
	buf = append(buf, ' ')
	buf = appendEscaped(buf, text)
	return append(buf, '\n')
}

// appendEscaped appends text so that one record stays one line and the
// original bytes can be recovered: backslash becomes `\\`; \n, \r and \t
// become `\n`, `\r`, `\t`; other C0 controls, DEL and bytes that are not
// valid UTF-8 become `\xNN`; C1 controls become `\u00NN`.
func appendEscaped(buf, text []byte) []byte {
	const hex = "0123456789abcdef"
	for i := 0; i < len(text); {
		c := text[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '\\':
				buf = append(buf, '\\', '\\')
			case c == '\n':
				buf = append(buf, '\\', 'n')
			case c == '\r':
				buf = append(buf, '\\', 'r')
			case c == '\t':
				buf = append(buf, '\\', 't')
			case c < 0x20 || c == 0x7f:
				buf = append(buf, '\\', 'x', hex[c>>4], hex[c&0xf])
			default:
				buf = append(buf, c)
			}
			i++
			continue
		}

		r, n := utf8.DecodeRune(text[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			buf = append(buf, '\\', 'x', hex[c>>4], hex[c&0xf])
		case r >= 0x80 && r <= 0x9f:
			buf = append(buf, '\\', 'u', '0', '0', hex[r>>4], hex[r&0xf])
		default:
			buf = append(buf, text[i:i+n]...)
		}
		i += n
	}
	return buf
}

// write appends one record to the container's log for the day of t.
func (r *rawLogs) write(container string, t time.Time, stream string, text []byte) error {
	path := logPath(r.root, container, t)

	r.mu.Lock()
	defer r.mu.Unlock()

	lf, err := r.open(path, container)
	if err != nil {
		return err
	}

	var scratch [512]byte
	rec := appendRecord(scratch[:0], t, stream, text)
	if _, err := lf.w.Write(rec); err != nil {
		return fmt.Errorf("writing raw log %s: %w", path, err)
	}
	return nil
}

// open returns the open file for path, opening it (and closing the least
// recently used file when at the cap) if needed. r.mu is held.
func (r *rawLogs) open(path, container string) (*logFile, error) {
	r.tick++
	if lf, ok := r.files[path]; ok {
		lf.used = r.tick
		return lf, nil
	}

	if len(r.files) >= r.max {
		if err := r.evict(); err != nil {
			return nil, err
		}
	}

	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("creating raw log directory for %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return nil, fmt.Errorf("opening raw log: %w", err)
	}

	lf := &logFile{f: f, w: bufio.NewWriterSize(f, 32<<10), container: container, used: r.tick}
	r.files[path] = lf
	return lf, nil
}

// evict closes the least recently written file. r.mu is held.
func (r *rawLogs) evict() error {
	var oldest string
	for p, lf := range r.files {
		if oldest == "" || lf.used < r.files[oldest].used {
			oldest = p
		}
	}
	return r.closeFile(oldest)
}

// closeFile flushes and closes one file. r.mu is held.
func (r *rawLogs) closeFile(path string) error {
	lf := r.files[path]
	delete(r.files, path)

	err := lf.w.Flush()
	if cerr := lf.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("closing raw log %s: %w", path, err)
	}
	return nil
}

// end closes every file of a container.
func (r *rawLogs) end(container string) error {
	r.mu.Lock()
	defer r.mu.Unlock()

	var errs []error
	for p, lf := range r.files {
		if lf.container == container {
			errs = append(errs, r.closeFile(p))
		}
	}
	return errors.Join(errs...)
}

// flush writes buffered records of every open file to the OS.
func (r *rawLogs) flush() error {
	r.mu.Lock()
	defer r.mu.Unlock()

	var errs []error
	for p, lf := range r.files {
		if err := lf.w.Flush(); err != nil {
			errs = append(errs, fmt.Errorf("flushing raw log %s: %w", p, err))
		}
	}
	return errors.Join(errs...)
}

// close closes every open file.
func (r *rawLogs) close() error {
	r.mu.Lock()
	defer r.mu.Unlock()

	var errs []error
	for p := range r.files {
		errs = append(errs, r.closeFile(p))
	}
	return errors.Join(errs...)
}

// openCount reports the number of open files.
func (r *rawLogs) openCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.files)
}
