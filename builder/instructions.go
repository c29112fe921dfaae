package builder

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// imageConfig is the "config" object of an image config: the OCI fields
// plus the Docker ones that HEALTHCHECK, ONBUILD and SHELL record, under
// the names Docker gives them.
type imageConfig struct {
	ocispec.ImageConfig
	Healthcheck *healthConfig `json:"Healthcheck,omitempty"`
	OnBuild     []string      `json:"OnBuild,omitempty"`
	Shell       []string      `json:"Shell,omitempty"`
}

// healthConfig is a HEALTHCHECK as Docker stores it; durations are in
// nanoseconds.
type healthConfig struct {
	Test          []string      `json:",omitempty"`
	Interval      time.Duration `json:",omitempty"`
	Timeout       time.Duration `json:",omitempty"`
	StartPeriod   time.Duration `json:",omitempty"`
	StartInterval time.Duration `json:",omitempty"`
	Retries       int           `json:",omitempty"`
}

// imageJSON is an image config with the Docker extensions in its config.
type imageJSON struct {
	ocispec.Image
	Config imageConfig `json:"config,omitempty"`
}

// takesFlags lists the instructions that accept --flags.
var takesFlags = map[string]bool{"copy": true, "add": true, "run": true, "healthcheck": true}

// remoteSource matches the sources ADD would download: URLs and git
// remotes.
var remoteSource = regexp.MustCompile(`^([a-zA-Z][a-zA-Z0-9+.-]*://|git@)`)

// isRemote reports whether a COPY or ADD source names something to
// download rather than a path in the build context.
func isRemote(src string) bool {
	return remoteSource.MatchString(src)
}

// applyRun checks a RUN instruction and fixes what it will execute: the
// command, and the environment, user and directory the image config gives
// at this point, with the ARG values in scope added to the environment as
// Docker does.
func (ev *evaluator) applyRun(inst instruction) (*runOp, error) {
	op := &runOp{line: inst.line, network: "default", user: ev.config.User,
		workdir: workdirOf(ev.config.ImageConfig)}
	op.text = strings.TrimSpace(inst.original[len("run"):])
	for _, f := range inst.flags {
		name, value, _ := strings.Cut(strings.TrimPrefix(f, "--"), "=")
		switch name {
		case "network":
			switch value {
			case "default", "none":
				op.network = "default"
			case "host":
				op.network = "host"
			default:
				return nil, ev.df.errorf(inst.line, "%w: RUN --network=%s: want default, none or host",
					ErrSyntax, value)
			}
		case "mount", "security":
			return nil, ev.df.errorf(inst.line, "RUN --%s is %w", name, ErrUnsupported)
		default:
			return nil, ev.df.errorf(inst.line, "%w: RUN: unknown flag %s", ErrSyntax, f)
		}
	}
	for _, f := range inst.flags {
		op.text = strings.TrimSpace(strings.TrimPrefix(op.text, f))
	}

	argv, err := ev.command(inst)
	if err != nil {
		return nil, err
	}
	op.argv = argv

	op.env = slices.Clone(ev.config.Env)
	for _, k := range envMap(ev.args).Keys() {
		if !slices.ContainsFunc(op.env, func(kv string) bool { return strings.HasPrefix(kv, k+"=") }) {
			op.env = append(op.env, k+"="+ev.args[k])
		}
	}
	return op, nil
}

// applyShell sets the shell that wraps shell-form RUN, CMD and ENTRYPOINT.
func (ev *evaluator) applyShell(inst instruction) error {
	if !inst.json || len(inst.args) == 0 {
		return ev.df.errorf(inst.line, "%w: SHELL needs a JSON array, e.g. [\"/bin/bash\", \"-c\"]",
			ErrSyntax)
	}
	ev.config.Shell = slices.Clone(inst.args)
	return nil
}

// signalNames are the signal names STOPSIGNAL accepts, without "SIG".
var signalNames = map[string]bool{
	"HUP": true, "INT": true, "QUIT": true, "ILL": true, "TRAP": true, "ABRT": true, "BUS": true,
	"FPE": true, "KILL": true, "USR1": true, "SEGV": true, "USR2": true, "PIPE": true, "ALRM": true,
	"TERM": true, "STKFLT": true, "CHLD": true, "CONT": true, "STOP": true, "TSTP": true, "TTIN": true,
	"TTOU": true, "URG": true, "XCPU": true, "XFSZ": true, "VTALRM": true, "PROF": true, "WINCH": true,
	"IO": true, "PWR": true, "SYS": true,
}

