package taskio

import (
	"sync"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/pkg/cio"
)

// fakeIO is a cio.IO whose copies finish when finish is closed, or when
// it is cancelled.
type fakeIO struct {
	finish    chan struct{}
	once      sync.Once
	cancelled bool
}

func (f *fakeIO) Config() cio.Config { return cio.Config{} }
func (f *fakeIO) Wait()              { <-f.finish }
func (f *fakeIO) Close() error       { return nil }
func (f *fakeIO) Cancel() {
	f.cancelled = true
	f.once.Do(func() { close(f.finish) })
}

func TestDrain(t *testing.T) {
	tests := []struct {
		name          string
		finishAfter   time.Duration // <0: never on its own
		want          bool
		wantCancelled bool
	}{
		{"copies already done", 0, true, false},
		{"copies end while waiting", 20 * time.Millisecond, true, false},
		{"output held open", -1, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeIO{finish: make(chan struct{})}
			if tt.finishAfter >= 0 {
				time.AfterFunc(tt.finishAfter, func() { f.once.Do(func() { close(f.finish) }) })
			}
			limit := 100 * time.Millisecond
			if tt.want {
				limit = time.Minute
			}
			if got := Drain(f, limit); got != tt.want || f.cancelled != tt.wantCancelled {
				t.Errorf("Drain = %v, cancelled %v; want %v, cancelled %v", got, f.cancelled, tt.want, tt.wantCancelled)
			}
		})
	}
}
