package engine

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ventapp/ventapp/config"
	"github.com/ventapp/ventapp/containers"
)

// TestContainerdSoon: right after start a request waits for the first
// connection and gets it; later a missing connection is reported at once.
func TestContainerdSoon(t *testing.T) {
	t.Run("connection comes while waiting", func(t *testing.T) {
		e := &Engine{cfg: &config.Config{ContainerdAddress: "/nowhere.sock"}, started: time.Now()}
		want := &containers.Client{}
		go func() {
			time.Sleep(200 * time.Millisecond)
			v := "test"
			e.ctr.Store(want)
			e.ctrVer.Store(&v)
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := e.containerdSoon(ctx)
		if err != nil || c != want {
			t.Fatalf("got %p, %v; want the connection made while waiting", c, err)
		}
	})

	t.Run("long after start", func(t *testing.T) {
		e := &Engine{cfg: &config.Config{ContainerdAddress: "/nowhere.sock"}, started: time.Now().Add(-time.Hour)}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		start := time.Now()
		_, err := e.containerdSoon(ctx)
		if !errors.Is(err, ErrContainerdDown) {
			t.Fatalf("got %v, want ErrContainerdDown", err)
		}
		if ctx.Err() != nil {
			t.Fatalf("waited %s for a connection long after start; want an answer at once", time.Since(start))
		}
	})
}
