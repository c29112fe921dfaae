package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ventapp/ventapp/containers"
	"github.com/ventapp/ventapp/gpu"
	"github.com/ventapp/ventapp/jobs"
	"github.com/ventapp/ventapp/plugins"
)

// GPU jobs wait in the scheduler's own queue, not in a worker: gpuLoop
// submits every queued job of a plugin with [gpu] enabled = yes, and a
// worker may claim such a job only once the scheduler has reserved a
// device for it (gpuReady). The reservation is released when the job's
// attempt ends, however it ends.

// gpuState is the engine's side of GPU scheduling.
type gpuState struct {
	sched *gpu.Scheduler

	// devices finds the device nodes for a GPU index; tests replace it.
	devices func(index int) (gpu.DeviceSpec, error)

	// ready and submitted are guarded by Engine.dispatchMu.
	ready     map[string]gpu.Reservation
	submitted map[string]bool

	// services holds the service instances waiting for a device, by their
	// scheduler id (servicePrefix + container id); guarded by dispatchMu.
	services map[string]chan serviceGrant
}

// servicePrefix marks scheduler ids that are service instances, not jobs.
const servicePrefix = "service:"

// serviceGrant is the scheduler's answer for a waiting service instance.
type serviceGrant struct {
	res gpu.Reservation
	err error
}

func newGPUState(inv gpu.Inventory, opts gpu.Options) *gpuState {
	return &gpuState{
		sched:     gpu.NewScheduler(inv, opts),
		devices:   gpu.ContainerDevices,
		ready:     map[string]gpu.Reservation{},
		submitted: map[string]bool{},
		services:  map[string]chan serviceGrant{},
	}
}

