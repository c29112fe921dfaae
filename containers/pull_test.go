package containers

import (
	"context"
	"errors"
	"testing"

	"github.com/ventapp/ventapp/internal/ctrdtest"
)

func TestPull(t *testing.T) {
	e := newEnv(t)
	reg := ctrdtest.StartRegistry(t)
	ctx := context.Background()

	remote := reg + "/tools/busybox:1"
	ctrdtest.PushImage(t, e.c.nsCtx(context.Background()), e.c.cli, testImage, remote)

	info, err := e.c.Pull(ctx, remote, PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if info.Name != remote || info.Digest == "" || info.Size <= 0 {
		t.Errorf("pulled: %+v", info)
	}
	// The pulled image runs.
	var out output
	res, err := e.c.Run(ctx, out.spec(Spec{ID: "pulled", Image: remote, Args: []string{"echo", "pulled ok"}}))
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("run pulled image: %+v, %v", res, err)
	}
	if stdout, _ := out.lines(); len(stdout) != 1 || stdout[0] != "pulled ok" {
		t.Errorf("output %q", stdout)
	}

	tests := []struct {
		name, ref string
	}{
		{"unknown tag", reg + "/tools/busybox:nope"},
		{"unknown repository", reg + "/tools/none:1"},
		{"registry down", "127.0.0.1:1/tools/busybox:1"},
		{"bad reference", "UPPER/Case::x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.c.Pull(ctx, tt.ref, PullOptions{})
			if !errors.Is(err, ErrPull) {
				t.Errorf("err %v, want ErrPull", err)
			}
		})
	}
	if err := e.c.RemoveImage(ctx, remote); err != nil {
		t.Fatal(err)
	}
}
