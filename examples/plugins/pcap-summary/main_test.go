package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// captureDir holds the shared test captures, relative to this package
// (examples/plugins/pcap-summary, three levels below the repository root).
var captureDir = filepath.Join("..", "..", "..", "..", "shared", "testdata", "pcaps")

// TestMain lets the subprocess test run the real main function: the test
// binary re-executes itself with PCAP_SUMMARY_MAIN=1.
func TestMain(m *testing.M) {
	if os.Getenv("PCAP_SUMMARY_MAIN") == "1" {
		os.Args = append([]string{"pcap-summary"}, os.Args[1:]...)
		main()
		return
	}
	os.Exit(m.Run())
}

// capturePath returns the path of a shared capture, skipping the test when
// the shared captures are not checked out next to the repository.
func capturePath(t testing.TB, name string) string {
	t.Helper()
	if _, err := os.Stat(captureDir); err != nil {
		t.Skipf("shared captures not found at %s: %v", captureDir, err)
	}
	return filepath.Join(captureDir, name)
}

// analyzePath runs analyze over a file on disk.
func analyzePath(t testing.TB, path string) (*report, error) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	defer f.Close()
	return analyze(f, path, defaultOptions)
}

// TestAnalyzeValidCaptures reads every valid shared capture: the packet
// count must equal the "records" column of SOURCES.md.
func TestAnalyzeValidCaptures(t *testing.T) {
	tests := []struct {
		file    string
		format  string
		links   []string
		packets uint64
		flows   int
		nonIP   uint64
		frags   uint64
		first   string // first_seen, where it checks timestamp handling
	}{
		{"http-get.pcap", "pcap", []string{"Ethernet"}, 14, 1, 0, 0, "2013-03-07T21:42:06.869344Z"},
		{"http-bro-org.pcap", "pcap", []string{"Ethernet"}, 751, 13, 0, 0, ""},
		{"dns-udp.pcap", "pcap", []string{"Ethernet"}, 2, 1, 0, 0, ""},
		{"dns-tcp.pcap", "pcap", []string{"Ethernet"}, 11, 1, 0, 0, ""},
		{"tls12.pcap", "pcap", []string{"Ethernet"}, 22, 1, 0, 0, ""},
		{"icmp-pings.pcap", "pcap", []string{"Ethernet"}, 10, 1, 0, 0, ""},
		{"ipv6-tcp-smtp.pcap", "pcap", []string{"Ethernet"}, 17, 1, 0, 0, ""},
		{"http-vlan0.pcap", "pcap", []string{"Ethernet"}, 14, 1, 0, 0, "2013-03-07T21:42:06.869344Z"},
		{"mpls-vlan-mixed.pcap", "pcap", []string{"Ethernet"}, 47, 3, 0, 0, ""},
		{"ipv4-fragments.pcap", "pcap", []string{"Ethernet"}, 3, 1, 0, 3, ""},
		// One orphan last fragment (id 1) has no first fragment: a portless flow.
		{"ipv6-fragments-dns.pcap", "pcap", []string{"Ethernet"}, 8, 3, 0, 4, ""},
		{"pcapng-two-interfaces.pcapng", "pcapng", []string{"Ethernet"}, 6, 3, 0, 0,
			"2026-01-06T01:31:29.500330493Z"},
		{"http-nanosecond.pcap", "pcap", []string{"Ethernet"}, 9, 1, 0, 0, "2026-02-03T13:47:05.73256Z"},
		{"pptp-bigendian.pcap", "pcap", []string{"Ethernet"}, 23, 2, 0, 0, "2000-03-27T08:56:35.148077Z"},
		{"pcapng-bigendian-nrb.pcapng", "pcapng", []string{"Ethernet"}, 4, 2, 0, 0,
			"2012-06-29T07:28:25.298858Z"},
		{"smb2-snaplen-524288.pcap", "pcap", []string{"Ethernet"}, 2, 1, 0, 0, ""},
		// Two of the six frames are ARP and RARP.
		{"sll2-icmp.pcap", "pcap", []string{"Linux SLL2"}, 6, 2, 2, 0, "2022-08-15T03:30:49.872259Z"},
		{"rawip-rotation.pcap", "pcap", []string{"Raw"}, 20, 20, 0, 0, "2011-03-07T03:00:05Z"},
		{"pcapng-tls-dsb.pcapng", "pcapng", []string{"Ethernet"}, 276, 1, 0, 0, ""},
		{"empty.pcap", "pcap", []string{"Ethernet"}, 0, 0, 0, 0, ""},
	}

	listed := map[string]bool{}
	for _, tt := range tests {
		listed[tt.file] = true
		t.Run(tt.file, func(t *testing.T) {
			rep, err := analyzePath(t, capturePath(t, tt.file))
			if err != nil {
				t.Fatalf("analyze: %v", err)
			}
			s := rep.summary

			if s.Packets != tt.packets {
				t.Errorf("packets = %d, want %d", s.Packets, tt.packets)
			}
			if s.Format != tt.format {
				t.Errorf("format = %q, want %q", s.Format, tt.format)
			}
			if !slices.Equal(s.LinkTypes, tt.links) {
				t.Errorf("link types = %q, want %q", s.LinkTypes, tt.links)
			}
			if s.Flows != tt.flows || len(rep.flows) != tt.flows {
				t.Errorf("flows = %d (%d lines), want %d", s.Flows, len(rep.flows), tt.flows)
			}
			if s.NonIP != tt.nonIP {
				t.Errorf("non-IP packets = %d, want %d", s.NonIP, tt.nonIP)
			}
			if s.Fragments != tt.frags {
				t.Errorf("fragments = %d, want %d", s.Fragments, tt.frags)
			}
			if s.DecodeErrors != 0 || s.Truncated || s.Error != "" {
				t.Errorf("decode errors %d (%q), truncated %v, error %q; want a clean read",
					s.DecodeErrors, s.FirstDecodeError, s.Truncated, s.Error)
			}
			if tt.first != "" && s.FirstSeen != tt.first {
				t.Errorf("first_seen = %s, want %s", s.FirstSeen, tt.first)
			}

			// Every IP packet lands in exactly one flow.
			var inFlows uint64
			for _, f := range rep.flows {
				inFlows += f.Packets
			}
			if want := s.Packets - s.NonIP; inFlows != want {
				t.Errorf("packets in flows = %d, want %d", inFlows, want)
			}
		})
	}

	// A capture added to the shared folder must be added to a table here.
	entries, err := os.ReadDir(capturePath(t, "."))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if ext := filepath.Ext(e.Name()); (ext == ".pcap" || ext == ".pcapng") && !listed[e.Name()] {
			t.Errorf("capture %s is not in this test's table", e.Name())
		}
	}
}

