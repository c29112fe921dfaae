//go:build !cgo || !linux

package gpu

import (
	"context"
	"errors"
	"testing"
)

func TestNVMLWithoutCgo(t *testing.T) {
	n := NewNVML(NVMLOptions{})
	if _, err := n.Devices(context.Background()); !errors.Is(err, ErrNoNVML) || !Unavailable(err) {
		t.Fatalf("Devices = %v, want ErrNoNVML", err)
	}
	if NVMLCompiled {
		t.Error("NVMLCompiled is true in a build without cgo")
	}
	if err := n.Close(); err != nil {
		t.Error(err)
	}
}
