package engine

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/ventapp/ventapp/config"
)

// liveSettings are the settings a running engine takes from a reloaded
// config (SIGHUP). Everything else needs a restart.
type liveSettings struct {
	JobTimeout        time.Duration
	MaxAttempts       int
	RetryBackoff      time.Duration
	MaxLinesPerJob    int
	UseExistingImages bool
	Warnings          []string
}

func liveFrom(c *config.Config) *liveSettings {
	return &liveSettings{
		JobTimeout:        c.JobTimeout,
		MaxAttempts:       c.MaxAttempts,
		RetryBackoff:      c.RetryBackoff,
		MaxLinesPerJob:    c.MaxLinesPerJob,
		UseExistingImages: c.UseExistingImages,
		Warnings:          c.Warnings,
	}
}

// live returns the settings in force now.
func (e *Engine) live() *liveSettings { return e.liveCfg.Load() }

// Reload applies a newly read config: job timeout, attempts, backoff, the
// per-job line cap and use_existing_images take effect for the next jobs.
// It returns the keys that changed but only take effect after a restart.
func (e *Engine) Reload(c *config.Config) []string {
	e.liveCfg.Store(liveFrom(c))

	old, now := e.cfg, c
	var restart []string
	for _, f := range []struct {
		key  string
		a, b any
	}{
		{"[main] files", old.Files, now.Files},
		{"[ventapp] data_dir", old.DataDir, now.DataDir},
		{"[containerd] address", old.ContainerdAddress, now.ContainerdAddress},
		{"[containerd] namespace", old.ContainerdNamespace, now.ContainerdNamespace},
		{"[containerd] fifo_dir", old.ContainerdFIFODir, now.ContainerdFIFODir},
		{"[jobs] workers", old.Workers, now.Workers},
		{"[jobs] shutdown_grace", old.ShutdownGrace, now.ShutdownGrace},
		{"[drop] quiet_period", old.QuietPeriod, now.QuietPeriod},
		{"[drop] rescan_interval", old.RescanInterval, now.RescanInterval},
		{"[api] socket", old.Socket, now.Socket},
		{"[index] batch_size", old.IndexBatchSize, now.IndexBatchSize},
		{"[index] flush_interval", old.IndexFlushInterval, now.IndexFlushInterval},
		{"[taps] vent_api", old.VentTapAPI, now.VentTapAPI},
		{"[taps] netns", old.TapNetns, now.TapNetns},
		{"[gpu]", []any{old.GPUCountForeignMemory, old.GPUMaxWait, old.GPUStarveAfter},
			[]any{now.GPUCountForeignMemory, now.GPUMaxWait, now.GPUStarveAfter}},
		{"[web]", []any{old.WebListen, old.WebTokenFile, old.WebTLSCert, old.WebTLSKey, old.WebMaxUpload},
			[]any{now.WebListen, now.WebTokenFile, now.WebTLSCert, now.WebTLSKey, now.WebMaxUpload}},
	} {
		if !reflect.DeepEqual(f.a, f.b) {
			restart = append(restart, f.key)
		}
	}
	e.log.Info("config reloaded", "file", c.Path, "job_timeout", c.JobTimeout, "max_attempts", c.MaxAttempts)
	if len(restart) > 0 {
		e.log.Warn("config changes that take effect only after a restart", "keys", restart)
	}
	e.nudge()
	return restart
}

// Alive checks that the engine's main paths still move: the dispatcher's
// lock can be taken, the job store answers, and the intake loop has ticked
// recently. The systemd watchdog is fed only while it returns nil, so a
// hung daemon is restarted.
func (e *Engine) Alive(ctx context.Context) error {
	locked := make(chan struct{})
	go func() {
		e.dispatchMu.Lock()
		e.dispatchMu.Unlock()
		close(locked)
	}()
	select {
	case <-locked:
	case <-ctx.Done():
		return errors.New("dispatcher lock held too long")
	}

	if _, err := e.store.Counts(); err != nil {
		return fmt.Errorf("job store: %w", err)
	}
	if beat := time.Unix(0, e.heartbeat.Load()); time.Since(beat) > 30*time.Second {
		return fmt.Errorf("intake loop last ticked %s ago", time.Since(beat).Round(time.Second))
	}
	return nil
}
