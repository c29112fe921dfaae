// Package termquiet stops the terminal libraries linked into ventapp from
// questioning the terminal while the binary starts.
//
// Bubble Tea v1, which the terminal UI uses, asks the terminal for its
// background colour from a package init function, in every command of the
// binary, not only `ventapp tui`. A terminal that answers neither that
// question nor the cursor-position report sent after it (a bare
// pseudo-terminal, some serial consoles) made every command wait five
// seconds before it did anything. ventapp's styles never depend on the
// background colour, so the question is never needed.
//
// Importing this package for its side effect sets TERM to "dumb" while the
// packages initialise, which termenv takes as a terminal not to query. It
// imports nothing but os, so by the language's initialisation order (the
// first ready package by import path) it runs before Bubble Tea, which
// waits for os/signal. Restore must be the first thing main does: it puts
// TERM back before anything else reads it or a child process inherits it.
package termquiet

import "os"

// saved is TERM as the process received it; set is false when it was unset.
var saved, set = os.LookupEnv("TERM")

func init() {
	quiet()
}

// quiet makes TERM name a terminal the libraries do not query.
func quiet() {
	os.Setenv("TERM", "dumb")
}

// Restore puts TERM back as the process received it.
func Restore() {
	if set {
		os.Setenv("TERM", saved)
		return
	}
	os.Unsetenv("TERM")
}
