package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// maxLinkLayers bounds the number of link-level headers (VLAN tags, MPLS
// labels) walked before the network layer; a crafted packet cannot loop.
const maxLinkLayers = 16

// maxIPv6ExtHeaders bounds the IPv6 extension headers walked per packet.
const maxIPv6ExtHeaders = 8

// IP protocol numbers this program looks at.
const (
	protoICMP     = 1
	protoTCP      = 6
	protoUDP      = 17
	protoICMPv6   = 58
	protoHopByHop = 0
	protoRouting  = 43
	protoFragment = 44
	protoAH       = 51
	protoDestOpts = 60
)

// packetInfo is what one packet contributes to the summary.
type packetInfo struct {
	hasIP            bool // a network layer was decoded
	src, dst         netip.Addr
	ipProto          uint8
	hasPorts         bool
	srcPort, dstPort uint16
	syn, ack         bool // TCP flags

	fragment  bool // the packet is an IPv4 or IPv6 fragment
	fragFirst bool // ... and the one at offset 0, which carries the transport header
	frag      fragKey

	payload []byte // transport payload, when the transport header decoded

	err error // the first decode failure; nil when every decoded layer was well formed
}

// fragKey identifies the fragments of one IP datagram.
type fragKey struct {
	src, dst netip.Addr
	proto    uint8
	id       uint32
}

// decoder decodes link, network and transport headers with preallocated
// gopacket layers. It stops at the first IP header's transport layer:
// tunnels (GRE, IP-in-IP, VXLAN) are accounted to the outer flow.
type decoder struct {
	eth   layers.Ethernet
	dot1q layers.Dot1Q
	sll   layers.LinuxSLL
	sll2  layers.LinuxSLL2
	loop  layers.Loopback
	ip4   layers.IPv4
	ip6   layers.IPv6
	tcp   layers.TCP
	udp   layers.UDP
	icmp4 layers.ICMPv4
	icmp6 layers.ICMPv6
}

// errUnsupported marks a layer the decoder does not follow. It is not a decode error.
var errUnsupported = errors.New("unsupported layer")

// decode fills info from one packet read with link type link.
func (d *decoder) decode(link layers.LinkType, data []byte, info *packetInfo) {
	*info = packetInfo{}

	next, err := firstLayer(link, data)
	if errors.Is(err, errUnsupported) {
		return // a link type without a decoder here: counted, not decoded
	}
	if err != nil {
		info.err = err
		return
	}

	for range maxLinkLayers {
		var l gopacket.DecodingLayer
		switch next {
		case layers.LayerTypeEthernet:
			l = &d.eth
		case layers.LayerTypeDot1Q:
			l = &d.dot1q
		case layers.LayerTypeLinuxSLL:
			l = &d.sll
		case layers.LayerTypeLinuxSLL2:
			l = &d.sll2
		case layers.LayerTypeLoopback:
			l = &d.loop
		case layers.LayerTypeMPLS:
			next, data, err = decodeMPLS(data)
			if err != nil {
				info.err = err
				return
			}
			continue
		case layers.LayerTypeIPv4:
			d.decodeIPv4(data, info)
			return
		case layers.LayerTypeIPv6:
			d.decodeIPv6(data, info)
			return
		default:
			return // ARP, LLC, PPPoE, ...: not IP, nothing to account per flow
		}

		if err := l.DecodeFromBytes(data, gopacket.NilDecodeFeedback); err != nil {
			info.err = fmt.Errorf("%v: %w", l.CanDecode(), err)
			return
		}
		next, data = l.NextLayerType(), l.LayerPayload()
	}
}

// firstLayer names the layer a packet of the given link type starts with.
func firstLayer(link layers.LinkType, data []byte) (gopacket.LayerType, error) {
	switch link {
	case layers.LinkTypeEthernet:
		return layers.LayerTypeEthernet, nil
	case layers.LinkTypeLinuxSLL:
		return layers.LayerTypeLinuxSLL, nil
	case layers.LinkTypeLinuxSLL2:
		return layers.LayerTypeLinuxSLL2, nil
	case layers.LinkTypeNull, layers.LinkTypeLoop:
		return layers.LayerTypeLoopback, nil
	case layers.LinkTypeIPv4:
		return layers.LayerTypeIPv4, nil
	case layers.LinkTypeIPv6:
		return layers.LayerTypeIPv6, nil
	case layers.LinkTypeRaw, 12, 14:
		// Raw IP: 101 is the official value, 12 and 14 are used by some BSDs.
		if len(data) == 0 {
			return 0, errors.New("raw IP: empty packet")
		}
		switch data[0] >> 4 {
		case 4:
			return layers.LayerTypeIPv4, nil
		case 6:
			return layers.LayerTypeIPv6, nil
		}
		return 0, fmt.Errorf("raw IP: IP version %d", data[0]>>4)
	}
	return 0, fmt.Errorf("link type %d: %w", uint16(link), errUnsupported)
}

// decodeMPLS walks an MPLS label stack. After the bottom label it guesses
// IPv4 or IPv6 from the version nibble, as routers and gopacket do; any
// other payload (an Ethernet pseudowire) is not followed.
func decodeMPLS(data []byte) (gopacket.LayerType, []byte, error) {
	for range maxLinkLayers {
		if len(data) < 4 {
			return 0, nil, errors.New("MPLS: label stack entry truncated")
		}
		bottom := data[2]&0x01 != 0
		data = data[4:]
		if !bottom {
			continue
		}
		if len(data) == 0 {
			return 0, nil, errors.New("MPLS: no payload after the bottom label")
		}
		switch data[0] >> 4 {
		case 4:
			return layers.LayerTypeIPv4, data, nil
		case 6:
			return layers.LayerTypeIPv6, data, nil
		}
		return gopacket.LayerTypeZero, data, nil
	}
	return 0, nil, errors.New("MPLS: label stack too deep")
}

