package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ventapp/ventapp/capture"
)

// tapUsage is the usage line of `ventapp tap`.
const tapUsage = "create --nic NIC --id ID --interval SECS [--iters N] [--filter EXPR] " +
	"[--snaplen N] [--strip-payload] [--max-file-bytes N] [--ring-mb N] [--metadata JSON] [--no-start] | " +
	"list [--json] | start|stop|delete ID... | update ID --metadata JSON | nics [--json] | " +
	"info [--json] | filter FILE --filter EXPR [--strip-payload] -o OUT"

// cmdTap manages network taps through the daemon; `tap filter` runs here.
func cmdTap(ctx context.Context, env *cliEnv, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: missing subcommand", errUsage)
	}
	sub, args := args[0], args[1:]
	switch sub {
	case "filter":
		return tapFilter(env, args)
	case "create":
		return tapCreate(ctx, env, args)
	case "list":
		return tapList(ctx, env, args)
	case "start", "stop", "delete":
		return tapAct(ctx, env, sub, args)
	case "update":
		return tapUpdate(ctx, env, args)
	case "nics":
		return tapNICs(ctx, env, args)
	case "info":
		return tapInfo(ctx, env, args)
	}
	return fmt.Errorf("%w: unknown subcommand %q", errUsage, sub)
}

// tapFlags is the flag set of `tap SUB` with its --json flag, for the
// subcommands that print what the daemon answers.
func tapFlags(env *cliEnv, sub string) (*flag.FlagSet, *bool) {
	fs := newFlags(env, "tap "+sub)
	return fs, fs.Bool("json", false, "print JSON")
}

// metadataFlag parses --metadata: empty, or a JSON object.
func metadataFlag(s string) (map[string]any, error) {
	if s == "" {
		return nil, nil
	}
	var md map[string]any
	if err := json.Unmarshal([]byte(s), &md); err != nil || md == nil {
		return nil, fmt.Errorf("%w: --metadata must be a JSON object: %q", errUsage, s)
	}
	return md, nil
}

// tapCreate stores a tap and, unless --no-start, starts it.
func tapCreate(ctx context.Context, env *cliEnv, args []string) error {
	fs, asJSON := tapFlags(env, "create")
	var t capture.Tap
	var interval float64
	var metadata string
	noStart := false
	fs.StringVar(&t.NIC, "nic", "", "network interface to capture from")
	fs.StringVar(&t.ID, "id", "", "tap id; files are named trace_ID_TIME.pcap")
	fs.Float64Var(&interval, "interval", 60, "seconds each file covers")
	fs.IntVar(&t.Iters, "iters", 0, "intervals to capture, 0 for until stopped")
	fs.StringVar(&t.Filter, "filter", "", "tcpdump filter expression")
	fs.IntVar(&t.SnapLen, "snaplen", 0, "bytes kept of each packet (0: all)")
	fs.BoolVar(&t.StripPayload, "strip-payload", false, "drop TCP and UDP payloads, keep headers")
	fs.Int64Var(&t.MaxFileBytes, "max-file-bytes", 0, "also start a new file at this size (0: no limit)")
	fs.IntVar(&t.RingMB, "ring-mb", 0, fmt.Sprintf("capture ring size in MiB (0: %d)", capture.DefaultRingMB))
	fs.BoolVar(&noStart, "no-start", false, "store the tap without starting it")
	fs.StringVar(&metadata, "metadata", "", "JSON object of metadata to attach")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return fmt.Errorf("%w: tap create takes only flags, got %q", errUsage, pos)
	}
	if t.NIC == "" || t.ID == "" {
		return fmt.Errorf("%w: tap create needs --nic and --id", errUsage)
	}
	if t.Metadata, err = metadataFlag(metadata); err != nil {
		return err
	}
	t.Interval = time.Duration(interval * float64(time.Second))

	c, err := env.client()
	if err != nil {
		return err
	}
	body, err := json.Marshal(t)
	if err != nil {
		return err
	}
	var req map[string]any
	if err := json.Unmarshal(body, &req); err != nil {
		return err
	}
	req["start"] = !noStart
	var st capture.Status
	if err := c.PostJSON(ctx, "/api/v1/taps", req, &st); err != nil {
		return err
	}

	if *asJSON {
		return env.printJSON(st)
	}
	fmt.Fprintf(env.stdout, "tap %s on %s: %s\n", st.ID, st.Config.NIC, st.State)
	return nil
}

// tapList prints every tap with its state and counters.
func tapList(ctx context.Context, env *cliEnv, args []string) error {
	return tapShow(ctx, env, "list", args, "/api/v1/taps", func(w io.Writer, list []capture.Status) {
		fmt.Fprintln(w, "ID\tNIC\tFILTER\tSTATE\tPACKETS\tDROPS\tBYTES\tFILES\tREASON")
		for _, s := range list {
			filter := s.Config.Filter
			if filter == "" {
				filter = "-"
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%d\t%s\t%d\t%s\n", s.ID, s.Config.NIC, oneLine(filter, 40),
				s.State, s.Stats.Packets, s.Stats.KernelDrops, humanBytes(s.Stats.Bytes), s.Stats.Files,
				oneLine(s.Reason, 60))
		}
	})
}

