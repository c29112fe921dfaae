package main

import (
	"os"
	"testing"
)

// TestMain removes the binaries the tests built once (see builtOnce).
func TestMain(m *testing.M) {
	code := m.Run()
	if builtRoot != "" {
		os.RemoveAll(builtRoot)
	}
	os.Exit(code)
}
