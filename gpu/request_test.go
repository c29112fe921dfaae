package gpu

import (
	"errors"
	"strings"
	"testing"

	"github.com/ventapp/ventapp/plugins"
)

func TestRequestFrom(t *testing.T) {
	tests := []struct {
		name    string
		in      plugins.GPUSettings
		want    string // Request.String, or "" on error
		wantErr string
	}{
		{"vent gpu_example",
			plugins.GPUSettings{Enabled: true, Dedicated: true, Device: 0, HasDevice: true, MemMB: 1024},
			"mem_mb=1024 dedicated=yes device=0", ""},
		{"unpinned shared", plugins.GPUSettings{Enabled: true, MemMB: 512}, "mem_mb=512 dedicated=no", ""},
		{"device 0 only when set", plugins.GPUSettings{Enabled: true}, "mem_mb=0 dedicated=no", ""},
		{"not enabled", plugins.GPUSettings{MemMB: 5}, "", "enabled is not yes"},
		{"negative mem", plugins.GPUSettings{Enabled: true, MemMB: -5}, "", "mem_mb -5 is negative"},
		{"negative device", plugins.GPUSettings{Enabled: true, HasDevice: true, Device: -1}, "",
			"device -1 is negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := RequestFrom(tt.in)
			if tt.wantErr != "" {
				if !errors.Is(err, ErrBadRequest) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want ErrBadRequest with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := r.String(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestReservationFromLabels(t *testing.T) {
	tests := []struct {
		name    string
		labels  map[string]string
		wantOK  bool
		want    Reservation
		wantErr bool
	}{
		{"not a GPU job", map[string]string{"vent-plugin": ""}, false, Reservation{}, false},
		{"vent labels", map[string]string{LabelGPU: "yes", LabelDevice: "10", LabelMemMB: "1024",
			LabelDedicated: "yes"}, true, Reservation{JobID: "j", Container: "c", Device: 10, MemMB: 1024,
			Dedicated: true}, false},
		{"mem and dedicated optional", map[string]string{LabelGPU: "yes", LabelDevice: "1"}, true,
			Reservation{JobID: "j", Container: "c", Device: 1}, false},
		{"no device", map[string]string{LabelGPU: "yes"}, true, Reservation{}, true},
		{"device not a number", map[string]string{LabelGPU: "yes", LabelDevice: "1,0"}, true, Reservation{}, true},
		{"negative mem", map[string]string{LabelGPU: "yes", LabelDevice: "0", LabelMemMB: "-1"}, true,
			Reservation{}, true},
		{"dedicated typo", map[string]string{LabelGPU: "yes", LabelDevice: "0", LabelDedicated: "Yes"}, true,
			Reservation{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok, err := ReservationFromLabels("j", "c", tt.labels)
			if ok != tt.wantOK || (err != nil) != tt.wantErr {
				t.Fatalf("ok=%v err=%v, want ok=%v err=%v", ok, err, tt.wantOK, tt.wantErr)
			}
			if err != nil && !errors.Is(err, ErrBadLabels) {
				t.Errorf("err %v does not wrap ErrBadLabels", err)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func FuzzReservationFromLabels(f *testing.F) {
	f.Add("yes", "0", "1024", "yes")
	f.Add("yes", "10", "", "no")
	f.Add("no", "x", "-1", "maybe")
	f.Fuzz(func(t *testing.T, gpu, device, mem, dedicated string) {
		labels := map[string]string{LabelGPU: gpu, LabelDevice: device, LabelMemMB: mem, LabelDedicated: dedicated}
		r, ok, err := ReservationFromLabels("j", "c", labels)
		if err != nil || !ok {
			return
		}
		if r.Device < 0 || r.MemMB < 0 {
			t.Fatalf("accepted a negative value: %+v", r)
		}
		back, ok, err := ReservationFromLabels("j", "c", r.Labels())
		if err != nil || !ok || back != r {
			t.Fatalf("round trip %+v → %+v (%v)", r, back, err)
		}
	})
}