// gpuLoop feeds queued GPU jobs to the scheduler and turns its decisions
// into runnable jobs or failures, once a second and on every nudge.
func (e *Engine) gpuLoop(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		e.gpuPass(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (e *Engine) gpuPass(ctx context.Context) {
	queued, err := e.store.List(jobs.Filter{State: jobs.Queued})
	if err != nil {
		e.log.Warn("gpu: list queued jobs", "err", err)
		return
	}
	installed := map[string]*plugins.Plugin{}
	for _, p := range e.reg.List() {
		installed[p.Name] = p
	}

	now := time.Now()
	for _, j := range queued {
		p := installed[j.Tool]
		if p == nil || !p.Settings.GPU.Enabled || now.Before(j.NotBefore) {
			continue
		}
		e.dispatchMu.Lock()
		done := e.gpu.submitted[j.ID]
		e.gpu.submitted[j.ID] = true
		e.dispatchMu.Unlock()
		if done {
			continue
		}

		req, err := gpu.RequestFrom(p.Settings.GPU)
		if err == nil {
			err = e.gpu.sched.Submit(ctx, j.ID, req)
		}
		if err != nil {
			e.rejectGPU(j, fmt.Sprintf("gpu: %v", err))
		}
	}

	assigned, err := e.gpu.sched.Assign(ctx)
	if err != nil && !gpu.Unavailable(err) {
		e.log.Warn("gpu: assign", "err", err)
	}
	for _, a := range assigned {
		if e.grantService(a.JobID, serviceGrant{res: a.Reservation}) {
			continue
		}
		e.dispatchMu.Lock()
		e.gpu.ready[a.JobID] = a.Reservation
		e.dispatchMu.Unlock()
		e.log.Info("gpu reserved", "job", a.JobID, "device", a.Device, "waited", a.Waited.Round(time.Millisecond))
	}
	if len(assigned) > 0 {
		e.nudge()
	}

	for _, r := range e.gpu.sched.Expired() {
		if e.grantService(r.JobID, serviceGrant{err: errors.New(r.Reason)}) {
			continue
		}
		j, err := e.store.Get(r.JobID)
		if err != nil {
			continue
		}
		e.rejectGPU(j, "gpu: "+r.Reason)
	}
}

// rejectGPU fails a queued GPU job that cannot be given a device.
func (e *Engine) rejectGPU(j jobs.Job, reason string) {
	e.releaseGPU(j.ID)
	if err := e.store.Reject(j.ID, reason); err != nil {
		e.log.Warn("gpu: could not fail job", "job", j.ID, "err", err)
		return
	}
	e.counters.jobsFailed.Add(1)
	e.log.Info("job ended", "job", j.ID, "tool", j.Tool, "state", jobs.Failed, "reason", reason)
	e.appendStatus(j, jobs.Failed, nil, reason)
}

// gpuRunnable reports whether a worker may claim j now. The caller holds
// dispatchMu.
func (e *Engine) gpuRunnable(p *plugins.Plugin, j jobs.Job) bool {
	if !p.Settings.GPU.Enabled {
		return true
	}
	_, ok := e.gpu.ready[j.ID]
	return ok
}

// gpuSpec adds the reserved device to a GPU job's container.
func (e *Engine) gpuSpec(j jobs.Job, spec *containers.Spec) error {
	e.dispatchMu.Lock()
	r, ok := e.gpu.ready[j.ID]
	e.dispatchMu.Unlock()
	if !ok {
		return errors.New("gpu: no device reserved for this job")
	}

	ds, err := e.gpu.devices(r.Device)
	if err != nil {
		return fmt.Errorf("gpu %d: %w", r.Device, err)
	}
	for _, w := range ds.Warnings {
		e.log.Warn("gpu", "job", j.ID, "device", r.Device, "warning", w)
	}
	if err := e.gpu.sched.Attach(j.ID, spec.ID); err != nil {
		e.log.Warn("gpu: attach", "job", j.ID, "err", err)
	}
	for k, v := range r.Labels() {
		spec.Labels[k] = v
	}
	spec.Env = append(spec.Env, ds.Env...)
	if len(ds.CDIDevices) > 0 {
		// The NVIDIA Container Toolkit's CDI spec brings the device nodes
		// and the driver libraries.
		spec.CDIDevices = ds.CDIDevices
		return nil
	}
	spec.Devices = ds.LinuxDevices()
	spec.DeviceRules = ds.CgroupRules()
	return nil
}

// releaseGPU frees a job's device or its place in the GPU queue.
func (e *Engine) releaseGPU(id string) {
	e.dispatchMu.Lock()
	_, had := e.gpu.submitted[id]
	delete(e.gpu.ready, id)
	delete(e.gpu.submitted, id)
	e.dispatchMu.Unlock()
	if had {
		if err := e.gpu.sched.Release(id); err != nil && !errors.Is(err, gpu.ErrUnknownJob) {
			e.log.Warn("gpu: release", "job", id, "err", err)
		}
	}
}

// grantService hands a scheduler decision to a waiting service instance and
// reports whether id was one.
func (e *Engine) grantService(id string, g serviceGrant) bool {
	e.dispatchMu.Lock()
	ch, ok := e.gpu.services[id]
	delete(e.gpu.services, id)
	e.dispatchMu.Unlock()
	if ok {
		ch <- g
	}
	return ok
}

// reserveServiceGPU puts a GPU service instance through the same
// accounting as GPU jobs: it waits (up to [gpu] max_wait, or until ctx
// ends) for the scheduler to reserve a device, then adds the device to the
// container. The reservation lasts until releaseServiceGPU.
func (e *Engine) reserveServiceGPU(ctx context.Context, p *plugins.Plugin, spec *containers.Spec) error {
	req, err := gpu.RequestFrom(p.Settings.GPU)
	if err != nil {
		return err
	}
	id := servicePrefix + spec.ID
	ch := make(chan serviceGrant, 1)
	e.dispatchMu.Lock()
	e.gpu.services[id] = ch
	e.dispatchMu.Unlock()
	if err := e.gpu.sched.Submit(ctx, id, req); err != nil {
		e.grantService(id, serviceGrant{})
		return fmt.Errorf("gpu: %w", err)
	}

	var g serviceGrant
	select {
	case g = <-ch:
	case <-ctx.Done():
		e.grantService(id, serviceGrant{})
		e.gpu.sched.Release(id)
		return ctx.Err()
	}
	if g.err != nil {
		return fmt.Errorf("gpu: %w", g.err)
	}

	e.dispatchMu.Lock()
	e.gpu.ready[id] = g.res
	e.dispatchMu.Unlock()
	if err := e.gpuSpec(jobs.Job{ID: id}, spec); err != nil {
		e.releaseServiceGPU(spec.ID)
		return err
	}
	return nil
}

// releaseServiceGPU frees the device of a stopped service instance.
func (e *Engine) releaseServiceGPU(container string) {
	id := servicePrefix + container
	e.dispatchMu.Lock()
	_, had := e.gpu.ready[id]
	delete(e.gpu.ready, id)
	e.dispatchMu.Unlock()
	if had {
		if err := e.gpu.sched.Release(id); err != nil && !errors.Is(err, gpu.ErrUnknownJob) {
			e.log.Warn("gpu: release", "service", container, "err", err)
		}
	}
}

// GPUSnapshot returns the scheduler's view of devices, reservations and
// the GPU queue.
func (e *Engine) GPUSnapshot() gpu.Snapshot { return e.gpu.sched.Snapshot() }