// TestAnalyzeMalformedCaptures checks each file under malformed/ against the
// behaviour SOURCES.md expects: a named error and no report for a bad file
// header; the packets before a bad record plus an error; decode errors
// counted, and a clean read, for a bad packet in a sound file.
func TestAnalyzeMalformedCaptures(t *testing.T) {
	tests := []struct {
		file       string
		kind       error  // nil: the file reads without error
		msg        string // substring of the error
		packets    uint64
		decodeErrs uint64
	}{
		{"pcap-version-1.4.pcap", ErrUnsupported, "unsupported pcap version 1.4", 0, 0},
		{"pcapng-shb-option-too-long.pcapng", ErrCorrupt,
			"total length 52 in the header but 808464432 in the trailer", 0, 0},
		{"fuzz-huge-caplen.pcap", ErrCorrupt,
			"record 2: capture length exceeds snap length: 1409179648", 1, 1},
		{"corrupt-record-truncated.pcap", ErrCorrupt,
			"record 7: capture length exceeds snap length: 4325376", 6, 0},
		{"ether-trunc-snaplen1.pcap", nil, "", 1, 1},
		{"ipv4-bad-ihl.pcap", nil, "", 1, 1},
	}

	listed := map[string]bool{}
	for _, tt := range tests {
		listed[tt.file] = true
		t.Run(tt.file, func(t *testing.T) {
			rep, err := analyzePath(t, capturePath(t, filepath.Join("malformed", tt.file)))

			if tt.kind == nil {
				if err != nil {
					t.Fatalf("analyze: %v, want a clean read", err)
				}
			} else {
				if !errors.Is(err, tt.kind) || !strings.Contains(err.Error(), tt.msg) {
					t.Fatalf("error = %v, want %v containing %q", err, tt.kind, tt.msg)
				}
			}

			if tt.packets == 0 && tt.kind != nil {
				if rep != nil {
					t.Errorf("a file rejected at its header gave a report: %+v", rep.summary)
				}
				return
			}
			if rep == nil {
				t.Fatal("no report for the packets read before the error")
			}
			s := rep.summary
			if s.Packets != tt.packets {
				t.Errorf("packets = %d, want %d", s.Packets, tt.packets)
			}
			if s.DecodeErrors != tt.decodeErrs {
				t.Errorf("decode errors = %d (%q), want %d",
					s.DecodeErrors, s.FirstDecodeError, tt.decodeErrs)
			}
			if s.Truncated != (tt.kind != nil) {
				t.Errorf("truncated = %v, want %v", s.Truncated, tt.kind != nil)
			}
			if tt.kind != nil && s.Error != err.Error() {
				t.Errorf("summary error = %q, want %q", s.Error, err.Error())
			}
		})
	}

	entries, err := os.ReadDir(capturePath(t, "malformed"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !listed[e.Name()] {
			t.Errorf("malformed capture %s is not in this test's table", e.Name())
		}
	}
}

// TestAnalyzeApplicationLayers checks the DNS and HTTP lines against what the
// captures hold (read from the packets with a hex dump, not from this program).
func TestAnalyzeApplicationLayers(t *testing.T) {
	tcpdumpOrg := dnsLine{Type: "dns", Query: "www.tcpdump.org", QType: "A", Count: 1, Responses: 1,
		Answers: []string{"A 192.139.46.66", "A 198.199.88.104"}}
	broOrg := httpLine{Type: "http", Host: "bro.org", Method: "GET", Methods: map[string]uint64{"GET": 1},
		Count: 1, URIs: []string{"/download/CHANGES.bro-aux.txt"}}

	tests := []struct {
		file string
		dns  []dnsLine
		http []httpLine
	}{
		{file: "dns-udp.pcap", dns: []dnsLine{tcpdumpOrg}},
		{file: "dns-tcp.pcap", dns: []dnsLine{tcpdumpOrg}},
		{file: "pcapng-two-interfaces.pcapng", dns: []dnsLine{
			{Type: "dns", Query: "www.apple.com", QType: "A", Count: 1, Responses: 1, Answers: []string{
				"CNAME www-apple-com.v.aaplimg.com", "CNAME www.apple.com.edgekey.net",
				"CNAME e6858.dsce9.akamaiedge.net", "A 23.194.101.24"}},
			{Type: "dns", Query: "google.com", QType: "A", Count: 1, Responses: 1, Answers: []string{
				"A 142.251.181.138", "A 142.251.181.139", "A 142.251.181.113",
				"A 142.251.181.100", "A 142.251.181.101", "A 142.251.181.102"}},
			{Type: "dns", Query: "google.com", QType: "AAAA", Count: 1, Responses: 1, Answers: []string{
				"AAAA 2607:f8b0:4023:2007::66", "AAAA 2607:f8b0:4023:2007::8b",
				"AAAA 2607:f8b0:4023:2007::71", "AAAA 2607:f8b0:4023:2007::8a"}},
		}},
		{file: "http-get.pcap", http: []httpLine{broOrg}},
		{file: "http-vlan0.pcap", http: []httpLine{broOrg}},
		// An HTTP request sent to port 22: found by its method, not its port.
		{file: "http-nanosecond.pcap", http: []httpLine{{Type: "http", Host: "128.3.50.246", Method: "GET",
			Methods: map[string]uint64{"GET": 1}, Count: 1, URIs: []string{"/"}}}},
		{file: "mpls-vlan-mixed.pcap", http: []httpLine{{Type: "http", Host: "www.icir.org", Method: "GET",
			Methods: map[string]uint64{"GET": 1}, Count: 1, URIs: []string{"/"}}}},
	}

	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			rep, err := analyzePath(t, capturePath(t, tt.file))
			if err != nil {
				t.Fatalf("analyze: %v", err)
			}
			if got, want := jsonOf(t, rep.dns), jsonOf(t, tt.dns); got != want {
				t.Errorf("dns lines:\n got %s\nwant %s", got, want)
			}
			if got, want := jsonOf(t, rep.http), jsonOf(t, tt.http); got != want {
				t.Errorf("http lines:\n got %s\nwant %s", got, want)
			}
		})
	}
}

