package builder

import (
	"errors"
	"fmt"
	"strings"
)

// Errors returned by Build. Each is wrapped with the Dockerfile name and line
// or the path concerned; test for them with errors.Is.
var (
	// ErrUnsupported is returned for an instruction or flag this builder does
	// not implement yet, such as RUN --mount or COPY --parents.
	ErrUnsupported = errors.New("not supported by this builder yet")

	// ErrSyntax is returned when the Dockerfile cannot be parsed, names an
	// unknown instruction, or gives an instruction arguments it cannot take.
	ErrSyntax = errors.New("syntax error")

	// ErrNotFound is returned when the build context, the Dockerfile or a
	// COPY source does not exist.
	ErrNotFound = errors.New("no such file")

	// ErrOutsideContext is returned when a COPY source leaves the build
	// context, with ".." or through a symbolic link.
	ErrOutsideContext = errors.New("path is outside the build context")

	// ErrDestination is returned when a COPY or WORKDIR destination cannot be
	// made in the image, for example because a parent is a regular file.
	ErrDestination = errors.New("invalid destination")

	// ErrBaseImage is returned when the image named by FROM is not in the
	// containerd namespace, or its content is incomplete.
	ErrBaseImage = errors.New("base image not available")

	// ErrOptions is returned when Options are incomplete or malformed.
	ErrOptions = errors.New("invalid build options")

	// ErrRemoteURL is returned for an ADD or COPY source that is a URL or a
	// git remote: an offline appliance downloads nothing during a build.
	ErrRemoteURL = errors.New("remote URLs are not supported on an offline appliance")

	// ErrRunFailed is returned, as a *RunError, when a RUN command exits with
	// a non-zero status.
	ErrRunFailed = errors.New("RUN command failed")

	// ErrRun is returned when a RUN command cannot be started or its result
	// cannot be made into a layer.
	ErrRun = errors.New("cannot run build step")
)

// RunError reports a RUN command that exited with a non-zero status. Its
// message names the Dockerfile line and ends with the last lines the
// command printed.
type RunError struct {
	Dockerfile string   // Dockerfile name as used in messages
	Line       int      // line of the RUN instruction
	Command    string   // the command as written after RUN
	ExitCode   int      // the exit status
	Output     []string // the last lines of output, oldest first
}

// Error returns "Dockerfile:LINE: RUN <cmd>: exit code N" followed by the
// last output lines, one per line.
func (e *RunError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s:%d: RUN %s: exit code %d", e.Dockerfile, e.Line, e.Command, e.ExitCode)
	for _, l := range e.Output {
		b.WriteString("\n  ")
		b.WriteString(l)
	}
	return b.String()
}

// Is makes errors.Is(err, ErrRunFailed) true.
func (e *RunError) Is(target error) bool { return target == ErrRunFailed }
