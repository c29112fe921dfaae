package capture

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/afpacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/ventapp/ventapp/capture/bpf"
	"github.com/ventapp/ventapp/internal/netns"
)

// Ring and timing settings of the AF_PACKET socket.
const (
	ringBlockSize = 1 << 20 // one TPACKET_V3 block; Tap.RingMB counts them
	// blockTimeout is how long the kernel holds a partly filled block
	// before handing it over; it bounds how late a packet is seen.
	blockTimeout = 20 * time.Millisecond
	// pollTimeout bounds how long a read waits, so rotation and stop are
	// noticed without traffic.
	pollTimeout = 100 * time.Millisecond
	// maxDrain bounds the packets read off a new socket before its filter.
	maxDrain = 1 << 20
)

// Reasons a NIC cannot be captured right now; the runner retries them.
var (
	errNICMissing = errors.New("no such network interface")
	errNICDown    = errors.New("network interface is down")
)

// source is where a runner reads packets from.
type source interface {
	// read returns the next packet; its bytes are valid until the next
	// call. It returns afpacket.ErrTimeout when nothing came in time.
	read() ([]byte, gopacket.CaptureInfo, error)
	// kernelStats returns the packets the kernel queued for the socket and
	// the ones it dropped for want of ring space, since the socket opened.
	kernelStats() (packets, drops uint64, err error)
	close()
}

// afSource is a TPACKET_V3 socket bound to one NIC.
type afSource struct {
	h                  *afpacket.TPacket
	basePkts, baseDrop uint64
}

// linkTypeOf returns the pcap link type of a NIC from its ARPHRD type in
// sysfs; sysfs shows the namespace it was mounted in, so anything but a
// readable Ethernet answer falls back to Ethernet, which also covers
// loopback.
func linkTypeOf(ns, nic string) layers.LinkType {
	if ns != "" {
		return layers.LinkTypeEthernet
	}
	data, err := os.ReadFile("/sys/class/net/" + nic + "/type")
	if err != nil {
		return layers.LinkTypeEthernet
	}
	arphrd, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	switch arphrd {
	case 65534, 519: // ARPHRD_NONE (tun), ARPHRD_RAWIP
		return layers.LinkTypeRaw
	}
	return layers.LinkTypeEthernet
}

// openAFPacket opens nic in the namespace at ns with a ring of ringMB
// blocks, attaches prog and empties the socket of every packet that
// arrived before prog did.
func openAFPacket(ns, nic string, ringMB int, prog *bpf.Program) (*afSource, error) {
	var h *afpacket.TPacket
	err := netns.Run(ns, func() error {
		ifi, err := net.InterfaceByName(nic)
		if err != nil {
			return fmt.Errorf("nic %s: %w", nic, errNICMissing)
		}
		if ifi.Flags&net.FlagUp == 0 {
			return fmt.Errorf("nic %s: %w", nic, errNICDown)
		}
		h, err = afpacket.NewTPacket(
			afpacket.OptInterface(nic),
			afpacket.TPacketVersion3,
			afpacket.OptFrameSize(afpacket.DefaultFrameSize),
			afpacket.OptBlockSize(ringBlockSize),
			afpacket.OptNumBlocks(ringMB),
			afpacket.OptBlockTimeout(blockTimeout),
			afpacket.OptPollTimeout(pollTimeout),
		)
		if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) {
			return fmt.Errorf("nic %s: %w", nic, ErrPermission)
		}
		if err != nil {
			if _, ierr := net.InterfaceByName(nic); ierr != nil {
				return fmt.Errorf("nic %s: %w", nic, errNICMissing)
			}
			return fmt.Errorf("nic %s: opening AF_PACKET socket: %w", nic, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}

	s := &afSource{h: h}
	if err := s.attach(nic, prog); err != nil {
		h.Close()
		return nil, err
	}
	return s, nil
}

// attach puts a keep-nothing program on the socket, reads off whatever the
// ring holds (packets that arrived unfiltered), then attaches prog and
// takes the kernel counters as the baseline.
func (s *afSource) attach(nic string, prog *bpf.Program) error {
	if err := s.h.SetBPF(bpf.RejectAll().Raw); err != nil {
		return fmt.Errorf("nic %s: attaching the drain filter: %w", nic, err)
	}
	for range maxDrain {
		_, _, err := s.h.ZeroCopyReadPacketData()
		if errors.Is(err, afpacket.ErrTimeout) {
			break
		}
		if err != nil {
			return fmt.Errorf("nic %s: draining the socket: %w", nic, err)
		}
	}
	if err := s.h.SetBPF(prog.Raw); err != nil {
		return fmt.Errorf("nic %s: attaching filter %q: %w", nic, prog.Expr, err)
	}
	_, v3, err := s.h.SocketStats()
	if err != nil {
		return fmt.Errorf("nic %s: reading socket statistics: %w", nic, err)
	}
	s.basePkts, s.baseDrop = uint64(v3.Packets()), uint64(v3.Drops())
	return nil
}

func (s *afSource) read() ([]byte, gopacket.CaptureInfo, error) {
	return s.h.ZeroCopyReadPacketData()
}

func (s *afSource) kernelStats() (uint64, uint64, error) {
	_, v3, err := s.h.SocketStats()
	if err != nil {
		return 0, 0, err
	}
	return uint64(v3.Packets()) - s.basePkts, uint64(v3.Drops()) - s.baseDrop, nil
}

func (s *afSource) close() { s.h.Close() }