// decodeIPv4 decodes an IPv4 header and what follows it.
func (d *decoder) decodeIPv4(data []byte, info *packetInfo) {
	if err := d.ip4.DecodeFromBytes(data, gopacket.NilDecodeFeedback); err != nil {
		info.err = fmt.Errorf("IPv4: %w", err)
		return
	}

	ip := &d.ip4
	info.hasIP = true
	info.src, _ = netip.AddrFromSlice(ip.SrcIP)
	info.dst, _ = netip.AddrFromSlice(ip.DstIP)
	info.ipProto = uint8(ip.Protocol)

	if ip.Flags&layers.IPv4MoreFragments != 0 || ip.FragOffset != 0 {
		info.fragment = true
		info.fragFirst = ip.FragOffset == 0
		info.frag = fragKey{src: info.src, dst: info.dst, proto: info.ipProto, id: uint32(ip.Id)}
		if !info.fragFirst {
			return
		}
	}
	d.decodeTransport(ip.Payload, info)
}

// decodeIPv6 decodes an IPv6 header, its extension headers and what follows them.
func (d *decoder) decodeIPv6(data []byte, info *packetInfo) {
	if err := d.ip6.DecodeFromBytes(data, gopacket.NilDecodeFeedback); err != nil {
		info.err = fmt.Errorf("IPv6: %w", err)
		return
	}

	ip := &d.ip6
	info.hasIP = true
	info.src, _ = netip.AddrFromSlice(ip.SrcIP)
	info.dst, _ = netip.AddrFromSlice(ip.DstIP)

	// gopacket folds a Hop-by-Hop header into the IPv6 layer.
	proto := uint8(ip.NextHeader)
	if ip.HopByHop != nil {
		proto = uint8(ip.HopByHop.NextHeader)
	}
	payload := ip.Payload

	for range maxIPv6ExtHeaders {
		info.ipProto = proto
		switch proto {
		case protoHopByHop, protoRouting, protoDestOpts, protoAH:
			if len(payload) < 2 {
				info.err = fmt.Errorf("IPv6: extension header %d truncated", proto)
				return
			}
			n := (int(payload[1]) + 1) * 8
			if proto == protoAH {
				n = (int(payload[1]) + 2) * 4
			}
			if n > len(payload) {
				info.err = fmt.Errorf("IPv6: extension header %d truncated", proto)
				return
			}
			proto, payload = payload[0], payload[n:]
		case protoFragment:
			if len(payload) < 8 {
				info.err = errors.New("IPv6: fragment header truncated")
				return
			}
			offset := binary.BigEndian.Uint16(payload[2:4]) >> 3
			more := payload[3]&0x01 != 0
			id := binary.BigEndian.Uint32(payload[4:8])
			proto, payload = payload[0], payload[8:]
			if offset == 0 && !more {
				continue // an atomic fragment: a whole datagram
			}
			info.ipProto = proto
			info.fragment = true
			info.fragFirst = offset == 0
			info.frag = fragKey{src: info.src, dst: info.dst, proto: proto, id: id}
			if !info.fragFirst {
				return
			}
			d.decodeTransport(payload, info)
			return
		default:
			d.decodeTransport(payload, info)
			return
		}
	}
	info.err = errors.New("IPv6: too many extension headers")
}

// decodeTransport decodes the TCP, UDP or ICMP header in payload. When the
// header is malformed or cut short, the ports are still taken from its first
// four bytes where they are present, so the packet lands in the right flow.
func (d *decoder) decodeTransport(payload []byte, info *packetInfo) {
	var err error
	switch info.ipProto {
	case protoTCP:
		if err = d.tcp.DecodeFromBytes(payload, gopacket.NilDecodeFeedback); err == nil {
			info.hasPorts = true
			info.srcPort, info.dstPort = uint16(d.tcp.SrcPort), uint16(d.tcp.DstPort)
			info.syn, info.ack = d.tcp.SYN, d.tcp.ACK
			info.payload = d.tcp.Payload
			return
		}
		err = fmt.Errorf("TCP: %w", err)
	case protoUDP:
		if err = d.udp.DecodeFromBytes(payload, gopacket.NilDecodeFeedback); err == nil {
			info.hasPorts = true
			info.srcPort, info.dstPort = uint16(d.udp.SrcPort), uint16(d.udp.DstPort)
			info.payload = d.udp.Payload
			return
		}
		err = fmt.Errorf("UDP: %w", err)
	case protoICMP:
		if err = d.icmp4.DecodeFromBytes(payload, gopacket.NilDecodeFeedback); err == nil {
			return
		}
		err = fmt.Errorf("ICMPv4: %w", err)
	case protoICMPv6:
		if err = d.icmp6.DecodeFromBytes(payload, gopacket.NilDecodeFeedback); err == nil {
			return
		}
		err = fmt.Errorf("ICMPv6: %w", err)
	default:
		return
	}

	// A first fragment may hold only part of a transport header; that is
	// not a decode error, and the ports are read from the bytes present.
	if !info.fragment {
		info.err = err
	}
	if (info.ipProto == protoTCP || info.ipProto == protoUDP) && len(payload) >= 4 {
		info.hasPorts = true
		info.srcPort = binary.BigEndian.Uint16(payload[0:2])
		info.dstPort = binary.BigEndian.Uint16(payload[2:4])
	}
}
