package main

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

func TestJournalPriorities(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(newJournalHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})).With("part", "x")
	log.Debug("d")
	log.Info("i")
	log.Warn("w")
	log.Error("e", "k", "v")

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	want := []string{"<7>", "<6>", "<4>", "<3>"}
	if len(lines) != len(want) {
		t.Fatalf("got %d lines: %q", len(lines), lines)
	}
	for i, l := range lines {
		if !strings.HasPrefix(l, want[i]+"time=") || !strings.Contains(l, "part=x") {
			t.Errorf("line %d = %q, want prefix %s and the attrs", i, l, want[i])
		}
	}
}
