package main

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// TestTapFilterLocal runs `tap filter` on a shared capture: it needs no
// daemon.
func TestTapFilterLocal(t *testing.T) {
	in := filepath.Join("..", "..", "..", "shared", "testdata", "pcaps", "dns-udp.pcap")
	out := filepath.Join(t.TempDir(), "out.pcap")
	var stdout, stderr bytes.Buffer
	env := &cliEnv{stdout: &stdout, stderr: &stderr}

	err := cmdTap(context.Background(), env, []string{"filter", in, "--filter", "udp port 53", "--strip-payload", "-o", out})
	if err != nil {
		t.Fatalf("%v (%s)", err, stderr.String())
	}
	if !strings.Contains(stdout.String(), "kept ") || !strings.Contains(stdout.String(), out) {
		t.Errorf("output %q", stdout.String())
	}

	cases := [][]string{
		{"filter", in, "-o"},
		{"filter", in},
		{"filter", in, "-o", out},
		{},
		{"bogus"},
	}
	for _, args := range cases {
		err := cmdTap(context.Background(), env, args)
		if !errors.Is(err, errUsage) {
			t.Errorf("%q: %v, want a usage error", args, err)
		}
		if err == nil {
			t.Errorf("%q accepted", args)
		}
	}
	if err := cmdTap(context.Background(), env, []string{"filter", in, "--filter", "udp prt", "-o", out}); err == nil ||
		!strings.Contains(err.Error(), "syntax error") {
		t.Errorf("bad filter: %v", err)
	}
}
