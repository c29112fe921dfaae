package containers

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/errdefs"
)

// ErrServiceStopped is returned by Service methods called after Stop.
var ErrServiceStopped = errors.New("service stopped")

// Service restart and stop defaults.
const (
	// DefaultStopGrace is how long Stop waits after SIGTERM before SIGKILL.
	DefaultStopGrace = 10 * time.Second

	// minRestartDelay and maxRestartDelay bound the delay before a service
	// whose container exited is started again; the delay doubles with
	// every exit that follows a short run and resets after a long one.
	minRestartDelay = 500 * time.Millisecond
	maxRestartDelay = time.Minute

	// stableRun is how long a service must run for its next exit to be
	// restarted after the shortest delay again.
	stableRun = 30 * time.Second

	// maxLogBytes is the size above which the logging process moves a
	// service's log file to "<log>.1".
	maxLogBytes = 16 << 20
)

// ServiceOptions configure RunService.
type ServiceOptions struct {
	// LogPath is the file that receives the container's stdout and stderr,
	// appended by a logging process that containerd's shim runs (see
	// Options.ServiceLogger), so output is kept while ventapp is down.
	// Required; its folder is created.
	LogPath string

	// NoRestart leaves the container stopped when its process exits. By
	// default it is started again after a delay that grows while it keeps
	// failing (vent's restart_policy "always").
	NoRestart bool

	// StopGrace is how long Stop waits after SIGTERM before SIGKILL.
	// Default: DefaultStopGrace.
	StopGrace time.Duration
}

// ServiceStatus is what a Service is doing now.
type ServiceStatus struct {
	// ID is the container id.
	ID string `json:"id"`

	// Running reports that the container's process is running.
	Running bool `json:"running"`

	// Pid is the process id of the running task on the host; 0 when not
	// running.
	Pid uint32 `json:"pid,omitempty"`

	// StartedAt is when the current (or last) task started.
	StartedAt time.Time `json:"started_at,omitzero"`

	// Restarts counts the times the container was started again after an
	// exit.
	Restarts int `json:"restarts"`

	// LastExit is the exit code of the last exit, -1 when none yet.
	LastExit int `json:"last_exit"`

	// LastError says why the last (re)start failed; empty after a start
	// that worked.
	LastError string `json:"last_error,omitempty"`
}

// Service supervises one long-running container: it keeps its task
// running, restarting it after an exit, until Stop removes it. Its methods
// are safe for concurrent use.
type Service struct {
	c      *Client
	spec   Spec
	o      ServiceOptions
	logExe string // the logging program (see serviceLogIO)
	ctr    client.Container

	ctx    context.Context // namespace, never cancelled by the caller
	cancel context.CancelFunc
	done   chan struct{}

	mu        sync.Mutex
	task      client.Task
	status    ServiceStatus
	loggerPid int // the present task's logging process, once seen; 0 before
}

// RunService creates the container s describes and starts it with its
// output appended to o.LogPath, then watches it in the background. It
// returns once the first start worked, or with the reason it did not; on
// failure nothing is left behind. s.Timeout, s.Stdout and s.Stderr are
// ignored. The container carries LabelKey=LabelValue, so Sweep removes it
// after a crash of ventapp.
func (c *Client) RunService(ctx context.Context, s Spec, o ServiceOptions) (*Service, error) {
	if err := s.validate(); err != nil {
		return nil, err
	}
	if o.LogPath == "" || !filepath.IsAbs(o.LogPath) {
		return nil, fmt.Errorf("%w: service %s: the log path %q must be absolute", ErrInvalidSpec, s.ID, o.LogPath)
	}
	if o.StopGrace <= 0 {
		o.StopGrace = DefaultStopGrace
	}
	if err := os.MkdirAll(filepath.Dir(o.LogPath), 0o750); err != nil {
		return nil, fmt.Errorf("service %s: log folder: %w", s.ID, err)
	}
	logExe := c.logExe
	if logExe == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("service %s: finding the program that writes its log: %w", s.ID, err)
		}
		logExe = exe
	}
	s.Timeout, s.Stdout, s.Stderr = 0, nil, nil

	ctx = c.nsCtx(ctx)
	img, err := c.runImage(ctx, s.Image)
	if err != nil {
		return nil, err
	}
	ctr, err := c.createContainer(ctx, &s, img)
	if err != nil {
		return nil, err
	}

	sctx, cancel := context.WithCancel(c.nsCtx(context.WithoutCancel(ctx)))
	sv := &Service{
		c: c, spec: s, o: o, logExe: logExe, ctr: ctr, ctx: sctx, cancel: cancel,
		done:   make(chan struct{}),
		status: ServiceStatus{ID: s.ID, LastExit: -1},
	}
	exitCh, err := sv.startTask(ctx)
	if err != nil {
		cancel()
		close(sv.done)
		sv.remove()
		return nil, err
	}
	go sv.supervise(exitCh)
	return sv, nil
}

