package capture

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/ventapp/ventapp/internal/netns"
)

// NIC describes one network interface.
type NIC struct {
	Name      string   `json:"name"`
	Index     int      `json:"index"`
	Up        bool     `json:"up"`      // administratively up
	Running   bool     `json:"running"` // carrier present (operationally up)
	MTU       int      `json:"mtu"`
	MAC       string   `json:"mac,omitempty"`
	Addresses []string `json:"addresses"`
	Flags     string   `json:"flags"`
}

// State returns "up" when the interface is up and has carrier, else "down".
func (n NIC) State() string {
	if n.Up && n.Running {
		return "up"
	}
	return "down"
}

// listNICs lists the interfaces of the network namespace at ns ("" for
// the process's own).
func listNICs(ns string) ([]NIC, error) {
	var out []NIC
	err := netns.Run(ns, func() error {
		ifs, err := net.Interfaces()
		if err != nil {
			return fmt.Errorf("listing network interfaces: %w", err)
		}
		for _, ifi := range ifs {
			n := NIC{
				Name: ifi.Name, Index: ifi.Index, MTU: ifi.MTU, MAC: ifi.HardwareAddr.String(),
				Up: ifi.Flags&net.FlagUp != 0, Running: ifi.Flags&net.FlagRunning != 0,
				Flags: ifi.Flags.String(), Addresses: []string{},
			}
			addrs, err := ifi.Addrs()
			if err != nil {
				return fmt.Errorf("addresses of %s: %w", ifi.Name, err)
			}
			for _, a := range addrs {
				n.Addresses = append(n.Addresses, a.String())
			}
			out = append(out, n)
		}
		return nil
	})
	return out, err
}

// capNetRaw is CAP_NET_RAW's bit in the capability sets.
const capNetRaw = 13

// hasCapNetRaw reports whether the process's effective capabilities
// include CAP_NET_RAW, reading /proc/self/status.
func hasCapNetRaw() (bool, error) {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return false, fmt.Errorf("reading capabilities: %w", err)
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		hex, ok := strings.CutPrefix(line, "CapEff:")
		if !ok {
			continue
		}
		v, err := strconv.ParseUint(strings.TrimSpace(hex), 16, 64)
		if err != nil {
			return false, fmt.Errorf("reading capabilities: CapEff %q: %w", hex, err)
		}
		return v&(1<<capNetRaw) != 0, nil
	}
	return false, fmt.Errorf("reading capabilities: /proc/self/status has no CapEff line")
}
