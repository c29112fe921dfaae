package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.etcd.io/bbolt"

	"github.com/ventapp/ventapp/api"
	"github.com/ventapp/ventapp/config"
	"github.com/ventapp/ventapp/containers"
	"github.com/ventapp/ventapp/ops"
)

// backupPath is the daemon's backup endpoint (served by ops.Handler).
const backupPath = "/api/v1/backup"

// progress returns a function printing one plain line per step on stderr.
// progress reports a long operation's steps on stderr (a redrawn line on
// a terminal, plain lines elsewhere); quiet reports nothing. finish ends
// the report with the outcome.
func (env *cliEnv) progress(quiet bool, label string) (note func(string), finish func(error)) {
	if quiet {
		return nil, func(error) {}
	}
	p := newProgress(env.stderr, label, 0)
	return p.note, func(err error) { p.finish(result(err)) }
}

// cmdBackup writes a backup archive: through the daemon when one answers,
// else straight from the stopped installation's files.
func cmdBackup(ctx context.Context, env *cliEnv, args []string) (err error) {
	fs := newFlags(env, "backup")
	out := fs.String("o", "", "archive to write (default ventapp-backup-<time>.tar.gz; - for stdout)")
	logs := fs.Bool("logs", false, "include the raw plugin logs (offline backups only)")
	quiet := fs.Bool("q", false, "no progress lines")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return fmt.Errorf("%w: backup takes no arguments", errUsage)
	}
	cfg, err := env.loadConfig()
	if err != nil {
		return err
	}
	progress, finish := env.progress(*quiet, "backup")
	if progress == nil {
		progress = func(string) {}
	}
	defer func() { finish(err) }()

	name := *out
	if name == "" {
		name = "ventapp-backup-" + time.Now().UTC().Format("20060102T150405Z") + ".tar.gz"
	}
	toStdout := name == "-"
	var f *os.File
	tmp := name + ".part"
	if toStdout {
		f = os.Stdout
	} else {
		f, err = os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return fmt.Errorf("backup file: %w", err)
		}
		defer os.Remove(tmp)
		defer f.Close()
	}

	err = api.NewClient(cfg.Socket).Get(ctx, backupPath, nil, f)
	switch {
	case err == nil:
		progress("backup taken by the running daemon")
	case errors.Is(err, api.ErrNoDaemon):
		progress("no daemon answers; reading " + cfg.DataDir + " directly")
		err = offlineBackup(ctx, cfg, f, *logs, progress)
	default:
		var se *api.StatusError
		if errors.As(err, &se) && se.Code == 404 {
			err = fmt.Errorf("the running daemon has no backup endpoint; stop it (systemctl stop ventapp) and run backup again")
		}
	}
	if err != nil || toStdout {
		return err
	}

	if err := f.Sync(); err != nil {
		return fmt.Errorf("backup file %s: %w", tmp, err)
	}
	if _, err := f.Seek(0, 0); err != nil {
		return err
	}
	m, err := ops.Verify(f)
	if err != nil {
		return fmt.Errorf("the archive written to %s does not verify: %w", tmp, err)
	}
	if err := os.Rename(tmp, name); err != nil {
		return fmt.Errorf("backup file: %w", err)
	}
	fi, _ := os.Stat(name)
	size := int64(0)
	if fi != nil {
		size = fi.Size()
	}
	fmt.Fprintf(env.stdout, "%s\t%d members, %s, job store schema %d, ventapp %s\n",
		name, len(m.Members)+1, humanBytes(uint64(size)), m.JobsSchema, m.Version)
	return nil
}

// offlineBackup backs up a stopped installation. bbolt's shared lock makes
// the read-only open fail while a daemon holds the store, so the index
// files are read only when nothing writes them.
func offlineBackup(ctx context.Context, cfg *config.Config, f *os.File, logs bool, progress func(string)) error {
	db, err := bbolt.Open(cfg.JobsDB(), 0o600, &bbolt.Options{ReadOnly: true, Timeout: 2 * time.Second})
	if errors.Is(err, bbolt.ErrTimeout) {
		return fmt.Errorf("%s is locked: a daemon seems to run without answering on %s", cfg.JobsDB(), cfg.Socket)
	}
	if err != nil {
		return fmt.Errorf("job store %s: %w", cfg.JobsDB(), err)
	}
	defer db.Close()
	return ops.Backup(ctx, f, ops.BackupSource{
		DB: db, DataDir: cfg.DataDir, ConfigPath: cfg.Path, IndexDir: cfg.IndexDir(),
		IncludeLogs: logs, Version: version, Progress: progress,
	})
}

