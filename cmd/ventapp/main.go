// Command ventapp is a network-traffic analysis appliance in one binary.
//
// `ventapp serve` runs the appliance: it watches the drop folder, queues
// every file that an installed plugin claims, runs the plugin containers
// through containerd and indexes their output for search. Every other
// command is a client of a running daemon, reached through the Unix socket
// in the data dir, except `drop`, which writes into the drop folder itself.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/ventapp/ventapp/containers"
	"github.com/ventapp/ventapp/internal/termquiet"
)

// Set at build time with -ldflags "-X main.version=… -X main.commit=…".
var (
	version = "dev"
	commit  = "unknown"
)

// command is one subcommand of the CLI.
type command struct {
	name  string
	usage string // arguments after the command name
	short string // one capitalised line
	run   func(ctx context.Context, env *cliEnv, args []string) error
}

// cliEnv is what every command gets: its streams and the global flags.
type cliEnv struct {
	stdin          io.Reader // nil reads as empty
	stdout, stderr io.Writer
	configPath     string
	dataDir        string
}

// exitError carries a specific exit code.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// errUsage marks a command-line mistake: the usage is shown, exit code 2.
var errUsage = errors.New("usage")

func commands() []command {
	return []command{
		{"serve", "[--config FILE] [--data-dir DIR]", "Run the appliance in the foreground", cmdServe},
		{"plugins", "add PATH|URL [--branch B] [--commit C] [--tools a,b] [--core] " +
			"[--credentials-stdin] | list [--json] | " +
			"build|start|stop|clean|remove|update|rollback|enable|disable TOOL... | configure TOOL | " +
			"services [--json] | logs TOOL [-f] | export TOOL... -o FILE | import FILE | manifest",
			"Install and manage plugins", cmdPlugins},
		{"images", "import FILE | list [--json] | export IMAGE... -o FILE | rm IMAGE... | pull IMAGE...",
			"Load, list, export, remove and pull container images", cmdImages},
		{"drop", "FILE...", "Copy files into the drop folder, atomically", cmdDrop},
		{"process", "[--tools a,b] [--json] PATH...",
			"Run plugins on files already in the drop folder", cmdProcess},
		{"jobs", "[--json] [--state STATE] [--tool TOOL] [--file TEXT] [--limit N]", "List jobs, newest first", cmdJobs},
		{"job", "show ID [--json] | cancel ID | retry ID", "Show or change one job", cmdJob},
		{"tap", tapUsage, "Capture from NICs into rotating pcaps in the drop folder", cmdTap},
		{"gpu", "[--json]", "List this host's NVIDIA GPUs (no daemon needed)", cmdGPU},
		{"search", "[--json] [--limit N] [--offset N] [--by-time] QUERY", "Search plugin output (bleve query syntax)", cmdSearch},
		{"tui", "[--no-color] [--interval D]", "Browse status, jobs, plugins, taps and search in a terminal", cmdTUI},
		{"status", "[--json]", "Show counters, drop folder, containerd and index health", cmdStatus},
		{"backup", "[-o FILE|-] [--logs] [-q]", "Write a verified backup archive (through the daemon when it runs)", cmdBackup},
		{"restore", "FILE [--force] [--discard-old] [-q]", "Verify a backup and restore it (daemon stopped)", cmdRestore},
		{"reset", "--yes [--files] [--skip-containerd] [--force] [-q]",
			"Factory reset: remove ventapp's containers, images and state", cmdReset},
		{"config", "default", "Print the embedded default vent.cfg", cmdConfig},
		{"version", "", "Print the version", cmdVersion},
	}
}

func main() {
	// containerd's shim runs this binary to write a service's log.
	containers.ServiceLogMain()
	termquiet.Restore()
	env := &cliEnv{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr}
	os.Exit(run(context.Background(), env, os.Args[1:]))
}

// run executes one command line and returns the process exit code.
func run(ctx context.Context, env *cliEnv, args []string) int {
	rest, err := env.parseGlobal(args)
	if err != nil {
		fmt.Fprintf(env.stderr, "ventapp: %v\n", err)
	}
	if len(rest) == 2 && isHelp(rest[0]) && !isHelp(rest[1]) {
		rest = []string{rest[1], "-h"} // `ventapp help jobs` is `ventapp jobs -h`
	}
	if err != nil || len(rest) == 0 || rest[0] == "help" || rest[0] == "-h" || rest[0] == "--help" {
		if err != nil || len(rest) == 0 {
			usage(env.stderr)
			return 2
		}
		usage(env.stdout) // asked for: to stdout, so `ventapp help | less` works
		return 0
	}

	for _, c := range commands() {
		if c.name != rest[0] {
			continue
		}
		args := rest[1:]
		if strings.Contains(c.usage, " | ") && len(args) > 0 && isHelp(args[0]) {
			// A command made of subcommands: `plugins -h` lists them,
			// `plugins help logs` is `plugins logs -h`.
			if len(args) == 1 {
				subcommandsHelp(env.stdout, c)
				return 0
			}
			args = []string{args[1], "-h"}
		}
		err := c.run(ctx, env, args)
		if err == nil {
			return 0
		}
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		if errors.Is(err, errUsage) {
			name, usage := c.name, c.usage
			if len(rest) > 1 {
				if u := subUsage(c.usage, rest[1]); u != c.usage {
					name, usage = c.name+" "+rest[1], u
				}
			}
			msg := strings.TrimPrefix(err.Error(), errUsage.Error()+": ")
			msg = strings.TrimPrefix(msg, name+" ") // "tap create: tap create needs ..."
			fmt.Fprintf(env.stderr, "ventapp %s: %s\nusage: ventapp %s %s\n", name, msg, c.name, usage)
			return 2
		}
		fmt.Fprintf(env.stderr, "ventapp %s: %v\n", c.name, err)
		var ee *exitError
		if errors.As(err, &ee) {
			return ee.code
		}
		return 1
	}
	fmt.Fprintf(env.stderr, "ventapp: unknown command %q\n", rest[0])
	usage(env.stderr)
	return 2
}

