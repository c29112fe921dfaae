// Command pcap-summary is the example vent plugin bundled with ventapp. It
// reads one pcap or pcapng file, named by its last argument as the vent
// plugin contract has it, and prints JSON lines on stdout: one per flow, one
// per DNS question, one per HTTP Host header, and a final summary.
//
// Exit status: 0 when the whole file was read (packets that fail to decode
// are counted in the summary, not fatal); 1 when the file cannot be read or
// its capture structure is damaged (what was read before the damage is still
// printed, with "truncated": true); 2 for a usage error.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// Exit statuses.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
	// exitMalformed: the whole file was read and every line written, but
	// some packets could not be decoded. A sensor treats such a capture as
	// suspect, so the job fails with the reason while its output is kept.
	exitMalformed = 3
)

const usageText = `usage: pcap-summary [flags] FILE

Summarise the pcap or pcapng capture FILE as JSON lines on stdout: one
line per flow, per DNS question and per HTTP Host, then a summary line.

Flags:
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// analyzeFile is the work run guards; tests replace it to check the guard.
var analyzeFile = func(path string, o options) (*report, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return nil, errors.New("is a directory, not a capture file")
	}

	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()

	return analyze(f, path, o)
}

// run is the whole command: it parses args, analyses the file, writes the
// output and returns the exit status.
func run(args []string, stdout, stderr io.Writer) (code int) {
	flags := flag.NewFlagSet("pcap-summary", flag.ContinueOnError)
	flags.SetOutput(stderr)
	flags.Usage = func() {
		fmt.Fprint(stderr, usageText)
		flags.PrintDefaults()
	}
	o := defaultOptions
	flags.IntVar(&o.maxFlows, "max-flows", o.maxFlows,
		"most flows to track; packets of later new flows are only counted")
	flags.IntVar(&o.maxNames, "max-names", o.maxNames, "most DNS questions and HTTP hosts to track, each")

	if err := flags.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if flags.NArg() != 1 {
		fmt.Fprintf(stderr, "pcap-summary: expected exactly one FILE argument, got %d\n", flags.NArg())
		flags.Usage()
		return exitUsage
	}
	path := flags.Arg(0)

	// Last line of defence: no input is known to reach it (the fuzz test
	// calls analyze without it), but a plugin must not die with a trace.
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(stderr, "pcap-summary: %s: internal error: %v\n", path, r)
			code = exitError
		}
	}()

	rep, err := analyzeFile(path, o)
	if rep != nil {
		w := bufio.NewWriterSize(stdout, 64<<10)
		werr := rep.write(w)
		if werr == nil {
			werr = w.Flush()
		}
		if werr != nil {
			fmt.Fprintf(stderr, "pcap-summary: %s: write output: %v\n", path, werr)
			return exitError
		}
	}
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the path is printed already
		}
		fmt.Fprintf(stderr, "pcap-summary: %s: %v\n", path, err)
		return exitError
	}
	if s := rep.summary; s.DecodeErrors > 0 {
		fmt.Fprintf(stderr, "pcap-summary: %s: %d of %d packets are malformed (first: %s)\n",
			path, s.DecodeErrors, s.Packets, s.FirstDecodeError)
		return exitMalformed
	}
	return exitOK
}
