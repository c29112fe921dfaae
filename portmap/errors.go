package portmap

import "errors"

var (
	// ErrSpec is wrapped by the errors of Parse, FromValue and Exposed: the
	// port spec is not one that docker-py would accept, or names a port or
	// address that is out of range. The message names the bad value.
	ErrSpec = errors.New("invalid port spec")

	// ErrPortInUse is wrapped by Publish when a host address and port is
	// already bound by another socket.
	ErrPortInUse = errors.New("host port already in use")

	// ErrNotRunning may be returned by an Options.Pid function when the
	// container has no running process; the connection is then refused.
	ErrNotRunning = errors.New("container not running")
)
