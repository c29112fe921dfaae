package index

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestRawLogLayout(t *testing.T) {
	ix, dir := openTest(t)
	addJob(t, ix, "j1", "pcap-summary")
	if err := ix.EndJob("ctr-j1"); err != nil {
		t.Fatal(err)
	}
	logs := filepath.Join(dir, "logs")

	tests := []struct {
		path  string
		lines []string
	}{
		{"2024/03/09/ctr-j1.log", []string{
			"2024-03-09T23:59:58.123456789Z stdout " + testLines[0].text,
			"2024-03-09T23:59:59.123456789Z stdout " + testLines[1].text,
		}},
		{"2024/03/10/ctr-j1.log", []string{
			"2024-03-10T00:00:00.123456789Z stdout " + testLines[2].text,
			"2024-03-10T00:00:01.123456789Z stderr " + testLines[3].text,
			"2024-03-10T00:00:02.123456789Z stdout " + testLines[4].text,
			"2024-03-10T00:00:03.123456789Z stdout " + testLines[5].text,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join(logs, tc.path))
			if err != nil {
				t.Fatal(err)
			}
			want := strings.Join(tc.lines, "\n") + "\n"
			if string(b) != want {
				t.Errorf("content:\n%s\nwant:\n%s", b, want)
			}
		})
	}

	if st := ix.Stats(); st.OpenLogFiles != 0 {
		t.Errorf("OpenLogFiles after EndJob = %d", st.OpenLogFiles)
	}
}

func TestRawLogEscaping(t *testing.T) {
	tests := []struct {
		name string
		text []byte
		want string
	}{
		{"plain", []byte("hello world"), "hello world"},
		{"newlines", []byte("a\nb\r\nc"), `a\nb\r\nc`},
		{"tab and backslash", []byte("a\tb\\n"), `a\tb\\n`},
		{"controls", []byte{0, 0x1b, '[', 'm', 0x7f}, `\x00\x1b[m\x7f`},
		{"invalid utf8", []byte{'o', 0xff, 0xc3, 0x28}, `o\xff\xc3(`},
		{"utf8 kept", []byte("naïve ☃"), "naïve ☃"},
		{"c1 control", []byte("a\u0085b"), `a\u0085b`},
	}
	ts := time.Date(2025, 1, 2, 3, 4, 5, 6, time.FixedZone("x", 3600))
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := string(appendRecord(nil, ts, "stderr", tc.text))
			want := "2025-01-02T02:04:05.000000006Z stderr " + tc.want + "\n"
			if got != want {
				t.Errorf("record = %q, want %q", got, want)
			}
		})
	}
}

func TestRawLogNames(t *testing.T) {
	tests := []struct{ in, want string }{
		{"cyberreboot-vent-pcap-stats-master_1577000000_ab12",
			"cyberreboot-vent-pcap-stats-master_1577000000_ab12"},
		{"../../etc/passwd", "_._.._etc_passwd"},
		{"..", "_."},
		{"a b/c", "a_b_c"},
		{"", "unknown"},
	}
	for _, tc := range tests {
		if got := logName(tc.in); got != tc.want {
			t.Errorf("logName(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestRawLogHandleCap(t *testing.T) {
	dir := t.TempDir()
	r := newRawLogs(dir, 3)
	ts := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

	for round := range 2 {
		for c := range 5 {
			text := []byte(fmt.Sprintf("round %d", round))
			if err := r.write(fmt.Sprintf("c%d", c), ts, "stdout", text); err != nil {
				t.Fatal(err)
			}
			if n := r.openCount(); n > 3 {
				t.Fatalf("%d files open, cap 3", n)
			}
		}
	}
	if err := r.close(); err != nil {
		t.Fatal(err)
	}

	for c := range 5 {
		b, err := os.ReadFile(filepath.Join(dir, "2024", "01", "01", fmt.Sprintf("c%d.log", c)))
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Count(b, []byte("\n")) != 2 || !bytes.Contains(b, []byte("round 1")) {
			t.Errorf("c%d.log = %q", c, b)
		}
	}
}
