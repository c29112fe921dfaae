package capture

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/sys/unix"

	"github.com/ventapp/ventapp/drop"
)

// pcap file framing sizes.
const (
	pcapFileHeaderLen   = 24
	pcapRecordHeaderLen = 16
)

// rotator writes one tap's packets into pcap files: each is created in the
// staging folder when its first packet comes, and delivered into the drop
// folder by finish. A file that never got a packet is never created.
type rotator struct {
	id         string
	stagingDir string
	dropDir    string
	link       layers.LinkType
	snaplen    int
	maxBytes   int64

	// bufs is the write pipeline's memory, made on the first file.
	bufs *bufferSet

	// The file being written; f is nil between files.
	f       *os.File
	w       *pcapWriter
	tmp     string
	start   time.Time // names the file
	size    int64
	packets uint64

	// lastStamp is the timestamp part of the last delivered name, and seq
	// the suffix it used, so two files in one second get distinct names.
	lastStamp string
	seq       int
}

// delivered describes one finished file.
type delivered struct {
	path    string
	size    int64
	packets uint64
}

// write adds one packet; start is the beginning of its interval, which
// names the file if this packet opens one. When the file would pass
// maxBytes, it is delivered first and a new one named after the packet's
// time takes the packet.
func (r *rotator) write(start time.Time, ci gopacket.CaptureInfo, data []byte) (*delivered, error) {
	var done *delivered
	if r.f != nil && r.maxBytes > 0 && r.packets > 0 &&
		r.size+pcapRecordHeaderLen+int64(len(data)) > r.maxBytes {
		d, err := r.finish()
		if err != nil {
			return nil, err
		}
		done, start = d, ci.Timestamp
	}
	if r.f == nil {
		if err := r.open(start); err != nil {
			return done, err
		}
	}

	if err := r.w.writePacket(ci, data); err != nil {
		return done, err
	}
	r.size += pcapRecordHeaderLen + int64(len(data))
	r.packets++
	return done, nil
}

func (r *rotator) open(start time.Time) error {
	if err := os.MkdirAll(r.stagingDir, 0o750); err != nil {
		return fmt.Errorf("capture staging folder %s: %w", r.stagingDir, err)
	}
	tmp := filepath.Join(r.stagingDir,
		"."+r.id+"-"+strconv.FormatInt(time.Now().UnixNano(), 36)+".pcap.part")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return fmt.Errorf("creating %s: %w", tmp, err)
	}
	if r.bufs == nil {
		r.bufs = newBufferSet()
	}
	r.f, r.tmp, r.start = f, tmp, start
	r.w = newPcapWriter(f, tmp, r.bufs, r.snaplen, r.link)
	r.size, r.packets = pcapFileHeaderLen, 0
	return nil
}

// finish flushes, syncs and closes the current file and renames it into
// the drop folder under vent's name. With no current file it returns nil.
// On error the staged file is removed.
func (r *rotator) finish() (*delivered, error) {
	if r.f == nil {
		return nil, nil
	}
	err := r.w.close()
	if err == nil {
		err = r.f.Sync()
	}
	if cerr := r.f.Close(); err == nil {
		err = cerr
	}
	tmp, size, packets := r.tmp, r.size, r.packets
	r.f, r.w = nil, nil
	if err != nil {
		os.Remove(tmp)
		return nil, fmt.Errorf("writing %s: %w", tmp, err)
	}

	path, err := r.deliver(tmp)
	if err != nil {
		os.Remove(tmp)
		return nil, err
	}
	return &delivered{path: path, size: size, packets: packets}, nil
}

// deliver moves the staged file tmp into the drop folder without replacing
// anything there, and returns its new path.
func (r *rotator) deliver(tmp string) (string, error) {
	if err := os.MkdirAll(r.dropDir, 0o755); err != nil {
		return "", fmt.Errorf("drop folder %s: %w", r.dropDir, err)
	}
	stamp := r.start.UTC().Format(fileTimeLayout)
	seq := 0
	if stamp == r.lastStamp {
		seq = r.seq + 1
	}
	for ; seq < 1000; seq++ {
		dst := filepath.Join(r.dropDir, FileName(r.id, r.start, seq))
		err := unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, dst, unix.RENAME_NOREPLACE)
		switch {
		case err == nil:
			r.lastStamp, r.seq = stamp, seq
			syncDir(r.dropDir)
			return dst, nil
		case errors.Is(err, syscall.EEXIST):
			continue
		case errors.Is(err, syscall.EXDEV), errors.Is(err, syscall.EINVAL), errors.Is(err, syscall.ENOSYS):
			return r.copyIn(tmp, FileName(r.id, r.start, seq), stamp, seq)
		default:
			return "", fmt.Errorf("moving %s into %s: %w", tmp, r.dropDir, err)
		}
	}
	return "", fmt.Errorf("moving %s into %s: every name for %s is taken", tmp, r.dropDir, stamp)
}

// copyIn copies a staged file into a drop folder on another file system
// through drop.Place (temporary dot-file, sync, rename).
func (r *rotator) copyIn(tmp, name, stamp string, seq int) (string, error) {
	f, err := os.Open(tmp)
	if err != nil {
		return "", fmt.Errorf("copying %s into %s: %w", tmp, r.dropDir, err)
	}
	defer f.Close()
	dst, err := drop.Place(f, r.dropDir, name)
	if err != nil {
		return "", fmt.Errorf("copying %s into %s: %w", tmp, r.dropDir, err)
	}
	os.Remove(tmp)
	r.lastStamp, r.seq = stamp, seq
	return dst, nil
}

// abort drops the current file without delivering it.
func (r *rotator) abort() {
	if r.f == nil {
		return
	}
	r.w.abort()
	r.f.Close()
	os.Remove(r.tmp)
	r.f, r.w = nil, nil
}

// syncDir makes a rename in dir durable; failure only weakens durability.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
