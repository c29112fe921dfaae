package builder

import "errors"

// Errors returned by Build. Each is wrapped with the Dockerfile name and line
// or the path concerned; test for them with errors.Is.
var (
	// ErrUnsupported is returned for an instruction or flag this builder does
	// not implement yet, such as RUN, ADD or COPY --from.
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
)