// applyStopSignal records the signal that stops a container of the image.
func (ev *evaluator) applyStopSignal(inst instruction) error {
	sig, err := ev.single(inst)
	if err != nil {
		return err
	}
	if n, err := strconv.Atoi(sig); err == nil {
		if n < 1 || n > 64 {
			return ev.df.errorf(inst.line, "%w: STOPSIGNAL %s: out of range", ErrSyntax, sig)
		}
	} else {
		name := strings.TrimPrefix(strings.ToUpper(sig), "SIG")
		base, _, _ := strings.Cut(name, "+")
		if !signalNames[name] && base != "RTMIN" && base != "RTMAX" {
			return ev.df.errorf(inst.line, "%w: STOPSIGNAL %s: unknown signal", ErrSyntax, sig)
		}
	}
	ev.config.StopSignal = sig
	return nil
}

// applyHealthcheck records a HEALTHCHECK. The builder never runs it.
func (ev *evaluator) applyHealthcheck(inst instruction) error {
	if len(inst.args) == 0 {
		return ev.df.errorf(inst.line, "%w: HEALTHCHECK needs NONE or CMD", ErrSyntax)
	}
	kind := strings.ToUpper(inst.args[0])
	if kind == "NONE" {
		if len(inst.args) > 1 || len(inst.flags) > 0 {
			return ev.df.errorf(inst.line, "%w: HEALTHCHECK NONE takes no arguments", ErrSyntax)
		}
		ev.config.Healthcheck = &healthConfig{Test: []string{"NONE"}}
		return nil
	}
	if kind != "CMD" || len(inst.args) < 2 {
		return ev.df.errorf(inst.line, "%w: HEALTHCHECK needs NONE or CMD and a command", ErrSyntax)
	}

	h := &healthConfig{}
	if inst.json {
		h.Test = append([]string{"CMD"}, inst.args[1:]...)
	} else {
		h.Test = []string{"CMD-SHELL", inst.args[1]}
	}
	for _, f := range inst.flags {
		name, value, _ := strings.Cut(strings.TrimPrefix(f, "--"), "=")
		var err error
		switch name {
		case "interval":
			h.Interval, err = healthDuration(value)
		case "timeout":
			h.Timeout, err = healthDuration(value)
		case "start-period":
			h.StartPeriod, err = healthDuration(value)
		case "start-interval":
			h.StartInterval, err = healthDuration(value)
		case "retries":
			h.Retries, err = strconv.Atoi(value)
			if err == nil && h.Retries < 1 {
				err = fmt.Errorf("must be at least 1")
			}
		default:
			return ev.df.errorf(inst.line, "%w: HEALTHCHECK: unknown flag %s", ErrSyntax, f)
		}
		if err != nil {
			return ev.df.errorf(inst.line, "%w: HEALTHCHECK %s: %s", ErrSyntax, f, err)
		}
	}
	ev.config.Healthcheck = h
	return nil
}

// healthDuration parses a HEALTHCHECK duration, which must be at least 1ms
// when given, as Docker requires.
func healthDuration(v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q", v)
	}
	if d < time.Millisecond {
		return 0, fmt.Errorf("duration %q is below 1ms", v)
	}
	return d, nil
}

// applyOnbuild records a trigger for images built FROM this one. Triggers
// are stored, never executed by this builder.
func (ev *evaluator) applyOnbuild(inst instruction) error {
	trigger := inst.sub
	kw, _, _ := strings.Cut(trigger, " ")
	switch strings.ToLower(kw) {
	case "onbuild", "from", "maintainer":
		return ev.df.errorf(inst.line, "%w: ONBUILD %s is not allowed", ErrSyntax, strings.ToUpper(kw))
	case "":
		return ev.df.errorf(inst.line, "%w: ONBUILD needs an instruction", ErrSyntax)
	}
	ev.config.OnBuild = append(ev.config.OnBuild, trigger)
	return nil
}
