package jobs

import (
	"fmt"
	"strings"
)

// State is the lifecycle state of a job.
type State string

// The states a job can be in.
const (
	// Queued jobs wait for a worker.
	Queued State = "queued"
	// Running jobs have been handed to a worker by Next.
	Running State = "running"
	// Done jobs finished and their tool reported success.
	Done State = "done"
	// Failed jobs finished and their tool reported failure.
	Failed State = "failed"
	// Cancelled jobs were stopped by a user before or while running.
	Cancelled State = "cancelled"
)

// allStates lists every state in lifecycle order; index gives positions in it.
var allStates = [...]State{Queued, Running, Done, Failed, Cancelled}

// AllStates returns a new slice of every state in lifecycle order.
func AllStates() []State {
	out := allStates
	return out[:]
}

// ParseState returns the state named by s, ignoring case and surrounding
// space. An unknown name gives an error wrapping ErrBadState.
func ParseState(s string) (State, error) {
	st := State(strings.ToLower(strings.TrimSpace(s)))
	if st.index() < 0 {
		return "", fmt.Errorf("%q is not a job state (want one of %s): %w", s, stateNames(), ErrBadState)
	}
	return st, nil
}

// Final reports whether st is a terminal state: done, failed or cancelled.
func (st State) Final() bool {
	return st == Done || st == Failed || st == Cancelled
}

// Valid reports whether st is one of the five known states.
func (st State) Valid() bool {
	return st.index() >= 0
}

// index returns the position of st in allStates, or -1 for an unknown state.
func (st State) index() int {
	for i, s := range allStates {
		if s == st {
			return i
		}
	}
	return -1
}

// legal reports whether a job may move from one state to another.
func legal(from, to State) bool {
	switch from {
	case Queued:
		return to == Running || to == Cancelled || to == Failed
	case Running:
		return to == Queued || to.Final()
	case Done, Failed, Cancelled:
		return to == Queued
	}
	return false
}

func stateNames() string {
	names := make([]string, len(allStates))
	for i, s := range allStates {
		names[i] = string(s)
	}
	return strings.Join(names, ", ")
}
