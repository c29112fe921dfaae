package capture

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/ventapp/ventapp/capture/bpf"
)

// Errors returned by this package; match them with errors.Is.
var (
	// ErrBadTap is a tap configuration that cannot work; the message names
	// the field and its value.
	ErrBadTap = errors.New("bad tap")
	// ErrExists means a tap with that id exists already.
	ErrExists = errors.New("tap exists")
	// ErrNotFound means no tap has that id.
	ErrNotFound = errors.New("no such tap")
	// ErrState means the tap is not in a state that allows the request.
	ErrState = errors.New("tap state does not allow this")
	// ErrPermission means the process lacks CAP_NET_RAW.
	ErrPermission = errors.New("capturing packets needs CAP_NET_RAW " +
		"(run ventapp as root, or grant it with `setcap cap_net_raw+ep` or AmbientCapabilities=CAP_NET_RAW)")
	// ErrClosed means the manager was closed.
	ErrClosed = errors.New("tap manager closed")
)

// DefaultSnapLen is the snap length a tap uses when it sets none.
const DefaultSnapLen = bpf.MaxSnapLen

// Ring sizes of a tap's AF_PACKET socket, in MiB (one TPACKET_V3 block
// is 1 MiB). The ring is kernel memory held while the tap runs; it rides
// out the moments the tap's goroutines are not on a CPU.
const (
	DefaultRingMB = 64
	MinRingMB     = 2
	MaxRingMB     = 1024
)

// maxIDLen keeps file names under the file system's limit.
const maxIDLen = 128

// Tap is the configuration of one capture.
type Tap struct {
	// ID names the tap and appears in its file names.
	ID string
	// NIC is the network interface to capture from.
	NIC string
	// Interval is how long each file covers.
	Interval time.Duration
	// Iters is how many intervals to capture; 0 means until stopped.
	Iters int
	// Filter is a tcpdump-syntax expression; "" keeps every packet.
	Filter string
	// SnapLen cuts each packet to this many bytes; 0 means DefaultSnapLen.
	SnapLen int
	// StripPayload drops TCP and UDP payloads, keeping the headers.
	StripPayload bool
	// MaxFileBytes starts a new file once one reaches this size; 0 means
	// files rotate by interval only.
	MaxFileBytes int64
	// RingMB is the size of the capture ring in MiB; 0 means
	// DefaultRingMB.
	RingMB int
	// Metadata is free-form data the caller attaches (vent's /update).
	Metadata map[string]any
}

// tapJSON is Tap on the wire: the interval in seconds.
type tapJSON struct {
	ID           string         `json:"id"`
	NIC          string         `json:"nic"`
	Interval     float64        `json:"interval"`
	Iters        int            `json:"iters"`
	Filter       string         `json:"filter"`
	SnapLen      int            `json:"snaplen,omitempty"`
	StripPayload bool           `json:"strip_payload,omitempty"`
	MaxFileBytes int64          `json:"max_file_bytes,omitempty"`
	RingMB       int            `json:"ring_mb,omitempty"`
	Metadata     map[string]any `json:"metadata,omitempty"`
}

// MarshalJSON writes the tap with its interval in seconds.
func (t Tap) MarshalJSON() ([]byte, error) {
	return json.Marshal(tapJSON{
		ID: t.ID, NIC: t.NIC, Interval: t.Interval.Seconds(), Iters: t.Iters, Filter: t.Filter,
		SnapLen: t.SnapLen, StripPayload: t.StripPayload, MaxFileBytes: t.MaxFileBytes,
		RingMB: t.RingMB, Metadata: t.Metadata,
	})
}

// UnmarshalJSON reads a tap whose interval is in seconds.
func (t *Tap) UnmarshalJSON(data []byte) error {
	var j tapJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return err
	}
	*t = Tap{
		ID: j.ID, NIC: j.NIC, Interval: time.Duration(j.Interval * float64(time.Second)),
		Iters: j.Iters, Filter: j.Filter, SnapLen: j.SnapLen, StripPayload: j.StripPayload,
		MaxFileBytes: j.MaxFileBytes, RingMB: j.RingMB, Metadata: j.Metadata,
	}
	return nil
}