// cmdRestore verifies an archive and restores it into the data dir and
// config path the global flags select.
func cmdRestore(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "restore")
	force := fs.Bool("force", false, "restore even though a daemon seems to run (stop it yourself first)")
	discard := fs.Bool("discard-old", false, "delete the previous data dir instead of keeping it beside")
	quiet := fs.Bool("q", false, "no progress lines")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("%w: restore takes one archive", errUsage)
	}
	cfg, err := env.loadConfig()
	if err != nil {
		return err
	}

	note, finish := env.progress(*quiet, "restore")
	opts := ops.RestoreOptions{Force: *force, Socket: cfg.Socket, DiscardOld: *discard, Progress: note}
	if c, err := connectContainerd(ctx, cfg); err == nil {
		defer c.Close()
		opts.HaveImage = func(ref string) (bool, error) { return c.ImageExists(ctx, ref) }
	}
	rep, err := ops.Restore(pos[0], cfg.DataDir, env.restoreConfigPath(cfg), opts)
	finish(err)
	if err != nil {
		return err
	}
	printReport(env, rep)
	for _, im := range rep.Images {
		switch {
		case im.Present:
			fmt.Fprintf(env.stdout, "image\t%s for %s is present\n", im.Image, im.Tool)
		case im.Action == "rebuild":
			fmt.Fprintf(env.stdout, "image\t%s for %s is missing: the daemon rebuilds it from the restored "+
				"source when it starts (or run `ventapp plugins build %s`)\n", im.Image, im.Tool, im.Tool)
		default:
			fmt.Fprintf(env.stdout, "image\t%s for %s is missing and its source was not saved: "+
				"run `ventapp images import FILE`\n", im.Image, im.Tool)
		}
	}
	return nil
}

// restoreConfigPath is where the backed-up config goes: the file in use,
// else the one the flags name, else the usual place.
func (env *cliEnv) restoreConfigPath(cfg *config.Config) string {
	switch {
	case cfg.Path != "":
		return cfg.Path
	case env.configPath != "":
		return env.configPath
	case env.dataDir != "":
		return filepath.Join(env.dataDir, config.ConfigFileName)
	}
	return config.SystemConfigPath
}

// cmdReset is the factory reset.
func cmdReset(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "reset")
	yes := fs.Bool("yes", false, "really remove ventapp's containers, images and state")
	files := fs.Bool("files", false, "also remove the files in the drop folder")
	skipCtrd := fs.Bool("skip-containerd", false, "reset the state even when containerd is unreachable")
	force := fs.Bool("force", false, "reset even though a daemon seems to run (stop it yourself first)")
	quiet := fs.Bool("q", false, "no progress lines")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return fmt.Errorf("%w: reset takes no arguments", errUsage)
	}
	cfg, err := env.loadConfig()
	if err != nil {
		return err
	}
	if !*yes {
		what := "every container, image and snapshot in containerd namespace " + cfg.ContainerdNamespace +
			" and everything in " + cfg.DataDir
		if *files {
			what += ", and the files in " + cfg.Files
		}
		return fmt.Errorf("%w: this removes %s; add --yes to do it", errUsage, what)
	}

	note, finish := env.progress(*quiet, "reset")
	plan := ops.ResetPlan{DataDir: cfg.DataDir, DropDir: cfg.Files, Files: *files, Socket: cfg.Socket,
		Force: *force, Progress: note}
	c, err := connectContainerd(ctx, cfg)
	switch {
	case err == nil:
		defer c.Close()
		plan.Containerd = c
	case !*skipCtrd:
		finish(err)
		return fmt.Errorf("%w; nothing was removed (use --skip-containerd to reset only the state)", err)
	}
	rep, err := ops.Reset(ctx, plan)
	finish(err)
	printReport(env, rep)
	return err
}

func connectContainerd(ctx context.Context, cfg *config.Config) (*containers.Client, error) {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, err := containers.Connect(cctx, containers.Options{Address: cfg.ContainerdAddress,
		Namespace: cfg.ContainerdNamespace, FIFODir: cfg.ContainerdFIFODir})
	if err != nil {
		return nil, err
	}
	if _, err := c.Ping(cctx); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// printReport prints one line per item: what was restored, removed, kept.
func printReport(env *cliEnv, rep ops.Report) {
	line := func(verb string, it ops.Item) {
		var extra []string
		if it.Files > 0 {
			extra = append(extra, fmt.Sprintf("%d files, %s", it.Files, humanBytes(uint64(it.Bytes))))
		}
		if it.Detail != "" {
			extra = append(extra, it.Detail)
		}
		s := fmt.Sprintf("%s\t%s %s", verb, it.Kind, it.Name)
		if len(extra) > 0 {
			s += " (" + strings.Join(extra, "; ") + ")"
		}
		fmt.Fprintln(env.stdout, s)
	}
	for _, it := range rep.Restored {
		line("restored", it)
	}
	for _, it := range rep.Removed {
		line("removed", it)
	}
	for _, it := range rep.Kept {
		line("kept", it)
	}
	for _, n := range rep.Notes {
		fmt.Fprintf(env.stdout, "note\t%s\n", n)
	}
}
