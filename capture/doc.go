// Package capture records network traffic from NICs into rotating pcap
// files that feed ventapp's drop folder, in the manner of vent's
// network_tap, but in-process.
//
// A Tap names a NIC, a rotation interval, a number of rotations (iters, 0
// for forever), an optional tcpdump-syntax filter, a snap length and
// whether TCP/UDP payloads are stripped. A running tap reads the NIC through
// an AF_PACKET socket with a TPACKET_V3 ring (pure Go,
// github.com/gopacket/gopacket/afpacket). The filter is compiled to
// classic BPF by libpcap (package capture/bpf, cgo) and attached to the
// socket before the first packet is read: the socket first gets a
// keep-nothing program, is emptied of whatever arrived before, and only
// then gets the real filter, so no unfiltered packet reaches a file.
//
// Files are named as vent named them, trace_<id>_<YYYY-MM-DD_HH_MM_SS>.pcap,
// with the UTC time the interval started. Each is written in a staging
// folder outside the drop folder and renamed into the drop folder once it
// is complete and synced, so the drop watcher never sees half a file. When
// the staging folder is on another file system the finished file is copied
// in through drop.PlaceFile instead. An interval in which no packet
// matched produces no file at all: vent wrote an empty capture every
// interval and its pipeline then reported each as invalid.
//
// Writing is a two-stage pipeline: the goroutine reading the ring copies
// each packet into one of three 4 MiB buffers, and a second goroutine
// writes full buffers to the file. Reading the ring and the write system
// calls so run on different CPUs; the ring is read on while a write is in
// the kernel, until all three buffers wait to be written. Files are
// classic pcap with microsecond timestamps, as tcpdump -w writes them.
//
// A Manager keeps taps (config, state, reason, counters) in a bbolt bucket
// "taps", runs them, resumes the running ones after a restart, and serves
// them over HTTP: JSON under /api/v1/taps (Handler) and vent's ncontrol
// routes (VentHandler). FilterFile applies the same filter and stripping to
// a saved pcap or pcapng file.
//
// Capturing needs CAP_NET_RAW (root has it). A NIC that goes down or
// disappears while a tap runs puts the tap in state "retrying" with the
// reason, and the tap reopens it with backoff; a write error such as a
// full disk fails the tap and leaves the files already finished intact.
package capture