// TestAnalyzeBroOrgHTTP checks the bulk HTTP capture: 31 requests in all
// (counted with grep -c 'GET ' over the file), to two Host names.
func TestAnalyzeBroOrgHTTP(t *testing.T) {
	rep, err := analyzePath(t, capturePath(t, "http-bro-org.pcap"))
	if err != nil {
		t.Fatal(err)
	}

	var total uint64
	hosts := []string{}
	for _, h := range rep.http {
		total += h.Count
		hosts = append(hosts, h.Host)
		if len(h.URIs) > maxURIs {
			t.Errorf("host %s keeps %d URIs, cap is %d", h.Host, len(h.URIs), maxURIs)
		}
	}
	if total != 31 || !slices.Equal(hosts, []string{"bro.org", "www.bro.org"}) {
		t.Errorf("requests = %d to %q, want 31 to [bro.org www.bro.org]", total, hosts)
	}
}

// TestFlowDirection checks 5-tuples, initiators and the outer-flow rule.
func TestFlowDirection(t *testing.T) {
	tests := []struct {
		file string
		want []string // proto src:port>dst:port/packets, in output order
	}{
		{"http-get.pcap", []string{"tcp 141.142.228.5:59856>192.150.187.43:80/14"}},
		{"http-vlan0.pcap", []string{"tcp 141.142.228.5:59856>192.150.187.43:80/14"}},
		{"ipv4-fragments.pcap", []string{"udp 164.1.123.163:123>164.1.123.61:137/3"}},
		// GRE (PPTP data) is accounted as the outer IP flow, protocol 47.
		{"pptp-bigendian.pcap", []string{
			"tcp 10.1.1.11:3025>10.1.1.10:1723/22", "other 10.1.1.11:0>10.1.1.10:0/1"}},
		{"sll2-icmp.pcap", []string{
			"icmp 192.0.2.1:0>192.0.2.1:0/2",
			"icmpv6 fe80::8c36:6ff:fe44:acaf:0>fe80::8c36:6ff:fe44:acaf:0/2"}},
		{"mpls-vlan-mixed.pcap", []string{
			"tcp 10.1.2.1:11001>10.34.0.1:23/11",
			"tcp 141.42.64.125:56730>125.190.109.199:80/22",
			"tcp 10.20.80.1:50343>10.0.0.15:80/14"}},
	}

	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			rep, err := analyzePath(t, capturePath(t, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			got := []string{}
			for _, f := range rep.flows {
				got = append(got, f.Proto+" "+f.SrcIP+":"+itoa(f.SrcPort)+">"+f.DstIP+":"+itoa(f.DstPort)+
					"/"+itoa(f.Packets))
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("flows:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

// TestCraftedFiles covers format cases the shared captures lack, built by
// editing http-get.pcap in memory.
func TestCraftedFiles(t *testing.T) {
	orig, err := os.ReadFile(capturePath(t, "http-get.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	secondRecord := 24 + 16 + int(le.Uint32(orig[24+8:]))
	edit := func(f func(b []byte) []byte) []byte { return f(slices.Clone(orig)) }

	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(orig)
	zw.Close()

	tests := []struct {
		name    string
		data    []byte
		kind    error // nil: reads cleanly
		msg     string
		packets uint64
	}{
		{"version 2.2 read as 2.4", edit(func(b []byte) []byte { le.PutUint16(b[6:], 2); return b }),
			nil, "", 14},
		{"version 2.5", edit(func(b []byte) []byte { le.PutUint16(b[6:], 5); return b }),
			ErrUnsupported, "unsupported pcap version 2.5", 0},
		{"gzip-compressed", gz.Bytes(), nil, "", 14},
		{"empty file", nil, ErrNotCapture, "the file is empty", 0},
		{"three bytes", orig[:3], ErrNotCapture, "only 3 bytes", 0},
		{"text file", []byte("hello, this is not a capture\n"), ErrNotCapture, "magic 0x6c6c6568", 0},
		{"header cut", orig[:20], ErrCorrupt, "pcap file header truncated: 20 of 24 bytes", 0},
		{"second record header cut", orig[:secondRecord+10], ErrCorrupt,
			"record 2: file ends in the middle", 1},
		{"second record data cut", orig[:secondRecord+16+3], ErrCorrupt,
			"record 2: file ends in the middle", 1},
		{"first record header cut", orig[:24+7], ErrCorrupt, "record 1: file ends in the middle", 0},
		{"record header only", orig[:24+16], ErrCorrupt, "record 1: file ends in the middle", 0},
		{"absurd snaplen and caplen", edit(func(b []byte) []byte {
			le.PutUint32(b[16:], 0xffffffff)
			le.PutUint32(b[24+8:], 0x7fffffff)
			le.PutUint32(b[24+12:], 0x7fffffff)
			return b
		}), ErrCorrupt, "record 1: capture length exceeds snap length: 2147483647", 0},
		{"caplen above wire length", edit(func(b []byte) []byte { le.PutUint32(b[24+12:], 10); return b }),
			ErrCorrupt, "record 1: capture length exceeds original packet length", 0},
		{"unknown link type", edit(func(b []byte) []byte { le.PutUint32(b[20:], 147); return b }),
			nil, "", 14},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep, err := analyze(bytes.NewReader(tt.data), "crafted", defaultOptions)
			if tt.kind == nil && err != nil {
				t.Fatalf("analyze: %v", err)
			}
			if tt.kind != nil && (!errors.Is(err, tt.kind) || !strings.Contains(err.Error(), tt.msg)) {
				t.Fatalf("error = %v, want %v containing %q", err, tt.kind, tt.msg)
			}
			var packets uint64
			if rep != nil {
				packets = rep.summary.Packets
			}
			if packets != tt.packets {
				t.Errorf("packets = %d, want %d", packets, tt.packets)
			}
		})
	}
}

// TestPcapngSectionHeaderChecks covers the first-block framing checks.
func TestPcapngSectionHeaderChecks(t *testing.T) {
	orig, err := os.ReadFile(capturePath(t, "pcapng-two-interfaces.pcapng"))
	if err != nil {
		t.Fatal(err)
	}
	total := int(binary.LittleEndian.Uint32(orig[4:8]))

	tests := []struct {
		name string
		edit func(b []byte) []byte
		msg  string
	}{
		{"bad byte order", func(b []byte) []byte { b[8] = 0; return b }, "bad byte-order magic"},
		{"length not a multiple of 4", func(b []byte) []byte { b[4]++; return b }, "bad total length"},
		{"trailer differs", func(b []byte) []byte { b[total-4]++; return b }, "in the trailer"},
		{"cut inside the block", func(b []byte) []byte { return b[:total-8] }, "file ends inside the block"},
		{"option runs past", func(b []byte) []byte {
			binary.LittleEndian.PutUint16(b[26:], 0xfff0)
			return b
		}, "option 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep, err := analyze(bytes.NewReader(tt.edit(slices.Clone(orig))), "crafted", defaultOptions)
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), tt.msg) || rep != nil {
				t.Fatalf("error = %v (report %v), want ErrCorrupt containing %q", err, rep != nil, tt.msg)
			}
		})
	}
}

// TestRun drives the command in process: arguments, exit codes, output.
func TestRun(t *testing.T) {
	dir := t.TempDir()
	spaced := filepath.Join(dir, "my capture file.pcap")
	data, err := os.ReadFile(capturePath(t, "dns-udp.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(spaced, data, 0o644); err != nil {
		t.Fatal(err)
	}
	malformed := capturePath(t, filepath.Join("malformed", "fuzz-huge-caplen.pcap"))

	tests := []struct {
		name      string
		args      []string
		code      int
		stdout    []string // substrings, in order
		stderr    string
		summaries int
	}{
		{"path with spaces", []string{spaced}, exitOK,
			[]string{`"type":"flow"`, `"query":"www.tcpdump.org"`, `"file":"` + spaced + `"`}, "", 1},
		{"flags before the file", []string{"-max-flows", "0", spaced}, exitOK,
			[]string{`"flows":0,"flow_packets_dropped":2`}, "", 1},
		{"no file", nil, exitUsage, nil, "expected exactly one FILE argument, got 0", 0},
		{"two files", []string{spaced, spaced}, exitUsage, nil, "got 2", 0},
		{"flag after the file", []string{spaced, "-max-flows", "1"}, exitUsage, nil, "got 3", 0},
		{"unknown flag", []string{"-nope", spaced}, exitUsage, nil, "flag provided but not defined", 0},
		{"missing file", []string{filepath.Join(dir, "gone.pcap")}, exitError, nil,
			"gone.pcap: no such file or directory", 0},
		{"directory", []string{dir}, exitError, nil, dir + ": is a directory", 0},
		{"bad record", []string{malformed}, exitError, []string{`"truncated":true`}, malformed +
			": record 2: capture length exceeds snap length", 1},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(tt.args, &out, &errOut)

			if code != tt.code {
				t.Errorf("exit = %d, want %d (stderr %q)", code, tt.code, errOut.String())
			}
			rest := out.String()
			for _, s := range tt.stdout {
				i := strings.Index(rest, s)
				if i < 0 {
					t.Fatalf("stdout lacks %q (in order):\n%s", s, out.String())
				}
				rest = rest[i:]
			}
			if !strings.Contains(errOut.String(), tt.stderr) {
				t.Errorf("stderr = %q, want it to contain %q", errOut.String(), tt.stderr)
			}
			if n := checkLines(t, out.Bytes()); n != tt.summaries {
				t.Errorf("%d summary lines, want %d", n, tt.summaries)
			}
		})
	}
}

// checkLines checks that every stdout line is a JSON object with a type and
// that the summary, if any, is the last line; it returns the summary count.
func checkLines(t *testing.T, out []byte) int {
	t.Helper()
	sc := bufio.NewScanner(bytes.NewReader(out))
	summaries, lines := 0, 0
	for sc.Scan() {
		lines++
		var obj struct{ Type string }
		if err := json.Unmarshal(sc.Bytes(), &obj); err != nil || obj.Type == "" {
			t.Fatalf("line %d is not a typed JSON object: %q (%v)", lines, sc.Text(), err)
		}
		if summaries > 0 {
			t.Fatalf("line %d follows the summary", lines)
		}
		if obj.Type == "summary" {
			summaries++
		}
	}
	return summaries
}

// TestRunRecoversPanic checks the last line of defence in run.
func TestRunRecoversPanic(t *testing.T) {
	saved := analyzeFile
	t.Cleanup(func() { analyzeFile = saved })
	analyzeFile = func(string, options) (*report, error) { panic("boom") }

	var out, errOut bytes.Buffer
	if code := run([]string{"/x.pcap"}, &out, &errOut); code != exitError {
		t.Errorf("exit = %d, want %d", code, exitError)
	}
	if want := "pcap-summary: /x.pcap: internal error: boom\n"; errOut.String() != want {
		t.Errorf("stderr = %q, want %q", errOut.String(), want)
	}
}

// TestBinaryExitCodes runs the real main in a subprocess over every shared
// capture and checks the exit status and stderr that vent would record.
func TestBinaryExitCodes(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		file   string
		code   int
		stderr string
	}{
		{"http-get.pcap", 0, ""},
		{"empty.pcap", 0, ""},
		{"malformed/ether-trunc-snaplen1.pcap", 3, "1 of 1 packets are malformed"},
		{"malformed/ipv4-bad-ihl.pcap", 3, "1 of 1 packets are malformed"},
		{"malformed/pcap-version-1.4.pcap", 1, "unsupported pcap version 1.4"},
		{"malformed/pcapng-shb-option-too-long.pcapng", 1, "in the trailer"},
		{"malformed/fuzz-huge-caplen.pcap", 1, "record 2: capture length exceeds snap length"},
		{"malformed/corrupt-record-truncated.pcap", 1, "record 7: capture length exceeds snap length"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			path := capturePath(t, tt.file)
			cmd := exec.Command(exe, path)
			cmd.Env = append(os.Environ(), "PCAP_SUMMARY_MAIN=1")
			var out, errOut bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &errOut
			err := cmd.Run()

			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tt.code {
				t.Errorf("exit = %d, want %d; stderr %q", code, tt.code, errOut.String())
			}
			if tt.stderr == "" && errOut.Len() != 0 {
				t.Errorf("stderr = %q, want none", errOut.String())
			}
			prefixed := strings.HasPrefix(errOut.String(), "pcap-summary: "+path+": ")
			if tt.stderr != "" && (!prefixed || !strings.Contains(errOut.String(), tt.stderr)) {
				t.Errorf("stderr = %q, want the path and %q", errOut.String(), tt.stderr)
			}
			if e := errOut.String(); strings.Contains(e, "panic") || strings.Contains(e, "internal error") {
				t.Errorf("stderr shows a panic: %q", errOut.String())
			}
		})
	}
}

