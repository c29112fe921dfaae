package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"

	"github.com/ventapp/ventapp/api"
	"github.com/ventapp/ventapp/config"
	"github.com/ventapp/ventapp/engine"
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

func cmdServe(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "serve")
	if _, err := parseInterspersed(fs, args); err != nil {
		return err
	}

	cfg, err := env.loadConfig()
	if err != nil {
		return err
	}
	log := newLogger(env, cfg.LogLevel)
	for _, w := range cfg.Warnings {
		log.Warn("config", "warning", w)
	}
	if cfg.Path == "" {
		log.Info("no config file found; running on the embedded defaults")
	}

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	e, err := engine.New(cfg, log, version)
	if err != nil {
		return err
	}
	defer e.Close()

	srv := api.NewServer(e, log.With("part", "api"))
	apiErr := make(chan error, 1)
	go func() { apiErr <- srv.ListenUnix(ctx, cfg.Socket) }()

	if cfg.VentTapAPI != "" {
		go serveVentTapAPI(ctx, log, cfg.VentTapAPI, e.Taps().VentHandler())
	}

	engineErr := make(chan error, 1)
	go func() {
		engineErr <- e.Run(ctx, func() {
			daemon.SdNotify(false, daemon.SdNotifyReady)
		})
	}()

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

func newLogger(env *cliEnv, level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(env.stderr, &slog.HandlerOptions{Level: l}))
}

func cmdVersion(ctx context.Context, env *cliEnv, args []string) error {
	fmt.Fprintf(env.stdout, "ventapp %s (commit %s)\n", version, commit)
	return nil
}

func cmdConfig(ctx context.Context, env *cliEnv, args []string) error {
	if len(args) != 1 || args[0] != "default" {
		return fmt.Errorf("%w: want `ventapp config default`", errUsage)
	}
	fmt.Fprint(env.stdout, config.Default())
	return nil
}
