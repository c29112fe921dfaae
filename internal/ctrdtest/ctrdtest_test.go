package ctrdtest

import (
	"context"
	"testing"
)

func TestStart(t *testing.T) {
	d := Start(t)
	c := d.Client(t)

	v, err := c.Version(context.Background())
	if err != nil {
		t.Fatalf("version: %v", err)
	}
	if v.Version == "" {
		t.Fatalf("got empty version from %s", d.Address)
	}
}
