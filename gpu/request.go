package gpu

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ventapp/ventapp/plugins"
)

// Request is what one job asks of a GPU.
type Request struct {
	// MemMB is the device memory in MiB the job reserves. Accounting only:
	// nothing stops the job from using more.
	MemMB int64 `json:"mem_mb"`

	// Dedicated asks for a device no other ventapp job shares and no other
	// process uses.
	Dedicated bool `json:"dedicated"`

	// Device pins the job to one device index; nil lets the scheduler choose.
	Device *int `json:"device,omitempty"`
}

// RequestFrom turns a plugin's parsed [gpu] section into a Request. It
// fails with ErrBadRequest when the section does not enable the GPU or
// holds a negative value (the plugins package rejects those already).
func RequestFrom(s plugins.GPUSettings) (Request, error) {
	if !s.Enabled {
		return Request{}, fmt.Errorf("%w: [gpu] enabled is not yes", ErrBadRequest)
	}
	r := Request{MemMB: s.MemMB, Dedicated: s.Dedicated}
	if s.HasDevice {
		d := s.Device
		r.Device = &d
	}
	if err := r.Validate(); err != nil {
		return Request{}, err
	}
	return r, nil
}

// Validate reports a negative memory size or device index.
func (r Request) Validate() error {
	if r.MemMB < 0 {
		return fmt.Errorf("%w: mem_mb %d is negative", ErrBadRequest, r.MemMB)
	}
	if r.Device != nil && *r.Device < 0 {
		return fmt.Errorf("%w: device %d is negative", ErrBadRequest, *r.Device)
	}
	return nil
}

// String renders r the way a template spells it, e.g.
// "mem_mb=1024 dedicated=yes device=0".
func (r Request) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "mem_mb=%d dedicated=%s", r.MemMB, yesNo(r.Dedicated))
	if r.Device != nil {
		fmt.Fprintf(&b, " device=%d", *r.Device)
	}
	return b.String()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// Reservation is a device held by a running (or just assigned) job. The
// engine stores it with the job, or as container labels, so that after a
// crash the scheduler can be rebuilt from what is really running.
type Reservation struct {
	// JobID is the job (or service) holding the device.
	JobID string `json:"job_id"`

	// Device is the device index.
	Device int `json:"device"`

	// MemMB is the memory reserved, from the job's Request.
	MemMB int64 `json:"mem_mb"`

	// Dedicated means the job has the device to itself.
	Dedicated bool `json:"dedicated"`

	// Container is the container id running the job, when known. It lets
	// the scheduler tell the job's own GPU processes from foreign ones.
	Container string `json:"container,omitempty"`

	// Since is when the reservation was made.
	Since time.Time `json:"since"`
}

// Container labels describing a reservation. They extend vent's
// vent.gpu.* labels, which ventapp also sets for compatibility.
const (
	LabelGPU       = "vent.gpu"
	LabelMemMB     = "vent.gpu.mem_mb"
	LabelDedicated = "vent.gpu.dedicated"
	LabelDevice    = "vent.gpu.device"
)

// Labels returns the container labels that record r.
func (r Reservation) Labels() map[string]string {
	return map[string]string{
		LabelGPU:       "yes",
		LabelMemMB:     strconv.FormatInt(r.MemMB, 10),
		LabelDedicated: yesNo(r.Dedicated),
		LabelDevice:    strconv.Itoa(r.Device),
	}
}

// ReservationFromLabels rebuilds the reservation of a running container
// from its labels. ok is false when the container is not a GPU job (no
// vent.gpu=yes label); err wraps ErrBadLabels when the labels are broken.
func ReservationFromLabels(jobID, container string, labels map[string]string) (
	r Reservation, ok bool, err error,
) {
	if labels[LabelGPU] != "yes" {
		return Reservation{}, false, nil
	}
	r = Reservation{JobID: jobID, Container: container}

	dev, err := strconv.Atoi(labels[LabelDevice])
	if err != nil || dev < 0 {
		return Reservation{}, true, fmt.Errorf("%w: container %s: %s=%q is not a device index",
			ErrBadLabels, container, LabelDevice, labels[LabelDevice])
	}
	r.Device = dev

	if v, has := labels[LabelMemMB]; has && v != "" {
		mem, err := strconv.ParseInt(v, 10, 64)
		if err != nil || mem < 0 {
			return Reservation{}, true, fmt.Errorf("%w: container %s: %s=%q is not a size in MiB",
				ErrBadLabels, container, LabelMemMB, v)
		}
		r.MemMB = mem
	}

	switch v := labels[LabelDedicated]; v {
	case "yes":
		r.Dedicated = true
	case "no", "":
	default:
		return Reservation{}, true, fmt.Errorf("%w: container %s: %s=%q is not yes or no",
			ErrBadLabels, container, LabelDedicated, v)
	}
	return r, true, nil
}