// TestParseHTTPRequest covers the request-line and Host parser.
func TestParseHTTPRequest(t *testing.T) {
	tests := []struct {
		in                string
		anyMethod         bool
		method, uri, host string
		ok                bool
	}{
		{"GET /a HTTP/1.1\r\nHost: Example.COM\r\n\r\n", false, "GET", "/a", "example.com", true},
		{"POST /p HTTP/1.0\r\nUser-Agent: x\r\nhOsT:  h:8080 \r\n\r\n", false, "POST", "/p", "h:8080", true},
		{"GET / HTTP/1.1\r\nAccept: */*\r\n", false, "GET", "/", "", true},
		{"GET / HTTP/1.1\r\n\r\nHost: body\r\n", false, "GET", "/", "", true},
		{"PURGE /x HTTP/1.1\r\nHost: c\r\n", true, "PURGE", "/x", "c", true},
		{"PURGE /x HTTP/1.1\r\nHost: c\r\n", false, "", "", "", false},
		{"get / HTTP/1.1\r\n", true, "", "", "", false},
		{"GET / SIP/2.0\r\n", false, "", "", "", false},
		{"GET /\r\n", false, "", "", "", false},
		{"GET / HTTP/1.1", false, "", "", "", false},
		{"HTTP/1.1 200 OK\r\n", true, "", "", "", false},
	}
	for _, tt := range tests {
		m, u, h, ok := parseHTTPRequest([]byte(tt.in), tt.anyMethod)
		if m != tt.method || u != tt.uri || h != tt.host || ok != tt.ok {
			t.Errorf("parseHTTPRequest(%q) = %q %q %q %v, want %q %q %q %v",
				tt.in, m, u, h, ok, tt.method, tt.uri, tt.host, tt.ok)
		}
	}
}

