package capture

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// TestPcapWriterRoundTrip writes enough records to pass through every
// pipeline buffer several times and reads them back with gopacket's reader.
func TestPcapWriterRoundTrip(t *testing.T) {
	tests := []struct {
		name    string
		size    int
		packets int
	}{
		{"small", 60, 3},
		{"many small", 200, 100_000},
		{"jumbo", 9000, 4000},
		{"max snap", 262144, 60},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "out.pcap")
			f, err := os.Create(path)
			if err != nil {
				t.Fatal(err)
			}
			w := newPcapWriter(f, path, newBufferSet(), 262144, layers.LinkTypeEthernet)
			base := time.Unix(1_700_000_000, 123_456_000)
			for i := range tc.packets {
				data := bytes.Repeat([]byte{byte(i)}, tc.size)
				ci := captureInfo(base.Add(time.Duration(i)*time.Microsecond), len(data), len(data)+4)
				if err := w.writePacket(ci, data); err != nil {
					t.Fatalf("packet %d: %v", i, err)
				}
			}
			if err := w.close(); err != nil {
				t.Fatal(err)
			}
			f.Close()

			in, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer in.Close()
			r, err := pcapgo.NewReader(in)
			if err != nil {
				t.Fatal(err)
			}
			if r.LinkType() != layers.LinkTypeEthernet || r.Snaplen() != 262144 {
				t.Fatalf("header: link %v snaplen %d", r.LinkType(), r.Snaplen())
			}
			for i := 0; ; i++ {
				data, ci, err := r.ReadPacketData()
				if err == io.EOF {
					if i != tc.packets {
						t.Fatalf("read %d packets, wrote %d", i, tc.packets)
					}
					break
				}
				if err != nil {
					t.Fatalf("packet %d: %v", i, err)
				}
				want := base.Add(time.Duration(i) * time.Microsecond)
				if len(data) != tc.size || data[0] != byte(i) || data[len(data)-1] != byte(i) ||
					ci.Length != tc.size+4 || !ci.Timestamp.Equal(want) {
					t.Fatalf("packet %d: %d bytes [%d], wire %d, time %v; want %d bytes [%d], wire %d, time %v",
						i, len(data), data[0], ci.Length, ci.Timestamp, tc.size, byte(i), tc.size+4, want)
				}
			}
		})
	}
}

// TestPcapWriterWriteError reports a failing write on a later call and
// on close, and never blocks.
func TestPcapWriterWriteError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ro.pcap")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path) // read-only: every write fails
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	w := newPcapWriter(f, path, newBufferSet(), 65535, layers.LinkTypeEthernet)
	data := make([]byte, 60000)
	var werr error
	for i := 0; i < 1000 && werr == nil; i++ {
		werr = w.writePacket(captureInfo(time.Now(), len(data), len(data)), data)
	}
	if werr == nil {
		t.Fatal("60 MB into a read-only file gave no error")
	}
	cerr := w.close()
	for _, err := range []error{werr, cerr} {
		if err == nil || !bytes.Contains([]byte(err.Error()), []byte(path)) {
			t.Fatalf("error %v does not name %s", err, path)
		}
	}
	if err := w.writePacket(captureInfo(time.Now(), 1, 1), []byte{1}); !errors.Is(err, errWriterClosed) {
		t.Fatalf("write after close: %v", err)
	}
}

// TestPcapWriterAbortReusesBuffers aborts with data still buffered; the
// buffer set then serves a new file in full.
func TestPcapWriterAbortReusesBuffers(t *testing.T) {
	dir := t.TempDir()
	set := newBufferSet()
	for i := range 3 {
		f, err := os.Create(filepath.Join(dir, "f.pcap"))
		if err != nil {
			t.Fatal(err)
		}
		w := newPcapWriter(f, f.Name(), set, 65535, layers.LinkTypeEthernet)
		data := make([]byte, 1000)
		for range 10_000 { // ~10 MB: every buffer has been full once
			if err := w.writePacket(captureInfo(time.Now(), len(data), len(data)), data); err != nil {
				t.Fatal(err)
			}
		}
		if i < 2 {
			w.abort()
		} else if err := w.close(); err != nil {
			t.Fatal(err)
		}
		f.Close()
		if n := len(set.free); n != pipeBuffers {
			t.Fatalf("round %d: %d of %d buffers free", i, n, pipeBuffers)
		}
	}
}