// tapShow runs a tap subcommand that only reads: it takes --json and no
// arguments, fetches path into a T and prints it as JSON or, through
// table, as aligned columns.
func tapShow[T any](ctx context.Context, env *cliEnv, sub string, args []string, path string,
	table func(io.Writer, T)) error {
	fs, asJSON := tapFlags(env, sub)
	if err := noArgs(fs, args); err != nil {
		return err
	}
	c, err := env.client()
	if err != nil {
		return err
	}
	var v T
	if err := c.Get(ctx, path, nil, &v); err != nil {
		return err
	}

	if *asJSON {
		return env.printJSON(v)
	}
	w := tabwriter.NewWriter(env.stdout, 0, 8, 2, ' ', 0)
	table(w, v)
	return w.Flush()
}

// tapAct starts, stops or deletes each tap named, going on past failures.
func tapAct(ctx context.Context, env *cliEnv, sub string, args []string) error {
	pos, err := parseInterspersed(newFlags(env, "tap "+sub), args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return fmt.Errorf("%w: tap %s needs at least one tap id", errUsage, sub)
	}
	if err := nonEmpty("tap id", pos); err != nil {
		return err
	}
	c, err := env.client()
	if err != nil {
		return err
	}

	done := map[string]string{"start": "started", "stop": "stopped", "delete": "deleted"}[sub]
	failed := 0
	for _, id := range pos {
		path := "/api/v1/taps/" + url.PathEscape(id)
		method := "POST"
		if sub == "delete" {
			method = "DELETE"
		} else {
			path += "/" + sub
		}
		if err := c.Do(ctx, method, path, nil, nil, nil); err != nil {
			failed++
			fmt.Fprintf(env.stderr, "ventapp tap %s: %s: %v\n", sub, id, err)
			continue
		}
		fmt.Fprintf(env.stdout, "%s: %s\n", id, done)
	}
	if failed > 0 {
		return &exitError{code: 1, err: fmt.Errorf("%d of %d taps failed", failed, len(pos))}
	}
	return nil
}

// tapUpdate replaces a tap's metadata.
func tapUpdate(ctx context.Context, env *cliEnv, args []string) error {
	fs, asJSON := tapFlags(env, "update")
	metadata := fs.String("metadata", "", "JSON object of metadata to attach")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	md, err := metadataFlag(*metadata)
	if err != nil {
		return err
	}
	if len(pos) != 1 || md == nil {
		return fmt.Errorf("%w: tap update takes one id and --metadata JSON", errUsage)
	}
	if err := nonEmpty("tap id", pos); err != nil {
		return err
	}

	c, err := env.client()
	if err != nil {
		return err
	}
	var st capture.Status
	path := "/api/v1/taps/" + url.PathEscape(pos[0]) + "/metadata"
	if err := c.PostJSON(ctx, path, map[string]any{"metadata": md}, &st); err != nil {
		return err
	}
	if *asJSON {
		return env.printJSON(st)
	}
	fmt.Fprintf(env.stdout, "%s: metadata updated\n", st.ID)
	return nil
}

// tapNICs lists the network interfaces the daemon can capture from.
func tapNICs(ctx context.Context, env *cliEnv, args []string) error {
	return tapShow(ctx, env, "nics", args, "/api/v1/taps/nics", func(w io.Writer, nics []capture.NIC) {
		fmt.Fprintln(w, "NAME\tSTATE\tMTU\tMAC\tADDRESSES")
		for _, n := range nics {
			mac := n.MAC
			if mac == "" {
				mac = "-"
			}
			fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%s\n", n.Name, n.State(), n.MTU, mac, strings.Join(n.Addresses, ", "))
		}
	})
}

// tapInfo prints what the daemon can capture with: its capture method,
// filter compiler, capabilities and network namespace.
func tapInfo(ctx context.Context, env *cliEnv, args []string) error {
	return tapShow(ctx, env, "info", args, "/api/v1/taps/info", func(w io.Writer, info capture.Info) {
		fmt.Fprintf(w, "version\t%s\n", info.Version)
		fmt.Fprintf(w, "capture\t%s\n", info.Capabilities.Capture)
		fmt.Fprintf(w, "filter compiler\t%s (%s)\n", yesNo(info.Capabilities.FilterCompiler),
			info.Capabilities.Libpcap)
		fmt.Fprintf(w, "CAP_NET_RAW\t%s\n", yesNo(info.Capabilities.CapNetRaw))
		ns := info.Netns
		if ns == "" {
			ns = "the daemon's own"
		}
		fmt.Fprintf(w, "network namespace\t%s\n", ns)
		if info.Capabilities.Error != "" {
			fmt.Fprintf(w, "warning\t%s\n", info.Capabilities.Error)
		}
	})
}

// tapFilter applies a filter and stripping to a saved capture, locally.
func tapFilter(env *cliEnv, args []string) error {
	fs := newFlags(env, "tap filter")
	filter := fs.String("filter", "", "tcpdump filter expression (empty keeps every packet)")
	strip := fs.Bool("strip-payload", false, "drop TCP and UDP payloads, keep headers")
	out := fs.String("o", "", "the pcap file to write")
	asJSON := fs.Bool("json", false, "print the counters as JSON")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || *out == "" {
		return fmt.Errorf("%w: tap filter takes one capture file and -o OUT", errUsage)
	}
	if *filter == "" && !*strip {
		return fmt.Errorf("%w: give --filter, --strip-payload or both", errUsage)
	}
	st, err := capture.FilterFile(pos[0], *out, *filter, *strip)
	if err != nil {
		if errors.Is(err, capture.ErrInput) {
			return &exitError{code: 1, err: err}
		}
		return err
	}
	if *asJSON {
		return env.printJSON(st)
	}
	fmt.Fprintf(env.stdout, "%s: kept %d of %d packets (%d stripped), %s\n", *out, st.Packets, st.Read,
		st.Stripped, humanBytes(st.Bytes))
	return nil
}
