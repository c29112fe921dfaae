package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/ventapp/ventapp/tui"
)

// cmdTUI runs the terminal user interface against the daemon.
func cmdTUI(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "tui")
	noColor := fs.Bool("no-color", false, "no colours or text attributes (also: the NO_COLOR variable)")
	interval := fs.Duration("interval", tui.DefaultInterval, "how often the screens refresh")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, pos[0])
	}
	if *interval < 100*time.Millisecond {
		return fmt.Errorf("%w: --interval %s is under 100ms", errUsage, *interval)
	}

	if !isTerminal(os.Stdin) || !isTerminal(os.Stdout) {
		return fmt.Errorf("the terminal UI needs a terminal on stdin and stdout; use `ventapp status` or --json output in scripts")
	}
	c, err := env.client()
	if err != nil {
		return err
	}
	opts := tui.Options{
		NoColor:  *noColor || os.Getenv("NO_COLOR") != "",
		Interval: *interval,
	}
	return tui.Run(ctx, c, os.Stdin, env.stdout, opts)
}

// isTerminal reports whether f is a character device, as a terminal is.
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
