package index

import "errors"

var (
	// ErrBadQuery is returned by Search when the query text cannot be parsed
	// or names an invalid pattern. The wrapped message is the parser's and is
	// meant to be shown to the user.
	ErrBadQuery = errors.New("bad query")

	// ErrClosed is returned by Add, Flush, Search, DeleteJob and EndJob once
	// Close has been called.
	ErrClosed = errors.New("index closed")

	// ErrInvalidLine is returned by Add for a Line without a JobID or with a
	// LineNo below 1.
	ErrInvalidLine = errors.New("invalid line")

	// ErrOpen is returned by Open when the directory holds something that is
	// not a readable index of this schema (a corrupt or foreign index).
	ErrOpen = errors.New("cannot open index")
)