// ID returns the container id.
func (sv *Service) ID() string { return sv.spec.ID }

// Spec returns the spec the service was started with.
func (sv *Service) Spec() Spec { return sv.spec }

// Status returns what the service is doing now.
func (sv *Service) Status() ServiceStatus {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	return sv.status
}

// Done is closed when the service has stopped for good: after Stop, or
// after its process exited with NoRestart set.
func (sv *Service) Done() <-chan struct{} { return sv.done }

// startTask creates and starts a new task on the container, logging to
// the log file, and returns the channel its exit arrives on.
func (sv *Service) startTask(ctx context.Context) (<-chan client.ExitStatus, error) {
	// The logging process cannot tell anyone that it failed to open the
	// file, so check here that it can (its folder may have been removed
	// since the last start).
	if err := os.MkdirAll(filepath.Dir(sv.o.LogPath), 0o750); err != nil {
		return nil, fmt.Errorf("%w: service %s: log folder: %w", ErrStart, sv.spec.ID, err)
	}
	f, _, err := openLogFile(sv.o.LogPath)
	if err != nil {
		return nil, fmt.Errorf("%w: service %s: log file: %w", ErrStart, sv.spec.ID, err)
	}
	f.Close()

	task, err := sv.ctr.NewTask(ctx, serviceLogIO(sv.logExe, sv.o.LogPath))
	if err != nil {
		return nil, sv.c.startErr(ctx, err, "create task for service %s", sv.spec.ID)
	}
	exitCh, err := task.Wait(sv.ctx)
	if err == nil {
		err = task.Start(ctx)
	}
	if err != nil {
		dctx, cancel := cleanupCtx(sv.ctx)
		defer cancel()
		_, _ = task.Delete(dctx, client.WithProcessKill)
		return nil, sv.c.startErr(ctx, err, "start service %s", sv.spec.ID)
	}

	// The shim waited for the logging process before it made the task.
	logger := findLogger(sv.o.LogPath)
	sv.mu.Lock()
	sv.task, sv.loggerPid = task, logger
	sv.status.Running, sv.status.Pid = true, task.Pid()
	sv.status.StartedAt, sv.status.LastError = time.Now(), ""
	sv.mu.Unlock()
	sv.c.log.Info("service started", "container", sv.spec.ID, "image", sv.spec.Image, "pid", task.Pid())
	return exitCh, nil
}

// supervise waits for each exit and starts the task again until Stop.
func (sv *Service) supervise(exitCh <-chan client.ExitStatus) {
	defer close(sv.done)
	delay := minRestartDelay

	tick := time.NewTicker(loggerCheckEvery)
	defer tick.Stop()
	for {
		var st client.ExitStatus
		select {
		case <-sv.ctx.Done():
			return
		case <-tick.C:
			sv.checkLogger()
			continue
		case st = <-exitCh:
		}
		code, _, err := st.Result()
		if err != nil {
			// containerd went away while we waited: the task may still run
			// in its shim. Wait for containerd and look again.
			if exitCh = sv.reattach(); exitCh == nil {
				return
			}
			continue
		}

		sv.mu.Lock()
		ran := time.Since(sv.status.StartedAt)
		sv.status.Running, sv.status.Pid, sv.status.LastExit = false, 0, int(code)
		task := sv.task
		sv.task = nil
		sv.mu.Unlock()
		sv.c.log.Warn("service exited", "container", sv.spec.ID, "exit", code, "ran", ran.Round(time.Millisecond))
		sv.deleteTask(task)

		if sv.o.NoRestart {
			return
		}
		if ran >= stableRun {
			delay = minRestartDelay
		}
		for {
			select {
			case <-sv.ctx.Done():
				return
			case <-time.After(delay):
			}
			delay = min(delay*2, maxRestartDelay)
			var err error
			if exitCh, err = sv.startTask(sv.ctx); err == nil {
				sv.mu.Lock()
				sv.status.Restarts++
				sv.mu.Unlock()
				break
			}
			sv.mu.Lock()
			sv.status.LastError = err.Error()
			sv.mu.Unlock()
			sv.c.log.Warn("service did not restart; trying again", "container", sv.spec.ID,
				"in", delay, "err", err)
		}
	}
}

