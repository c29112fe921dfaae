package drop

import (
	"errors"
	"strconv"
	"strings"
	"testing"
)

func TestIgnored(t *testing.T) {
	tests := []struct {
		name string
		want bool
	}{
		{"capture.pcap", false},
		{"a", false},
		{"", false},
		{".x", true},
		{".", true},
		{"..", true},
		{".capture.pcap.1234.part", true},
		{"a.part", true},
		{"a.part.pcap", false},
		{"a.PART", false},
		{"b.tmp", true},
		{"tmp", false},
		{"b.tmp.gz", false},
		{"x-miscellaneous-y", true},
		{"-miscellaneous", true},
		{"x-miscellaneous", true},
		{"miscellaneous", false},
		{"x_miscellaneous", false},
		{"my capture.pcap", false},
		{"bad\xff.pcap", false},
	}
	for _, tt := range tests {
		if got := Ignored(tt.name); got != tt.want {
			t.Errorf("Ignored(%q) = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestIgnoredRel(t *testing.T) {
	tests := []struct {
		rel  string
		want bool
	}{
		{"a/b/c.pcap", false},
		{".git/config", true},
		{"a/.b/c.pcap", true},
		{"a/b/c.part", true},
		{"a/x-miscellaneous-1/c.pcap", true},
		{"a/b.tmp/c.pcap", true},
	}
	for _, tt := range tests {
		if got := ignoredRel(tt.rel); got != tt.want {
			t.Errorf("ignoredRel(%q) = %v, want %v", tt.rel, got, tt.want)
		}
	}
}

func TestCandidateName(t *testing.T) {
	tests := []struct {
		name string
		n    int
		want string
	}{
		{"a.pcap", 0, "a.pcap"},
		{"a.pcap", 1, "a (1).pcap"},
		{"a.pcap", 12, "a (12).pcap"},
		{"noext", 2, "noext (2)"},
		{"a.tar.gz", 1, "a.tar (1).gz"},
		{"a b.pcap", 1, "a b (1).pcap"},
	}
	for _, tt := range tests {
		if got := candidateName(tt.name, tt.n); got != tt.want {
			t.Errorf("candidateName(%q, %d) = %q, want %q", tt.name, tt.n, got, tt.want)
		}
	}
}

// FuzzName checks the invariants between Ignored, checkName and
// candidateName: an accepted name is a single, non-ignored path component,
// and so is every collision name built from it.
func FuzzName(f *testing.F) {
	for _, s := range []string{"a.pcap", ".x", "a/b", "..", "a..b", "x-miscellaneous-y", "a.part",
		"", "bad\xff", "a\x00b", "two\nlines", strings.Repeat("a", 300)} {
		f.Add(s, 3)
	}
	f.Fuzz(func(t *testing.T, name string, n int) {
		if strings.HasPrefix(name, ".") && !Ignored(name) {
			t.Fatalf("dotfile %q not ignored", name)
		}
		err := checkName(name)
		if err != nil {
			if !errors.Is(err, ErrBadName) {
				t.Fatalf("checkName(%q): error %v does not wrap ErrBadName", name, err)
			}
			if !strings.Contains(err.Error(), strconv.Quote(name)) {
				t.Fatalf("checkName(%q): error %q does not name the input", name, err)
			}
			return
		}
		if name == "" || strings.Contains(name, "/") || strings.Contains(name, "..") ||
			Ignored(name) || len(name) > maxNameLen {
			t.Fatalf("checkName accepted %q", name)
		}

		n = n % 1000
		if n < 0 {
			n = -n
		}
		cand := candidateName(name, n)
		if strings.Contains(cand, "/") || Ignored(cand) {
			t.Fatalf("candidateName(%q, %d) = %q: not a plain, watched name", name, n, cand)
		}
	})
}