// TestDNSOverTCPSegments checks the 2-byte length framing: two messages in
// one segment are both read, and a message cut by the segment end is skipped.
func TestDNSOverTCPSegments(t *testing.T) {
	rep, err := analyzePath(t, capturePath(t, "dns-udp.pcap"))
	if err != nil || len(rep.dns) != 1 {
		t.Fatalf("setup: %v", err)
	}
	raw, _ := os.ReadFile(capturePath(t, "dns-udp.pcap"))
	// The query's DNS message: pcap header, record header, Ethernet, IPv4, UDP.
	caplen := int(binary.LittleEndian.Uint32(raw[24+8:]))
	query := raw[24+16+14+20+8 : 24+16+caplen]

	framed := func(msgs ...[]byte) []byte {
		var b []byte
		for _, m := range msgs {
			b = binary.BigEndian.AppendUint16(b, uint16(len(m)))
			b = append(b, m...)
		}
		return b
	}
	tests := []struct {
		name    string
		segment []byte
		queries uint64
	}{
		{"one", framed(query), 1},
		{"two in a segment", framed(query, query), 2},
		{"second cut", framed(query, query)[:2*len(query)], 1},
		{"garbage", []byte{0, 3, 1, 2, 3}, 0},
		{"zero length", []byte{0, 0, 0, 0}, 0},
	}
	for _, tt := range tests {
		d := newDNSTable(10)
		d.addTCP(tt.segment)
		var got uint64
		for _, e := range d.order {
			got += e.queries
		}
		if got != tt.queries {
			t.Errorf("%s: %d queries, want %d", tt.name, got, tt.queries)
		}
	}
}