// clone returns a copy that shares no map with t.
func (t Tap) clone() Tap {
	t.Metadata = maps.Clone(t.Metadata)
	return t
}

// Validate checks the fields that need no system access. Errors wrap
// ErrBadTap and name the field and its value.
func (t *Tap) Validate() error {
	if err := ValidateID(t.ID); err != nil {
		return err
	}
	switch {
	case t.NIC == "":
		return fmt.Errorf("%w: tap %s: nic is missing", ErrBadTap, t.ID)
	case strings.ContainsAny(t.NIC, "/\x00") || len(t.NIC) > 15:
		return fmt.Errorf("%w: tap %s: nic %q is not an interface name", ErrBadTap, t.ID, t.NIC)
	case t.Interval <= 0:
		return fmt.Errorf("%w: tap %s: interval %s must be more than 0", ErrBadTap, t.ID, t.Interval)
	case t.Interval < time.Second && t.Interval%time.Millisecond != 0:
		return fmt.Errorf("%w: tap %s: interval %s is finer than a millisecond", ErrBadTap, t.ID, t.Interval)
	case t.Iters < 0:
		return fmt.Errorf("%w: tap %s: iters %d must be 0 (forever) or more", ErrBadTap, t.ID, t.Iters)
	case t.SnapLen < 0 || t.SnapLen > bpf.MaxSnapLen:
		return fmt.Errorf("%w: tap %s: snaplen %d must be between 0 (default) and %d",
			ErrBadTap, t.ID, t.SnapLen, bpf.MaxSnapLen)
	case t.MaxFileBytes < 0:
		return fmt.Errorf("%w: tap %s: max file bytes %d must be 0 (no limit) or more",
			ErrBadTap, t.ID, t.MaxFileBytes)
	case t.MaxFileBytes > 0 && t.MaxFileBytes < 1024:
		return fmt.Errorf("%w: tap %s: max file bytes %d is below 1024", ErrBadTap, t.ID, t.MaxFileBytes)
	case t.RingMB != 0 && (t.RingMB < MinRingMB || t.RingMB > MaxRingMB):
		return fmt.Errorf("%w: tap %s: ring %d MiB must be between %d and %d (0: %d)",
			ErrBadTap, t.ID, t.RingMB, MinRingMB, MaxRingMB, DefaultRingMB)
	}
	return nil
}

// ValidateID checks a tap id: it becomes part of file names and URL paths.
func ValidateID(id string) error {
	var why string
	switch {
	case id == "":
		why = "is empty"
	case strings.ContainsRune(id, '/'):
		why = "contains a slash"
	case strings.Contains(id, ".."):
		why = `contains ".."`
	case strings.HasPrefix(id, "."):
		why = "starts with a dot"
	case len(id) > maxIDLen:
		why = fmt.Sprintf("is longer than %d bytes", maxIDLen)
	case id == "nics" || id == "info":
		why = "is reserved for an API route"
	default:
		for _, r := range id {
			if r < 0x20 || r == 0x7f || r == '\\' {
				return fmt.Errorf("%w: id %q contains a control character or backslash", ErrBadTap, id)
			}
		}
		return nil
	}
	return fmt.Errorf("%w: id %q %s", ErrBadTap, id, why)
}

// fileTimeLayout is vent's timestamp in capture file names.
const fileTimeLayout = "2006-01-02_15_04_05"

// FileName is the name of the capture file of tap id whose interval
// started at start: trace_<id>_<YYYY-MM-DD_HH_MM_SS>.pcap in UTC. A seq
// above 0 (a second file in the same second, from size rotation or a name
// already taken) adds "_<seq>" before the extension.
func FileName(id string, start time.Time, seq int) string {
	name := "trace_" + id + "_" + start.UTC().Format(fileTimeLayout)
	if seq > 0 {
		name += fmt.Sprintf("_%d", seq)
	}
	return name + ".pcap"
}
