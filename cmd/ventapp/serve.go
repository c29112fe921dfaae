package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"

	"github.com/ventapp/ventapp/api"
	"github.com/ventapp/ventapp/config"
	"github.com/ventapp/ventapp/engine"
	"github.com/ventapp/ventapp/web"
)

// loadConfig finds and reads the config the same way for the daemon and
// its clients.
func (env *cliEnv) loadConfig() (*config.Config, error) {
	path, err := config.Locate(env.configPath, env.dataDir)
	if err != nil {
		return nil, err
	}
	return config.Load(path, env.dataDir)
}

// serveGCPercent is the daemon's garbage collector target unless GOGC is
// set. Indexing plugin output allocates quickly and keeps little, so
// collecting at 400% heap growth instead of Go's 100% saves about a
// quarter of the CPU per indexed line (BENCHMARKS.md); serveMemoryLimit
// keeps the larger heap it allows within bounds.
const serveGCPercent = 400

// Bounds of the daemon's soft memory limit.
const (
	minMemoryLimit = 256 << 20
	maxMemoryLimit = 2 << 30
)

// serveMemoryLimit returns the soft memory limit the daemon sets unless
// GOMEMLIMIT is set: a quarter of the machine's memory, at least 256 MiB
// and at most 2 GiB. Near it the garbage collector runs more often instead
// of letting the heap grow by serveGCPercent.
func serveMemoryLimit() int64 {
	var si syscall.Sysinfo_t
	if err := syscall.Sysinfo(&si); err != nil {
		return maxMemoryLimit
	}
	total := int64(si.Totalram) * int64(si.Unit)
	return min(max(total/4, minMemoryLimit), maxMemoryLimit)
}

func cmdServe(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "serve")
	if err := noArgs(fs, args); err != nil {
		return err
	}

	cfg, err := env.loadConfig()
	if err != nil {
		return err
	}
	level := new(slog.LevelVar)
	level.Set(parseLevel(cfg.LogLevel))
	log := newLogger(env, level)
	for _, w := range cfg.Warnings {
		log.Warn("config", "warning", w)
	}
	if cfg.Path == "" {
		log.Info("no config file found; running on the embedded defaults")
	}
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(serveGCPercent)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(serveMemoryLimit())
	}

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	e, err := engine.New(cfg, log, version)
	if err != nil {
		return err
	}
	defer e.Close()

	srv := api.NewServer(e, log.With("part", "api"))
	page := web.Handler(srv, web.Options{DropDir: cfg.Files, MaxUpload: cfg.WebMaxUpload, Logger: log.With("part", "web")})
	apiErr := make(chan error, 1)
	go func() { apiErr <- api.ListenUnix(ctx, cfg.Socket, page) }()
	if cfg.WebListen != "" {
		token, err := readToken(cfg.WebTokenFile)
		if err != nil {
			return err
		}
		go serveWeb(ctx, log, cfg, web.Protect(page, token))
	}

	if cfg.VentTapAPI != "" {
		go serveVentTapAPI(ctx, log, cfg.VentTapAPI, e.Taps().VentHandler())
	}

	// READY=1 goes out only once the store, index, watcher and the first
	// containerd connection attempt are done; then the main loop feeds
	// the watchdog, reports STATUS= and reloads the config on SIGHUP.
	ready := make(chan struct{})
	engineErr := make(chan error, 1)
	go func() {
		engineErr <- e.Run(ctx, func() {
			daemon.SdNotify(false, daemon.SdNotifyReady+"\n"+statusLine(e))
			close(ready)
		})
	}()
	go supervise(ctx, env, log, level, e, ready)

	select {
	case err = <-apiErr:
		if err != nil {
			stop()
			<-engineErr
			return err
		}
		err = <-engineErr
	case err = <-engineErr:
		stop()
		<-apiErr
	}
	daemon.SdNotify(false, daemon.SdNotifyStopping)
	log.Info("ventapp stopped")
	return err
}

// readToken reads the web listener's token, refusing a file others can
// read or an empty one.
func readToken(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("web token file: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("web token file %s: readable by others (mode %v); chmod 600 it", path, fi.Mode().Perm())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("web token file: %w", err)
	}
	token := strings.TrimSpace(string(data))
	if len(token) < 16 {
		return "", fmt.Errorf("web token file %s: the token must be at least 16 characters", path)
	}
	return token, nil
}

