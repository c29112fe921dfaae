package termquiet

import (
	"os"
	"testing"
)

func TestRestore(t *testing.T) {
	tests := []struct {
		name   string
		term   string
		wasSet bool
	}{
		{"set", "xterm-256color", true},
		{"set but empty", "", true},
		{"unset", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("TERM", "before the test")
			saved, set = tt.term, tt.wasSet

			quiet()
			if got := os.Getenv("TERM"); got != "dumb" {
				t.Fatalf("TERM while quiet: %q, want dumb", got)
			}
			Restore()
			got, ok := os.LookupEnv("TERM")
			if got != tt.term || ok != tt.wasSet {
				t.Errorf("TERM after Restore: %q (set %v), want %q (set %v)", got, ok, tt.term, tt.wasSet)
			}
		})
	}
}

// The package's own start set TERM to dumb; the test binary's main never
// restored it.
func TestQuietAtInit(t *testing.T) {
	if got := os.Getenv("TERM"); got != "dumb" {
		t.Errorf("TERM after init: %q, want dumb", got)
	}
}
