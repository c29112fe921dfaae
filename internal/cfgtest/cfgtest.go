// Package cfgtest gives tests a configuration of their own: a drop folder
// and data dir under a temporary folder, and a containerd address where
// nothing listens, for an engine that is opened but not connected.
package cfgtest

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/ventapp/ventapp/config"
)

// Idle writes and loads such a configuration under a new t.TempDir().
func Idle(t testing.TB) *config.Config {
	t.Helper()
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "vent.cfg")
	text := "[main]\nfiles = " + filepath.Join(dir, "drop") + "\n[containerd]\naddress = " +
		filepath.Join(dir, "no-containerd.sock") + "\n"
	if err := os.WriteFile(cfgPath, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgPath, filepath.Join(dir, "data"))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}
