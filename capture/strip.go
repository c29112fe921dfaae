package capture

import (
	"encoding/binary"

	"github.com/gopacket/gopacket/layers"
)

// headerLen returns how many leading bytes of a captured packet are
// headers worth keeping when payloads are stripped: the link header, any
// VLAN tags, the IPv4 or IPv6 header with its extension headers, and the
// TCP header with its options or the 8-byte UDP header. The TCP or UDP
// payload after them is what stripping drops, as tcpdump's
// --no-tcpudp-payload did for vent.
//
// A packet that is not TCP or UDP over IP (ARP, ICMP, ...), a non-first IP
// fragment's payload aside, is kept whole; so is a packet whose headers
// are cut short by the snap length (nothing beyond them was captured). The
// result never exceeds len(data). Link types other than Ethernet, raw IP,
// Linux cooked (v1 and v2) and BSD loopback are kept whole.
func headerLen(link layers.LinkType, data []byte) int {
	var off int
	var etherType uint16
	switch link {
	case layers.LinkTypeEthernet:
		if len(data) < 14 {
			return len(data)
		}
		etherType, off = binary.BigEndian.Uint16(data[12:14]), 14
	case layers.LinkTypeLinuxSLL:
		if len(data) < 16 {
			return len(data)
		}
		etherType, off = binary.BigEndian.Uint16(data[14:16]), 16
	case layers.LinkTypeLinuxSLL2:
		if len(data) < 20 {
			return len(data)
		}
		etherType, off = binary.BigEndian.Uint16(data[0:2]), 20
	case layers.LinkTypeNull, layers.LinkTypeLoop:
		if len(data) < 4 {
			return len(data)
		}
		return ipHeaderLen(data, 4)
	case layers.LinkTypeRaw, layers.LinkTypeIPv4, layers.LinkTypeIPv6, 12: // 12: DLT_RAW on OpenBSD
		return ipHeaderLen(data, 0)
	default:
		return len(data)
	}

	// 802.1Q and 802.1ad tags, stacked.
	for etherType == 0x8100 || etherType == 0x88a8 || etherType == 0x9100 {
		if len(data) < off+4 {
			return len(data)
		}
		etherType = binary.BigEndian.Uint16(data[off+2 : off+4])
		off += 4
	}
	if etherType != 0x0800 && etherType != 0x86dd {
		return len(data)
	}
	return ipHeaderLen(data, off)
}

// ipHeaderLen returns the length to keep for an IP packet at data[off:].
func ipHeaderLen(data []byte, off int) int {
	if len(data) <= off {
		return len(data)
	}
	var proto byte
	switch data[off] >> 4 {
	case 4:
		if len(data) < off+20 {
			return len(data)
		}
		ihl := int(data[off]&0x0f) * 4
		if ihl < 20 {
			return len(data)
		}
		proto = data[off+9]
		fragOff := binary.BigEndian.Uint16(data[off+6:off+8]) & 0x1fff
		off += ihl
		if fragOff != 0 {
			return min(off, len(data)) // a later fragment carries payload only
		}
	case 6:
		if len(data) < off+40 {
			return len(data)
		}
		proto = data[off+6]
		off += 40
		for {
			switch proto {
			case 0, 43, 60: // hop-by-hop, routing, destination options
				if len(data) < off+2 {
					return len(data)
				}
				proto = data[off]
				off += (int(data[off+1]) + 1) * 8
				continue
			case 44: // fragment
				if len(data) < off+8 {
					return len(data)
				}
				proto = data[off]
				later := binary.BigEndian.Uint16(data[off+2:off+4])&0xfff8 != 0
				off += 8
				if later {
					return min(off, len(data))
				}
				continue
			}
			break
		}
	default:
		return len(data)
	}
	return transportHeaderLen(data, off, proto)
}

// transportHeaderLen returns the length to keep when a transport header of
// protocol proto starts at data[off:].
func transportHeaderLen(data []byte, off int, proto byte) int {
	switch proto {
	case 6: // TCP
		if len(data) < off+13 {
			return len(data)
		}
		doff := int(data[off+12]>>4) * 4
		if doff < 20 {
			doff = 20
		}
		return min(off+doff, len(data))
	case 17, 136: // UDP, UDP-Lite
		return min(off+8, len(data))
	}
	return len(data)
}
