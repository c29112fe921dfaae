package main

import (
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// options are the limits the command line can change.
type options struct {
	maxFlows int // flows tracked; packets of further new flows are only counted
	maxNames int // DNS questions and HTTP hosts tracked, each
}

// defaultOptions keep memory well under the plugin's 512 MiB limit.
var defaultOptions = options{maxFlows: 500_000, maxNames: 100_000}

// analyzer accumulates everything the summary reports.
type analyzer struct {
	dec   decoder
	info  packetInfo
	flows *flowTable
	dns   *dnsTable
	http  *httpTable

	packets, bytes, capBytes uint64
	fragments, nonIP         uint64
	decodeErrors             uint64
	firstDecodeError         string
	first, last              time.Time
}

func newAnalyzer(o options) *analyzer {
	return &analyzer{
		flows: newFlowTable(o.maxFlows),
		dns:   newDNSTable(o.maxNames),
		http:  newHTTPTable(o.maxNames),
	}
}

// add accounts one packet.
func (a *analyzer) add(data []byte, ci gopacket.CaptureInfo, link layers.LinkType) {
	a.packets++
	a.bytes += uint64(ci.Length)
	a.capBytes += uint64(len(data))
	if ts := ci.Timestamp; !ts.IsZero() {
		if a.first.IsZero() || ts.Before(a.first) {
			a.first = ts
		}
		if ts.After(a.last) {
			a.last = ts
		}
	}

	info := &a.info
	a.dec.decode(link, data, info)
	if info.err != nil {
		a.decodeErrors++
		if a.firstDecodeError == "" {
			a.firstDecodeError = fmt.Sprintf("packet %d: %v", a.packets, info.err)
		}
	}
	if info.fragment {
		a.fragments++
	}
	if !info.hasIP {
		if info.err == nil {
			a.nonIP++
		}
		return
	}

	a.flows.add(info, max(ci.Length, len(data)), ci.Timestamp)
	if len(info.payload) == 0 {
		return
	}

	switch info.ipProto {
	case protoUDP:
		if isDNSPort(info.srcPort) || isDNSPort(info.dstPort) {
			a.dns.add(info.payload)
		}
	case protoTCP:
		if isDNSPort(info.srcPort) || isDNSPort(info.dstPort) {
			a.dns.addTCP(info.payload)
		}
		a.http.add(info.payload, isHTTPPort(info.dstPort))
	}
}

// analyze reads the capture in r (named name in messages and output) and
// returns its report. When the file breaks off after some packets, the
// report covers them, is marked truncated, and the error is returned too.
// A file that cannot be opened as a capture returns a nil report.
func analyze(r io.Reader, name string, o options) (*report, error) {
	c, err := openCapture(r)
	if err != nil {
		return nil, err
	}

	a := newAnalyzer(o)
	for {
		data, ci, link, err := c.src.next()
		if err == io.EOF {
			return a.report(c, name, nil), nil
		}
		if err != nil {
			return a.report(c, name, err), err
		}
		a.add(data, ci, link)
	}
}

// report is the output of one run, in print order.
type report struct {
	flows   []flowLine
	dns     []dnsLine
	http    []httpLine
	summary summaryLine
}

type flowLine struct {
	Type      string `json:"type"`
	Proto     string `json:"proto"`
	IPProto   uint8  `json:"ip_proto"`
	SrcIP     string `json:"src_ip"`
	SrcPort   uint16 `json:"src_port"`
	DstIP     string `json:"dst_ip"`
	DstPort   uint16 `json:"dst_port"`
	Packets   uint64 `json:"packets"`
	Bytes     uint64 `json:"bytes"`
	FirstSeen string `json:"first_seen,omitempty"`
	LastSeen  string `json:"last_seen,omitempty"`
}

type dnsLine struct {
	Type      string   `json:"type"`
	Query     string   `json:"query"`
	QType     string   `json:"qtype"`
	Count     uint64   `json:"count"`
	Responses uint64   `json:"responses"`
	Answers   []string `json:"answers"`
}

type httpLine struct {
	Type    string            `json:"type"`
	Host    string            `json:"host"`
	Method  string            `json:"method"`
	Methods map[string]uint64 `json:"methods"`
	Count   uint64            `json:"count"`
	URIs    []string          `json:"uris"`
}

type summaryLine struct {
	Type             string   `json:"type"`
	File             string   `json:"file"`
	Format           string   `json:"format"`
	Version          string   `json:"version"`
	Resolution       string   `json:"ts_resolution,omitempty"`
	Compression      string   `json:"compression,omitempty"`
	LinkTypes        []string `json:"link_types"`
	Interfaces       int      `json:"interfaces"`
	Packets          uint64   `json:"packets"`
	Bytes            uint64   `json:"bytes"`
	CapturedBytes    uint64   `json:"captured_bytes"`
	Flows            int      `json:"flows"`
	FlowsDropped     uint64   `json:"flow_packets_dropped,omitempty"`
	DNSQuestions     int      `json:"dns_questions"`
	HTTPHosts        int      `json:"http_hosts"`
	Fragments        uint64   `json:"fragments"`
	NonIP            uint64   `json:"non_ip_packets"`
	FirstSeen        string   `json:"first_seen,omitempty"`
	LastSeen         string   `json:"last_seen,omitempty"`
	DecodeErrors     uint64   `json:"decode_errors"`
	FirstDecodeError string   `json:"first_decode_error,omitempty"`
	Truncated        bool     `json:"truncated"`
	Error            string   `json:"error,omitempty"`
}

// stamp formats a timestamp as RFC 3339 in UTC; unknown times are "".
func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// protoName names an IP protocol number the way the flow lines do.
func protoName(p uint8) string {
	switch p {
	case protoTCP:
		return "tcp"
	case protoUDP:
		return "udp"
	case protoICMP:
		return "icmp"
	case protoICMPv6:
		return "icmpv6"
	}
	return "other"
}

// report builds the output from what was gathered; readErr, when set, is why reading stopped.
func (a *analyzer) report(c *capture, name string, readErr error) *report {
	r := &report{}

	flows := a.flows.sorted()
	for _, f := range flows {
		r.flows = append(r.flows, flowLine{
			Type: "flow", Proto: protoName(f.proto), IPProto: f.proto,
			SrcIP: f.src.ip.String(), SrcPort: f.src.port,
			DstIP: f.dst.ip.String(), DstPort: f.dst.port,
			Packets: f.packets, Bytes: f.bytes,
			FirstSeen: stamp(f.first), LastSeen: stamp(f.last),
		})
	}
	for _, e := range a.dns.order {
		r.dns = append(r.dns, dnsLine{
			Type: "dns", Query: e.key.name, QType: e.key.qtype.String(),
			Count: e.queries, Responses: e.responses, Answers: nonNil(e.answers),
		})
	}
	for _, e := range a.http.order {
		r.http = append(r.http, httpLine{
			Type: "http", Host: e.host, Method: e.method, Methods: e.methods,
			Count: e.count, URIs: nonNil(e.uris),
		})
	}

	links := []string{}
	for _, lt := range c.src.linkTypes() {
		links = append(links, lt.String())
	}
	r.summary = summaryLine{
		Type: "summary", File: name, Format: c.format, Version: c.version,
		Resolution: c.resolution, Compression: c.compression,
		LinkTypes: links, Interfaces: c.src.interfaces(),
		Packets: a.packets, Bytes: a.bytes, CapturedBytes: a.capBytes,
		Flows: len(flows), FlowsDropped: a.flows.dropped,
		DNSQuestions: len(a.dns.order), HTTPHosts: len(a.http.order),
		Fragments: a.fragments, NonIP: a.nonIP,
		FirstSeen: stamp(a.first), LastSeen: stamp(a.last),
		DecodeErrors: a.decodeErrors, FirstDecodeError: a.firstDecodeError,
		Truncated: readErr != nil,
	}
	if readErr != nil {
		r.summary.Error = readErr.Error()
	}
	return r
}

// nonNil turns a nil slice into an empty one so it prints as [].
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// write prints the report as JSON lines: flows, DNS questions, HTTP hosts, then the summary.
func (r *report) write(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)

	for i := range r.flows {
		if err := enc.Encode(&r.flows[i]); err != nil {
			return err
		}
	}
	for i := range r.dns {
		if err := enc.Encode(&r.dns[i]); err != nil {
			return err
		}
	}
	for i := range r.http {
		if err := enc.Encode(&r.http[i]); err != nil {
			return err
		}
	}
	return enc.Encode(&r.summary)
}
