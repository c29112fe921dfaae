package main

import (
	"bytes"
	"encoding/binary"
	"strconv"
	"strings"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// Caps that keep each output line small whatever the capture holds.
const (
	maxAnswers   = 16  // distinct answers kept per DNS question
	maxAnswerLen = 256 // bytes of one answer string
	maxURIs      = 5   // distinct URIs kept per HTTP host
	maxURILen    = 512 // bytes of one URI
	maxHostLen   = 255 // bytes of a Host header value
	maxHTTPHead  = 8192
)

// dnsKey identifies a DNS question.
type dnsKey struct {
	name  string
	qtype layers.DNSType
}

// dnsEntry accumulates the messages that carried one question.
type dnsEntry struct {
	key       dnsKey
	queries   uint64
	responses uint64
	answers   []string
	seen      map[string]struct{}
}

// dnsTable collects DNS questions and answers.
type dnsTable struct {
	max     int
	byKey   map[dnsKey]*dnsEntry
	order   []*dnsEntry
	dropped uint64
	msg     layers.DNS
}

func newDNSTable(max int) *dnsTable {
	return &dnsTable{max: max, byKey: make(map[dnsKey]*dnsEntry)}
}

// isDNSPort reports whether a UDP or TCP port carries DNS (53) or mDNS (5353).
func isDNSPort(p uint16) bool { return p == 53 || p == 5353 }

// addTCP reads DNS messages from one TCP segment. Each message has a 2-byte
// length prefix; a message split across segments is not reassembled.
func (t *dnsTable) addTCP(seg []byte) {
	for len(seg) >= 2 {
		n := int(binary.BigEndian.Uint16(seg))
		if n == 0 || len(seg) < 2+n {
			return
		}
		t.add(seg[2 : 2+n])
		seg = seg[2+n:]
	}
}

// add records one DNS message. Messages that do not decode are ignored:
// they may be a later segment of a split message or not DNS at all.
func (t *dnsTable) add(payload []byte) {
	m := &t.msg
	if err := m.DecodeFromBytes(payload, gopacket.NilDecodeFeedback); err != nil || len(m.Questions) == 0 {
		return
	}

	q := m.Questions[0]
	key := dnsKey{name: normalizeName(q.Name), qtype: q.Type}
	e := t.byKey[key]
	if e == nil {
		if len(t.order) >= t.max {
			t.dropped++
			return
		}
		e = &dnsEntry{key: key, seen: make(map[string]struct{})}
		t.byKey[key] = e
		t.order = append(t.order, e)
	}

	if !m.QR {
		e.queries++
		return
	}
	e.responses++
	for i := range m.Answers {
		if len(e.answers) >= maxAnswers {
			break
		}
		a := formatAnswer(&m.Answers[i])
		if _, dup := e.seen[a]; dup {
			continue
		}
		e.seen[a] = struct{}{}
		e.answers = append(e.answers, a)
	}
}

// normalizeName lower-cases a DNS name; the root name is ".".
func normalizeName(b []byte) string {
	if len(b) == 0 {
		return "."
	}
	return strings.ToLower(string(b))
}

// formatAnswer renders a resource record as "TYPE data", like dig +short with the type.
func formatAnswer(rr *layers.DNSResourceRecord) string {
	var data string
	switch rr.Type {
	case layers.DNSTypeA, layers.DNSTypeAAAA:
		data = rr.IP.String()
	case layers.DNSTypeCNAME:
		data = string(rr.CNAME)
	case layers.DNSTypeNS:
		data = string(rr.NS)
	case layers.DNSTypePTR:
		data = string(rr.PTR)
	case layers.DNSTypeMX:
		data = strconv.Itoa(int(rr.MX.Preference)) + " " + string(rr.MX.Name)
	case layers.DNSTypeSRV:
		data = strconv.Itoa(int(rr.SRV.Priority)) + " " + strconv.Itoa(int(rr.SRV.Weight)) + " " +
			strconv.Itoa(int(rr.SRV.Port)) + " " + string(rr.SRV.Name)
	case layers.DNSTypeTXT:
		parts := make([]string, len(rr.TXTs))
		for i, txt := range rr.TXTs {
			parts[i] = strconv.Quote(string(txt))
		}
		data = strings.Join(parts, " ")
	case layers.DNSTypeSOA:
		data = string(rr.SOA.MName) + " " + string(rr.SOA.RName)
	default:
		data = strconv.Itoa(len(rr.Data)) + " bytes"
	}
	s := rr.Type.String() + " " + data
	if len(s) > maxAnswerLen {
		s = s[:maxAnswerLen]
	}
	return s
}

// httpEntry accumulates the requests sent with one Host header.
type httpEntry struct {
	host    string
	method  string // the method of the first request
	methods map[string]uint64
	count   uint64
	uris    []string
}

// httpTable collects HTTP requests by Host header.
type httpTable struct {
	max     int
	byHost  map[string]*httpEntry
	order   []*httpEntry
	dropped uint64
}

func newHTTPTable(max int) *httpTable {
	return &httpTable{max: max, byHost: make(map[string]*httpEntry)}
}

// httpMethods are the request methods recognised on any port.
var httpMethods = map[string]bool{
	"GET": true, "POST": true, "HEAD": true, "PUT": true, "DELETE": true, "OPTIONS": true,
	"PATCH": true, "CONNECT": true, "TRACE": true,
}

// isHTTPPort reports whether a TCP port is one where any method token is accepted.
func isHTTPPort(p uint16) bool { return p == 80 || p == 8080 }

// add records the HTTP request that payload starts with, if it starts with one.
// anyMethod accepts any upper-case method token (for the HTTP ports); otherwise
// only the methods of RFC 9110 and PATCH are recognised.
func (t *httpTable) add(payload []byte, anyMethod bool) {
	method, uri, host, ok := parseHTTPRequest(payload, anyMethod)
	if !ok {
		return
	}

	e := t.byHost[host]
	if e == nil {
		if len(t.order) >= t.max {
			t.dropped++
			return
		}
		e = &httpEntry{host: host, method: method, methods: make(map[string]uint64)}
		t.byHost[host] = e
		t.order = append(t.order, e)
	}

	e.count++
	e.methods[method]++
	if len(e.uris) < maxURIs {
		for _, u := range e.uris {
			if u == uri {
				return
			}
		}
		e.uris = append(e.uris, uri)
	}
}

// parseHTTPRequest reads the request line and the Host header at the start
// of p. A request whose header block continues in a later segment yields the
// Host only if it is in this one; host is "" when none was found.
func parseHTTPRequest(p []byte, anyMethod bool) (method, uri, host string, ok bool) {
	if len(p) > maxHTTPHead {
		p = p[:maxHTTPHead]
	}
	line, rest, found := bytes.Cut(p, []byte("\n"))
	if !found {
		return "", "", "", false
	}
	line = bytes.TrimSuffix(line, []byte("\r"))

	parts := bytes.Split(line, []byte(" "))
	if len(parts) != 3 || !bytes.HasPrefix(parts[2], []byte("HTTP/")) || len(parts[1]) == 0 {
		return "", "", "", false
	}
	method = string(parts[0])
	if !validMethod(method, anyMethod) {
		return "", "", "", false
	}
	uri = string(parts[1])
	if len(uri) > maxURILen {
		uri = uri[:maxURILen]
	}

	for len(rest) > 0 {
		line, rest, _ = bytes.Cut(rest, []byte("\n"))
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 {
			break
		}
		name, value, found := bytes.Cut(line, []byte(":"))
		if found && bytes.EqualFold(bytes.TrimSpace(name), []byte("host")) {
			host = strings.ToLower(string(bytes.TrimSpace(value)))
			if len(host) > maxHostLen {
				host = host[:maxHostLen]
			}
			break
		}
	}
	return method, uri, host, true
}

// validMethod reports whether m is an acceptable request method token.
func validMethod(m string, anyMethod bool) bool {
	if httpMethods[m] {
		return true
	}
	if !anyMethod || len(m) == 0 || len(m) > 20 {
		return false
	}
	for _, c := range []byte(m) {
		if (c < 'A' || c > 'Z') && c != '-' && c != '_' {
			return false
		}
	}
	return true
}