// reattach waits for containerd to answer again and returns the exit
// channel of the container's task, or nil when the service was stopped.
// A task that is gone is reported as an exit with code 255 so that the
// restart logic runs.
func (sv *Service) reattach() <-chan client.ExitStatus {
	for {
		select {
		case <-sv.ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
		task, err := sv.ctr.Task(sv.ctx, nil)
		if errdefs.IsNotFound(err) {
			ch := make(chan client.ExitStatus, 1)
			ch <- *client.NewExitStatus(255, time.Now(), nil)
			return ch
		}
		if err != nil {
			continue
		}
		ch, err := task.Wait(sv.ctx)
		if err != nil {
			continue
		}
		sv.mu.Lock()
		sv.task = task
		sv.mu.Unlock()
		sv.c.log.Info("service re-attached after containerd came back", "container", sv.spec.ID)
		return ch
	}
}

// deleteTask removes an exited task so that a new one can be created.
func (sv *Service) deleteTask(task client.Task) {
	if task == nil {
		return
	}
	dctx, cancel := cleanupCtx(sv.ctx)
	defer cancel()
	if err := removeTask(dctx, task, client.WithProcessKill); err != nil {
		sv.c.log.Warn("could not delete exited service task", "container", sv.spec.ID, "err", err)
	}
}

// Stop ends supervision, sends SIGTERM to the container's processes, then
// SIGKILL after the grace period, and removes the task, the container and
// its snapshot. It is safe to call more than once.
func (sv *Service) Stop(ctx context.Context) error {
	sv.cancel()
	<-sv.done

	sv.mu.Lock()
	task := sv.task
	sv.task = nil
	sv.status.Running, sv.status.Pid = false, 0
	sv.mu.Unlock()

	var errs []error
	if task != nil {
		errs = append(errs, sv.stopTask(ctx, task))
	}
	errs = append(errs, sv.remove())
	return errors.Join(errs...)
}

// stopTask sends SIGTERM, waits up to the grace period, then kills.
func (sv *Service) stopTask(ctx context.Context, task client.Task) error {
	cctx, cancel := context.WithTimeout(sv.c.nsCtx(context.WithoutCancel(ctx)), sv.o.StopGrace+killGrace+cleanupTimeout)
	defer cancel()

	exitCh, err := task.Wait(cctx)
	if err != nil {
		if errdefs.IsNotFound(err) {
			return nil
		}
		return sv.c.wrapErr(err, "wait for service %s", sv.spec.ID)
	}
	if err := task.Kill(cctx, syscall.SIGTERM, client.WithKillAll); err != nil && !errdefs.IsNotFound(err) {
		sv.c.log.Warn("could not signal service", "container", sv.spec.ID, "err", err)
	}
	select {
	case <-exitCh:
	case <-time.After(sv.o.StopGrace):
		sv.c.log.Info("service ignored SIGTERM; killing it", "container", sv.spec.ID, "grace", sv.o.StopGrace)
		if _, err := sv.c.killAndWait(cctx, task, exitCh, sv.spec.ID); err != nil {
			return err
		}
	}
	if err := removeTask(cctx, task, client.WithProcessKill); err != nil {
		return fmt.Errorf("%w: delete task of service %s: %w", ErrCleanup, sv.spec.ID, err)
	}
	return nil
}

// remove deletes the container and its snapshot.
func (sv *Service) remove() error {
	dctx, cancel := cleanupCtx(sv.ctx)
	defer cancel()
	err := sv.ctr.Delete(dctx, client.WithSnapshotCleanup)
	if err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("%w: remove service container %s and its snapshot: %w", ErrCleanup, sv.spec.ID, err)
	}
	sv.c.log.Info("service removed", "container", sv.spec.ID)
	return nil
}