// FuzzAnalyze runs the whole read and decode path over arbitrary bytes,
// seeded with every shared capture. It must never panic, and must not
// allocate in proportion to lengths the file claims rather than bytes it has.
func FuzzAnalyze(f *testing.F) {
	for _, pattern := range []string{"*.pcap*", filepath.Join("malformed", "*")} {
		files, _ := filepath.Glob(filepath.Join(captureDir, pattern))
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	f.Add([]byte{0x1f, 0x8b})
	f.Add([]byte{0x0a, 0x0d, 0x0d, 0x0a, 0x1c, 0, 0, 0, 0x4d, 0x3c, 0x2b, 0x1a})

	small := options{maxFlows: 64, maxNames: 64}
	f.Fuzz(func(t *testing.T, data []byte) {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)

		rep, err := analyze(bytes.NewReader(data), "fuzz", small)

		runtime.ReadMemStats(&after)
		var packets uint64
		if rep != nil {
			packets = rep.summary.Packets
			if err := rep.write(&bytes.Buffer{}); err != nil {
				t.Fatalf("write report: %v", err)
			}
		}
		if rep == nil && err == nil {
			t.Fatal("no report and no error")
		}

		// A packet may cost one 256 KiB read buffer (pcapgo's up-front
		// limit) plus decoding; beyond that allocation must follow the
		// bytes in the file, not the lengths it claims.
		const perPacket, fixed = 1 << 20, 4 << 20
		limit := fixed + perPacket*(packets+1) + 16*uint64(len(data))
		if got := after.TotalAlloc - before.TotalAlloc; got > limit {
			t.Fatalf("allocated %d bytes for %d input bytes and %d packets (limit %d)",
				got, len(data), packets, limit)
		}
	})
}

// BenchmarkAnalyzeBroOrg measures the whole read, decode and summary path
// over the 751-packet HTTP capture, reporting packets per second.
func BenchmarkAnalyzeBroOrg(b *testing.B) {
	data, err := os.ReadFile(capturePath(b, "http-bro-org.pcap"))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()

	var packets uint64
	for b.Loop() {
		rep, err := analyze(bytes.NewReader(data), "bench", defaultOptions)
		if err != nil {
			b.Fatal(err)
		}
		packets += rep.summary.Packets
	}
	b.ReportMetric(float64(packets)/b.Elapsed().Seconds(), "packets/s")
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func itoa[T uint16 | uint64](v T) string { return strconv.FormatUint(uint64(v), 10) }