// isHelp reports whether arg asks for help.
func isHelp(arg string) bool {
	return slices.Contains([]string{"-h", "-help", "--help", "help"}, arg)
}

// subcommandsHelp lists the subcommands of c, one a line.
func subcommandsHelp(w io.Writer, c command) {
	fmt.Fprintf(w, "usage: ventapp %s SUBCOMMAND ...\n\n%s.\n\nsubcommands:\n", c.name, c.short)
	for _, alt := range strings.Split(c.usage, " | ") {
		fmt.Fprintf(w, "  %s\n", alt)
	}
	fmt.Fprintf(w, "\n\"ventapp %s SUBCOMMAND -h\" gives a subcommand's flags.\n", c.name)
}

// parseGlobal takes --config and --data-dir wherever they appear, so
// `ventapp --data-dir D jobs` and `ventapp jobs --data-dir D` both work.
func (env *cliEnv) parseGlobal(args []string) ([]string, error) {
	env.configPath = os.Getenv("VENTAPP_CONFIG")
	env.dataDir = os.Getenv("VENTAPP_DATA_DIR")

	var rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || (name != "config" && name != "data-dir") {
			rest = append(rest, a)
			continue
		}
		if !hasVal {
			if i+1 >= len(args) {
				return nil, fmt.Errorf("flag %s needs a value", a)
			}
			i++
			val = args[i]
		}
		if name == "config" {
			env.configPath = val
		} else {
			env.dataDir = val
		}
	}
	return rest, nil
}

func usage(w io.Writer) {
	fmt.Fprint(w, `ventapp is a network-traffic analysis appliance: files dropped into its
watched folder are processed by vent-style plugin containers on containerd,
and their output is searchable.

USAGE
  ventapp [--config FILE] [--data-dir DIR] COMMAND [ARGS]

COMMANDS
`)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.short)
		for _, line := range wrap(c.usage, 66) {
			fmt.Fprintf(w, "            %s\n", line)
		}
	}
	fmt.Fprint(w, `
GLOBAL FLAGS
  --config FILE    the vent.cfg to read (default: DIR/vent.cfg, else /etc/ventapp/vent.cfg)
  --data-dir DIR   where state lives and where the API socket is (default: from the config)

Client commands find the daemon through the same --config and --data-dir
that the daemon was started with.
`)
}

// wrap breaks s into lines of at most width columns at spaces.
func wrap(s string, width int) []string {
	var lines []string
	var cur string
	for _, word := range strings.Fields(s) {
		if cur != "" && len(cur)+1+len(word) > width {
			lines = append(lines, cur)
			cur = ""
		}
		if cur != "" {
			cur += " "
		}
		cur += word
	}
	if cur != "" {
		lines = append(lines, cur)
	}
	return lines
}

// newFlags returns a flag set that reports errors instead of exiting (run
// prints them, with the usage). Its -h output, on stdout, names the
// command's arguments and purpose, from the command table, before the
// flags.
func newFlags(env *cliEnv, name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(env.stdout)
	top, sub, _ := strings.Cut(name, " ")
	for _, c := range commands() {
		if c.name != top {
			continue
		}
		fs.Usage = func() {
			fmt.Fprintf(fs.Output(), "usage: ventapp %s %s\n\n%s.\n", top, subUsage(c.usage, sub), c.short)
			n := 0
			fs.VisitAll(func(*flag.Flag) { n++ })
			if n > 0 {
				fmt.Fprintln(fs.Output(), "\nflags:")
				fs.PrintDefaults()
			}
		}
	}
	return fs
}

// subUsage is the part of a command's usage, alternatives separated by
// " | ", that belongs to subcommand sub: "start TOOL..." out of
// "... | build|start|stop TOOL... | ...". With no sub, or one the usage
// does not name, it is the whole usage.
func subUsage(usage, sub string) string {
	if sub == "" {
		return usage
	}
	for _, alt := range strings.Split(usage, " | ") {
		first, rest, _ := strings.Cut(alt, " ")
		if slices.Contains(strings.Split(first, "|"), sub) {
			return strings.TrimSpace(sub + " " + rest)
		}
	}
	return usage
}

// nonEmpty refuses an empty name among names (a tool, a tap id), which
// would otherwise reach the daemon as a path with a gap in it.
func nonEmpty(what string, names []string) error {
	if slices.Contains(names, "") {
		return fmt.Errorf("%w: empty %s", errUsage, what)
	}
	return nil
}

// noArgs parses the flags of a command that takes no other arguments,
// and refuses any: `jobs foo` must not look as if it filtered.
func noArgs(fs *flag.FlagSet, args []string) error {
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("%w: %s takes no arguments, got %q", errUsage, fs.Name(), pos)
	}
	return nil
}

// parseInterspersed parses flags that may come before or after the
// positional arguments and returns the positional ones.
// The flag package's own report of a bad flag is silenced: run gives it
// once, with the usage; -h prints the help.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	help, out := fs.Usage, fs.Output()
	fs.Usage = func() {}
	fs.SetOutput(io.Discard)
	defer func() {
		fs.Usage = help
		fs.SetOutput(out)
	}()

	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fs.SetOutput(out)
				help()
				return nil, err
			}
			return nil, fmt.Errorf("%w: %v", errUsage, err)
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}
