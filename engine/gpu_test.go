package engine

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ventapp/ventapp/gpu"
	"github.com/ventapp/ventapp/jobs"
)

// TestGPUJobs runs GPU plugins against a fake device inventory (it stands
// in for the hardware; the nvml path is tested in package gpu and by
// scripts/gpu-check.sh on a GPU machine).
func TestGPUJobs(t *testing.T) {
	te := startEngineWith(t, "[gpu]\nmax_wait = 20s\n", func(e *Engine) {
		inv := gpu.NewStaticInventory(gpu.Device{Index: 0, UUID: "GPU-fake-0", Name: "Fake GPU",
			MemTotalMB: 1024, MemFreeMB: 1024})
		e.gpu = newGPUState(inv, gpu.Options{MaxWait: 20 * time.Second})
		e.gpu.devices = func(index int) (gpu.DeviceSpec, error) {
			return gpu.DeviceSpec{Index: index, Env: []string{"NVIDIA_VISIBLE_DEVICES=0"}}, nil
		}
	})
	te.addPlugin("gpu small", `echo "visible=$NVIDIA_VISIBLE_DEVICES"; sleep 1`,
		"ext_types = .g\n[gpu]\nenabled = yes\nmem_mb = 600")
	te.addPlugin("gpu huge", `echo never runs`, "ext_types = .g\n[gpu]\nenabled = yes\nmem_mb = 4096")

	a := te.dropFile("", "a.g", "x")
	b := te.dropFile("", "b.g", "y")

	// The huge request can never fit the 1024 MB device: it fails at once.
	huge := te.waitJob("gpu_huge", a, 30*time.Second)
	if huge.State != jobs.Failed || !strings.Contains(huge.Reason, "gpu") || huge.Attempts != 0 {
		t.Errorf("huge: %s after %d attempts, reason %q; want failed at once", huge.State, huge.Attempts, huge.Reason)
	}

	// Two 600 MB jobs share one 1024 MB device one after the other, each
	// with the device in its environment.
	var ja, jb jobs.Job
	ja = te.waitJob("gpu_small", a, time.Minute)
	jb = te.waitJob("gpu_small", b, time.Minute)
	for _, j := range []jobs.Job{ja, jb} {
		if j.State != jobs.Done || len(j.LogTail) == 0 || j.LogTail[0] != "stdout: visible=0" {
			t.Errorf("%s: %s %q, tail %q", j.File, j.State, j.Reason, j.LogTail)
		}
	}
	if ja.StartedAt.Before(jb.FinishedAt) && jb.StartedAt.Before(ja.FinishedAt) {
		t.Errorf("two 600 MB jobs overlapped on a 1024 MB device: %v–%v and %v–%v",
			ja.StartedAt, ja.FinishedAt, jb.StartedAt, jb.FinishedAt)
	}

	snap := te.Status().GPU
	if len(snap.Devices) != 1 || len(snap.Reservations) != 0 {
		t.Errorf("gpu status after the jobs: %+v", snap)
	}
}

// TestGPUServiceAccounting checks that a long-running GPU service tool holds
// its device memory in the same scheduler as GPU jobs.
func TestGPUServiceAccounting(t *testing.T) {
	te := startEngineWith(t, "", func(e *Engine) {
		inv := gpu.NewStaticInventory(gpu.Device{Index: 0, UUID: "GPU-fake-0", Name: "Fake GPU",
			MemTotalMB: 1024, MemFreeMB: 1024})
		e.gpu = newGPUState(inv, gpu.Options{})
		e.gpu.devices = func(index int) (gpu.DeviceSpec, error) {
			return gpu.DeviceSpec{Index: index, Env: []string{"NVIDIA_VISIBLE_DEVICES=0"}}, nil
		}
	})
	te.addPlugin("gpu svc", `echo "svc on $NVIDIA_VISIBLE_DEVICES"; while true; do sleep 0.2; done`,
		"[gpu]\nenabled = yes\nmem_mb = 800")
	te.addPlugin("gpu job", `echo job ran`, "ext_types = .gj\n[gpu]\nenabled = yes\nmem_mb = 600")

	res, err := te.StartTools(context.Background(), []string{"gpu_svc"})
	if err != nil || len(res) != 1 || res[0].Error != "" {
		t.Fatalf("start service: %+v, %v", res, err)
	}
	if snap := te.GPUSnapshot(); len(snap.Reservations) != 1 || snap.Reservations[0].MemMB != 800 {
		t.Fatalf("reservations with the service running: %+v", snap.Reservations)
	}

	// 600 MB does not fit beside the service's 800 MB on a 1024 MB device.
	file := te.dropFile("", "a.gj", "x")
	time.Sleep(3 * time.Second)
	list, _ := te.Store().List(jobs.Filter{File: file})
	if len(list) != 1 || list[0].State != jobs.Queued {
		t.Fatalf("GPU job while the service holds the device: %+v", list)
	}

	if _, err := te.StopTools(context.Background(), []string{"gpu_svc"}); err != nil {
		t.Fatal(err)
	}
	if j := te.waitJob("gpu_job", file, time.Minute); j.State != jobs.Done {
		t.Errorf("GPU job after the service stopped: %s %q", j.State, j.Reason)
	}
}