// serveWeb serves the page and API on the opt-in TCP listener.
func serveWeb(ctx context.Context, log *slog.Logger, cfg *config.Config, h http.Handler) {
	srv := &http.Server{Addr: cfg.WebListen, Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	log.Info("web page and API listening", "addr", cfg.WebListen, "tls", cfg.WebTLSCert != "")
	var err error
	if cfg.WebTLSCert != "" {
		err = srv.ListenAndServeTLS(cfg.WebTLSCert, cfg.WebTLSKey)
	} else {
		err = srv.ListenAndServe()
	}
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Error("web listener", "addr", cfg.WebListen, "err", err)
	}
}

// serveVentTapAPI answers vent's network_tap routes on a TCP address until
// ctx ends. A listener that cannot start is logged, not fatal.
func serveVentTapAPI(ctx context.Context, log *slog.Logger, addr string, h http.Handler) {
	srv := &http.Server{Addr: addr, Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	log.Info("vent network_tap API listening", "addr", addr)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Error("vent network_tap API", "addr", addr, "err", err)
	}
}

// supervised is what the main loop needs of the engine; tests stand in a
// fake that stalls.
type supervised interface {
	// Alive returns nil once the engine's own loop has answered.
	Alive(ctx context.Context) error
	// Status reports the counters that STATUS= carries.
	Status() engine.Status
	// Reload applies a freshly read config.
	Reload(c *config.Config) []string
}

// supervise is the daemon's main loop beside the engine: systemd watchdog
// pings (only while the engine proves alive), STATUS= updates, and config
// reloads on SIGHUP.
func supervise(ctx context.Context, env *cliEnv, log *slog.Logger, level *slog.LevelVar, e supervised,
	ready <-chan struct{}) {
	select {
	case <-ready:
	case <-ctx.Done():
		return
	}

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	interval := 5 * time.Second
	watchdog, _ := daemon.SdWatchdogEnabled(false)
	if watchdog > 0 && watchdog/2 < interval {
		interval = watchdog / 2
	}
	t := time.NewTicker(interval)
	defer t.Stop()

	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			reload(env, log, level, e)
		case <-t.C:
			actx, cancel := context.WithTimeout(ctx, interval)
			err := e.Alive(actx)
			cancel()
			if err != nil {
				log.Error("engine is stuck; not feeding the watchdog", "err", err)
				continue
			}
			if watchdog > 0 {
				daemon.SdNotify(false, daemon.SdNotifyWatchdog)
			}
			daemon.SdNotify(false, statusLine(e))
		}
	}
}

// reload re-reads the config. A config with errors is refused whole and the
// running one stays.
func reload(env *cliEnv, log *slog.Logger, level *slog.LevelVar, e supervised) {
	daemon.SdNotify(false, daemon.SdNotifyReloading)
	defer daemon.SdNotify(false, daemon.SdNotifyReady)

	cfg, err := env.loadConfig()
	if err != nil {
		log.Error("config reload refused; keeping the running config", "err", err)
		return
	}
	for _, w := range cfg.Warnings {
		log.Warn("config", "warning", w)
	}
	level.Set(parseLevel(cfg.LogLevel))
	e.Reload(cfg)
}

func statusLine(e supervised) string {
	s := e.Status()
	ctr := "containerd ok"
	if !s.Containerd.Healthy {
		ctr = "containerd unavailable"
	}
	return fmt.Sprintf("STATUS=queued %d, running %d, done %d, failed %d; %s",
		s.Jobs["queued"], s.Jobs["running"], s.Jobs["done"], s.Jobs["failed"], ctr)
}

func parseLevel(s string) slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return slog.LevelInfo
	}
	return l
}

// newLogger logs structured lines to stderr. Under systemd (JOURNAL_STREAM
// set) each line starts with its syslog priority, <3> to <7>, so journald
// files it at the right level.
func newLogger(env *cliEnv, level slog.Leveler) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if os.Getenv("JOURNAL_STREAM") != "" {
		return slog.New(newJournalHandler(env.stderr, opts))
	}
	return slog.New(slog.NewTextHandler(env.stderr, opts))
}

func cmdVersion(ctx context.Context, env *cliEnv, args []string) error {
	if err := noArgs(newFlags(env, "version"), args); err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "ventapp %s (commit %s)\n", version, commit)
	return nil
}

func cmdConfig(ctx context.Context, env *cliEnv, args []string) error {
	args, err := parseInterspersed(newFlags(env, "config"), args)
	if err != nil {
		return err
	}
	if len(args) != 1 || args[0] != "default" {
		return fmt.Errorf("%w: want `ventapp config default`", errUsage)
	}
	fmt.Fprint(env.stdout, config.Default())
	return nil
}
