package index

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"syscall"
	"testing"
	"time"
)

// benchTools are the tools the synthetic jobs claim to be.
var benchTools = []string{"pcap-summary", "p0f", "tcpprobe", "network-tap", "snort"}

// benchHosts feed the generated DNS and HTTP lines.
var benchHosts = []string{"www.tcpdump.org", "example.com", "updates.vendor.net", "cdn.static.io",
	"mail.corp.local", "api.github.com", "ntp.ubuntu.com", "time.windows.com"}

// genLine returns a realistic plugin output line: about a third JSON
// records, a third Python dicts as vent plugins print them, a third plain
// tool output (tcpdump-like, warnings).
func genLine(r *rand.Rand, i int) []byte {
	host := benchHosts[r.IntN(len(benchHosts))]
	src := fmt.Sprintf("10.%d.%d.%d", r.IntN(4), r.IntN(256), r.IntN(256))
	dst := fmt.Sprintf("192.168.%d.%d", r.IntN(8), r.IntN(256))
	switch i % 6 {
	case 0:
		return fmt.Appendf(nil, `{"type":"dns","ts":%d.%06d,"query":"%s","qtype":"A","answers":["%s","%s"],`+
			`"flow":{"src_ip":"%s","dst_ip":"%s","src_port":%d,"dst_port":53},"rcode":"NOERROR","ttl":%d}`,
			1700000000+i, r.IntN(1e6), host, dst, src, src, dst, 1024+r.IntN(60000), r.IntN(3600))
	case 1:
		return fmt.Appendf(nil, `{"type":"flow","proto":"tcp","src_ip":"%s","dst_ip":"%s","bytes":%d,`+
			`"packets":%d,"flags":["SYN","ACK"],"duration":%.3f}`,
			src, dst, r.IntN(1<<20), r.IntN(1000), r.Float64()*30)
	case 2:
		return fmt.Appendf(nil, `{'ip': '%s', 'os': {'name': 'Linux', 'flavor': '2.2.x-3.x', 'dist': %d}, `+
			`'raw_sig': '4:64+0:0:1460:mss*20,7:mss,sok,ts,nop,ws:df,id+:0', 'link': 'Ethernet or modem', `+
			`'uptime': None, 'hits': %d}`, src, r.IntN(30), r.IntN(100))
	case 3:
		return fmt.Appendf(nil, `{'packets': %d, 'bytes': %d, `+
			`'protocols': {'tcp': %d, 'udp': %d, 'icmp': %d}, `+
			`'top_talkers': ['%s', '%s'], 'file': '/files/trace-%d.pcap'}`,
			r.IntN(1e6), r.IntN(1e9), r.IntN(1e5), r.IntN(1e5), r.IntN(100), src, dst, i%50)
	case 4:
		return fmt.Appendf(nil, "%02d:%02d:%02d.%06d IP %s.%d > %s.443: Flags [P.], seq %d:%d, ack %d, "+
			"win 501, options [nop,nop,TS val %d ecr %d], length %d: HTTP: GET /index.html HTTP/1.1 Host: %s",
			r.IntN(24), r.IntN(60), r.IntN(60), r.IntN(1e6), src, 1024+r.IntN(60000), dst, r.IntN(1e9),
			r.IntN(1e9), r.IntN(1e9), r.IntN(1e9), r.IntN(1e9), r.IntN(1500), host)
	default:
		return fmt.Appendf(nil,
			"WARNING: %s: truncated packet %d in /files/trace-%d.pcap (caplen %d < len %d)",
			host, i, i%50, r.IntN(100), 100+r.IntN(1400))
	}
}

// fillIndex adds n generated lines in jobs of jobSize lines and flushes.
func fillIndex(tb testing.TB, ix *Index, n, jobSize int) {
	tb.Helper()
	r := rand.New(rand.NewPCG(1, 2))
	base := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		job := i / jobSize
		err := ix.Add(Line{
			JobID: fmt.Sprintf("%012d", job), Tool: benchTools[job%len(benchTools)],
			File: fmt.Sprintf("/files/trace-%d.pcap", job%50), FileSHA256: fmt.Sprintf("%064x", job%50),
			Container: fmt.Sprintf("vent-%012d", job), Stream: StreamStdout, LineNo: i%jobSize + 1,
			Time: base.Add(time.Duration(i) * time.Millisecond), Text: genLine(r, i),
		})
		if err != nil {
			tb.Fatal(err)
		}
	}
	if err := ix.Flush(); err != nil {
		tb.Fatal(err)
	}
}

// BenchmarkIndexLines measures Add+Flush throughput of generated lines,
// raw logs included; b.N is the number of lines. The sub-benchmarks index
// the numbers of structured lines as text (the default) or as numeric
// fields (Options.NumericFields); gogc=400 runs with the garbage collector
// target `ventapp serve` sets.
func BenchmarkIndexLines(b *testing.B) {
	b.Run("numbers=text", func(b *testing.B) { benchIndexLines(b, false) })
	b.Run("numbers=text/gogc=400", func(b *testing.B) {
		defer debug.SetGCPercent(debug.SetGCPercent(400))
		benchIndexLines(b, false)
	})
	b.Run("numbers=numeric", func(b *testing.B) { benchIndexLines(b, true) })
}

// benchIndexLines is BenchmarkIndexLines for one setting of NumericFields.
func benchIndexLines(b *testing.B, numeric bool) {
	dir := b.TempDir()
	opts := Options{LogDir: filepath.Join(dir, "logs"), NumericFields: numeric}
	ix, err := Open(filepath.Join(dir, "idx"), opts)
	if err != nil {
		b.Fatal(err)
	}
	defer ix.Close()

	// Every line is different (random addresses, ports, counters), as
	// far as memory allows: a pool of up to 2^18 lines is cycled.
	r := rand.New(rand.NewPCG(1, 2))
	lines := make([][]byte, min(b.N, 1<<18))
	for i := range lines {
		lines[i] = genLine(r, i)
	}
	var bytesIn int64
	for _, l := range lines {
		bytesIn += int64(len(l))
	}
	b.SetBytes(bytesIn / int64(len(lines)))

	stopPeak := peakHeap()
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuTime()
	for i := range b.N {
		job := i / 10000
		err := ix.Add(Line{JobID: fmt.Sprintf("%012d", job), Tool: benchTools[job%len(benchTools)],
			File:       fmt.Sprintf("/opt/vent_files/trace_lab1_2024-05-01_00_%02d_00.pcap", job%60),
			FileSHA256: fmt.Sprintf("%064x", job), Container: fmt.Sprintf("vent-%012d", job),
			LineNo: i%10000 + 1, Time: time.Now(), Text: lines[i%len(lines)]})
		if err != nil {
			b.Fatal(err)
		}
	}
	if err := ix.Flush(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "lines/s")
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/line")
	b.ReportMetric(float64(stopPeak())/(1<<20), "peak-heap-MiB")
}

// peakHeap samples the Go heap (bytes of allocated objects) every 50 ms
// until the returned function is called, which returns the largest sample.
func peakHeap() func() uint64 {
	done := make(chan struct{})
	result := make(chan uint64)
	go func() {
		var peak uint64
		var ms runtime.MemStats
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapAlloc)
			select {
			case <-done:
				result <- peak
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 {
		close(done)
		return <-result
	}
}

// cpuTime returns the user+system CPU time of the process so far. On a
// shared machine it is a steadier measure than wall time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchQueries is the query mix used by the search benchmarks.
var benchQueries = []string{
	"tool:p0f",
	"job_id:000000000042",
	"fields.type:dns",
	"+fields.query:www.tcpdump.org",
	"truncated",
	`"truncated packet"`,
	"+tool:pcap-summary +fields.protocols.icmp:42",
	"example.com",
	`+fields.os.name:linux +fields.hits:7`,
	`+file:"trace-7.pcap" +fields.type:dns`,
	"WARNING AND trace-7.pcap",
	"+tool:snort +line:<=100",
	`+fields.type:flow +time:>="2024-05-01T00:00:10Z" +time:<"2024-05-01T00:00:11Z"`,
}

// BenchmarkSearch measures query latency on a 20,000-line index, cycling
// through benchQueries with highlighting on every other query, in relevance
// order and in time order (Query.ByTime).
func BenchmarkSearch(b *testing.B) {
	ix, err := Open(filepath.Join(b.TempDir(), "idx"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer ix.Close()
	fillIndex(b, ix, 20000, 1000)

	for _, byTime := range []bool{false, true} {
		b.Run(fmt.Sprintf("bytime=%v", byTime), func(b *testing.B) {
			for i := range b.N {
				q := Query{Text: benchQueries[i%len(benchQueries)], Highlight: i%2 == 1, ByTime: byTime}
				if _, err := ix.Search(context.Background(), q); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkIndex1M is opt-in (VENTAPP_BENCH_1M=1): it indexes 1,000,000
// generated lines in jobs of 5,000 and reports ingest rate, index size and
// search latency percentiles over benchQueries (20 rounds: highlighting in
// every other round, time order in half of the rounds).
func BenchmarkIndex1M(b *testing.B) {
	if os.Getenv("VENTAPP_BENCH_1M") != "1" {
		b.Skip("set VENTAPP_BENCH_1M=1 to run")
	}
	const n = 1000000

	for range b.N {
		dir := b.TempDir()
		ix, err := Open(filepath.Join(dir, "idx"), Options{LogDir: filepath.Join(dir, "logs")})
		if err != nil {
			b.Fatal(err)
		}

		start := time.Now()
		fillIndex(b, ix, n, 5000)
		ingest := time.Since(start)

		var lat []time.Duration
		for round := range 20 {
			for _, q := range benchQueries {
				t := time.Now()
				sq := Query{Text: q, Highlight: round%2 == 1, ByTime: round%4 >= 2}
				if _, err := ix.Search(context.Background(), sq); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(t))
			}
		}
		slices.Sort(lat)
		st := ix.Stats()
		if err := ix.Close(); err != nil {
			b.Fatal(err)
		}

		b.ReportMetric(n/ingest.Seconds(), "lines/s")
		b.ReportMetric(float64(st.BytesOnDisk)/(1<<20), "MiB")
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
		b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
	}
}
