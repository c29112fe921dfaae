package builder

import (
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/containerd/platforms"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// defaultPath is the PATH an image built FROM scratch gets, as Docker gives
// it, so shell-form commands find their programs.
const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// maxExposeRange bounds how many ports one EXPOSE range may name.
const maxExposeRange = 1 << 16

// stage is one build stage of a Dockerfile: the image it starts from and the
// instructions that follow its FROM.
type stage struct {
	index int           // position among the Dockerfile's stages, from 0
	name  string        // AS name, lower-cased; "" when unnamed
	base  string        // image or earlier stage named by FROM, expanded; "scratch" for none
	from  instruction   // the FROM instruction
	insts []instruction // instructions after FROM, up to the next FROM
	args  map[string]string
}

// copyOp is a COPY or ADD instruction with its words expanded.
type copyOp struct {
	line    int
	add     bool         // ADD: local tar archives are extracted
	from    string       // COPY --from value, expanded; "" for the build context
	sources []string     // source paths or patterns, relative to the context
	dest    string       // destination as written, expanded
	workdir string       // working directory that a relative dest is in
	chown   bool         // --chown was given
	uid     int          // owner of copied and created entries
	gid     int          // group of copied and created entries
	chmod   *fs.FileMode // permission bits forced on copied entries, if set
}

// runOp is a RUN instruction ready to execute.
type runOp struct {
	line    int
	text    string   // the command as written, for messages
	argv    []string // shell-form commands are wrapped in the shell
	env     []string // config Env plus the ARG values in scope
	user    string
	workdir string
	network string // "default" (a fresh namespace) or "host"
}

// step is what one instruction after FROM asks of the build: a layer to
// make (COPY, ADD, RUN, or WORKDIR creating a directory) or only a config
// change.
type step struct {
	copy    *copyOp // set for COPY and ADD
	run     *runOp  // set for RUN
	mkdir   string  // set for WORKDIR: the directory that must exist
	comment string  // history text
}

// splitStages cuts df into its stages, evaluates the ARG instructions
// before the first FROM and expands each FROM image name with them.
// buildArgs are --build-arg values and platform the target platform, whose
// TARGET* and BUILD* arguments are predefined.
func splitStages(df *dockerfile, buildArgs map[string]string, platform ocispec.Platform) ([]*stage, error) {
	lex := shell.NewLex(df.escape)
	global := predefinedArgs(platform)

	var stages []*stage
	for _, inst := range df.insts {
		if inst.cmd == "from" {
			st, err := newStage(df, lex, inst, global, stages)
			if err != nil {
				return nil, err
			}
			stages = append(stages, st)
			continue
		}
		if len(stages) > 0 {
			cur := stages[len(stages)-1]
			cur.insts = append(cur.insts, inst)
			continue
		}
		if inst.cmd != "arg" {
			return nil, df.errorf(inst.line, "%w: %s before FROM (only ARG may come first)",
				ErrSyntax, strings.ToUpper(inst.cmd))
		}
		if err := declareArgs(df, lex, inst, global, global, buildArgs); err != nil {
			return nil, err
		}
	}
	if len(stages) == 0 {
		return nil, fmt.Errorf("%s: %w: no FROM instruction", df.name, ErrSyntax)
	}
	for _, st := range stages {
		st.args = global
	}
	return stages, nil
}

// newStage reads one FROM instruction. earlier are the stages before it,
// whose names must differ from its own.
func newStage(df *dockerfile, lex *shell.Lex, from instruction, global map[string]string,
	earlier []*stage) (*stage, error) {
	if len(from.flags) > 0 {
		return nil, df.errorf(from.line, "FROM %s is %w", from.flags[0], ErrUnsupported)
	}
	st := &stage{index: len(earlier), from: from}
	switch {
	case len(from.args) == 1:
	case len(from.args) == 3 && strings.EqualFold(from.args[1], "as"):
		st.name = strings.ToLower(from.args[2])
		if !validStageName(st.name) {
			return nil, df.errorf(from.line, "%w: invalid stage name %q", ErrSyntax, from.args[2])
		}
		for _, e := range earlier {
			if e.name == st.name {
				return nil, df.errorf(from.line, "%w: stage name %q is already used on line %d",
					ErrSyntax, st.name, e.from.line)
			}
		}
	default:
		return nil, df.errorf(from.line, "%w: FROM takes an image and an optional AS name", ErrSyntax)
	}

	base, _, err := lex.ProcessWord(from.args[0], envMap(global))
	if err != nil {
		return nil, df.errorf(from.line, "%w: FROM: %s", ErrSyntax, err)
	}
	if base == "" {
		return nil, df.errorf(from.line, "%w: FROM names an empty image", ErrSyntax)
	}
	st.base = base
	return st, nil
}

// validStageName reports whether name can name a stage: a letter, then
// letters, digits, '-', '_' and '.', and not a number (numbers name stages
// by position).
func validStageName(name string) bool {
	if name == "" || name[0] < 'a' || name[0] > 'z' {
		return false
	}
	for _, r := range name {
		ok := r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.'
		if !ok {
			return false
		}
	}
	return true
}

// predefinedArgs returns the platform arguments BuildKit predefines.
func predefinedArgs(p ocispec.Platform) map[string]string {
	return map[string]string{
		"TARGETPLATFORM": platforms.Format(p), "TARGETOS": p.OS,
		"TARGETARCH": p.Architecture, "TARGETVARIANT": p.Variant,
		"BUILDPLATFORM": platforms.Format(p), "BUILDOS": p.OS,
		"BUILDARCH": p.Architecture, "BUILDVARIANT": p.Variant,
	}
}

// declareArgs carries out an ARG instruction: each name gets its --build-arg
// value, else its default, else (after FROM) the global value of the same
// name. Declared names go into scope.
func declareArgs(df *dockerfile, lex *shell.Lex, inst instruction, scope, global map[string]string,
	buildArgs map[string]string) error {
	if len(inst.args) == 0 {
		return df.errorf(inst.line, "%w: ARG needs a name", ErrSyntax)
	}
	for _, word := range inst.args {
		name, def, hasDef := strings.Cut(word, "=")
		if name == "" {
			return df.errorf(inst.line, "%w: ARG with an empty name", ErrSyntax)
		}
		if hasDef {
			v, _, err := lex.ProcessWord(def, envMap(scope))
			if err != nil {
				return df.errorf(inst.line, "%w: ARG %s: %s", ErrSyntax, name, err)
			}
			def = v
		}

		v, given := buildArgs[name]
		switch {
		case given:
		case hasDef:
			v = def
		default:
			gv, ok := global[name]
			if !ok {
				// Declared without a value: in scope but unset.
				delete(scope, name)
				continue
			}
			v = gv
		}
		scope[name] = v
	}
	return nil
}

// evaluator applies the instructions after FROM to an image config.
type evaluator struct {
	df        *dockerfile
	lex       *shell.Lex
	config    imageConfig
	args      map[string]string // ARG values in scope
	global    map[string]string // ARG values from before FROM
	buildArgs map[string]string
	cmdSet    bool   // CMD was set by this Dockerfile
	author    string // from MAINTAINER
}

// newEvaluator starts from the base image's config. A nil base means
// FROM scratch. The base's ONBUILD triggers are not inherited.
func newEvaluator(df *dockerfile, st *stage, base *imageConfig,
	buildArgs map[string]string) *evaluator {
	ev := &evaluator{
		df:        df,
		lex:       shell.NewLex(df.escape),
		args:      map[string]string{},
		global:    st.args,
		buildArgs: buildArgs,
	}
	if base != nil {
		ev.config = cloneConfig(*base)
		ev.config.OnBuild = nil
	} else {
		ev.config.Env = []string{defaultPath}
	}
	return ev
}

// env returns the variables visible to expansion: ARG values overlaid by
// the config's environment.
func (ev *evaluator) env() shell.EnvGetter {
	m := make(map[string]string, len(ev.args)+len(ev.config.Env))
	for k, v := range ev.args {
		m[k] = v
	}
	for _, kv := range ev.config.Env {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return envMap(m)
}

// expand expands variables in word and removes its quotes.
func (ev *evaluator) expand(inst instruction, word string) (string, error) {
	v, _, err := ev.lex.ProcessWord(word, ev.env())
	if err != nil {
		return "", ev.df.errorf(inst.line, "%w: %s: %s", ErrSyntax, strings.ToUpper(inst.cmd), err)
	}
	return v, nil
}

// apply carries out inst against the config and returns what the build must
// do for it.
func (ev *evaluator) apply(inst instruction) (step, error) {
	s := step{comment: inst.original}
	if inst.heredoc {
		return s, ev.df.errorf(inst.line, "here-documents in %s are %w",
			strings.ToUpper(inst.cmd), ErrUnsupported)
	}
	if !takesFlags[inst.cmd] && len(inst.flags) > 0 {
		return s, ev.df.errorf(inst.line, "%w: %s takes no flag %s",
			ErrSyntax, strings.ToUpper(inst.cmd), inst.flags[0])
	}

	var err error
	switch inst.cmd {
	case "arg":
		err = declareArgs(ev.df, ev.lex, inst, ev.args, ev.global, ev.buildArgs)
	case "env":
		err = ev.applyEnv(inst)
	case "label":
		err = ev.applyLabel(inst)
	case "workdir":
		s.mkdir, err = ev.applyWorkdir(inst)
	case "user":
		ev.config.User, err = ev.single(inst)
	case "maintainer":
		ev.author, err = ev.single(inst)
	case "expose":
		err = ev.applyExpose(inst)
	case "volume":
		err = ev.applyVolume(inst)
	case "entrypoint":
		ev.config.Entrypoint, err = ev.command(inst)
		if !ev.cmdSet {
			ev.config.Cmd = nil
		}
	case "cmd":
		ev.config.Cmd, err = ev.command(inst)
		ev.cmdSet = true
	case "copy", "add":
		s.copy, err = ev.applyCopy(inst)
	case "run":
		s.run, err = ev.applyRun(inst)
	case "shell":
		err = ev.applyShell(inst)
	case "stopsignal":
		err = ev.applyStopSignal(inst)
	case "healthcheck":
		err = ev.applyHealthcheck(inst)
	case "onbuild":
		err = ev.applyOnbuild(inst)
	default:
		err = ev.df.errorf(inst.line, "%s is %w", strings.ToUpper(inst.cmd), ErrUnsupported)
	}
	return s, err
}

// applyEnv sets environment variables. All values of one ENV are expanded
// with the environment as it was before the instruction, as Docker does.
func (ev *evaluator) applyEnv(inst instruction) error {
	if len(inst.args) == 0 {
		return ev.df.errorf(inst.line, "%w: ENV needs a name and a value", ErrSyntax)
	}
	env := ev.env()
	for i := 0; i+1 < len(inst.args); i += 2 {
		k, _, err := ev.lex.ProcessWord(inst.args[i], env)
		if err != nil {
			return ev.df.errorf(inst.line, "%w: ENV: %s", ErrSyntax, err)
		}
		v, _, err := ev.lex.ProcessWord(inst.args[i+1], env)
		if err != nil {
			return ev.df.errorf(inst.line, "%w: ENV: %s", ErrSyntax, err)
		}
		if k == "" || strings.Contains(k, "=") {
			return ev.df.errorf(inst.line, "%w: ENV: invalid name %q", ErrSyntax, k)
		}
		ev.config.Env = setEnv(ev.config.Env, k, v)
	}
	return nil
}

// setEnv replaces k in env, keeping its position, or appends it.
func setEnv(env []string, k, v string) []string {
	for i, kv := range env {
		if name, _, _ := strings.Cut(kv, "="); name == k {
			env[i] = k + "=" + v
			return env
		}
	}
	return append(env, k+"="+v)
}

// applyLabel adds labels to the config.
func (ev *evaluator) applyLabel(inst instruction) error {
	if len(inst.args) == 0 {
		return ev.df.errorf(inst.line, "%w: LABEL needs a key and a value", ErrSyntax)
	}
	for i := 0; i+1 < len(inst.args); i += 2 {
		k, err := ev.expand(inst, inst.args[i])
		if err != nil {
			return err
		}
		v, err := ev.expand(inst, inst.args[i+1])
		if err != nil {
			return err
		}
		if k == "" {
			return ev.df.errorf(inst.line, "%w: LABEL with an empty key", ErrSyntax)
		}
		if ev.config.Labels == nil {
			ev.config.Labels = map[string]string{}
		}
		ev.config.Labels[k] = v
	}
	return nil
}

// single expands the one argument of USER, WORKDIR or MAINTAINER.
func (ev *evaluator) single(inst instruction) (string, error) {
	if len(inst.args) != 1 {
		return "", ev.df.errorf(inst.line, "%w: %s takes exactly one argument",
			ErrSyntax, strings.ToUpper(inst.cmd))
	}
	v, err := ev.expand(inst, inst.args[0])
	if err != nil {
		return "", err
	}
	if v == "" {
		return "", ev.df.errorf(inst.line, "%w: %s is empty", ErrSyntax, strings.ToUpper(inst.cmd))
	}
	return v, nil
}

// applyWorkdir sets the working directory, relative ones against the
// current one, and returns the absolute directory.
func (ev *evaluator) applyWorkdir(inst instruction) (string, error) {
	dir, err := ev.single(inst)
	if err != nil {
		return "", err
	}
	if !path.IsAbs(dir) {
		dir = path.Join(workdirOf(ev.config.ImageConfig), dir)
	}
	dir = path.Clean(dir)
	ev.config.WorkingDir = dir
	return dir, nil
}

// workdirOf returns the config's working directory, "/" when unset.
func workdirOf(c ocispec.ImageConfig) string {
	if c.WorkingDir == "" {
		return "/"
	}
	return c.WorkingDir
}

// applyExpose records ports as "port/proto", expanding ranges.
func (ev *evaluator) applyExpose(inst instruction) error {
	if len(inst.args) == 0 {
		return ev.df.errorf(inst.line, "%w: EXPOSE needs a port", ErrSyntax)
	}
	for _, a := range inst.args {
		word, err := ev.expand(inst, a)
		if err != nil {
			return err
		}
		ports, err := parsePorts(word)
		if err != nil {
			return ev.df.errorf(inst.line, "%w: EXPOSE %q: %s", ErrSyntax, word, err)
		}
		if ev.config.ExposedPorts == nil {
			ev.config.ExposedPorts = map[string]struct{}{}
		}
		for _, p := range ports {
			ev.config.ExposedPorts[p] = struct{}{}
		}
	}
	return nil
}

// parsePorts parses "80", "53/udp" or "8000-8002/tcp".
func parsePorts(word string) ([]string, error) {
	spec, proto, hasProto := strings.Cut(word, "/")
	proto = strings.ToLower(proto)
	if !hasProto {
		proto = "tcp"
	}
	if proto != "tcp" && proto != "udp" && proto != "sctp" {
		return nil, fmt.Errorf("unknown protocol %q", proto)
	}

	lo, hi, isRange := strings.Cut(spec, "-")
	first, err := strconv.ParseUint(lo, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("invalid port %q", lo)
	}
	last := first
	if isRange {
		if last, err = strconv.ParseUint(hi, 10, 16); err != nil {
			return nil, fmt.Errorf("invalid port %q", hi)
		}
	}
	if last < first || last-first >= maxExposeRange {
		return nil, fmt.Errorf("invalid port range %q", spec)
	}

	ports := make([]string, 0, last-first+1)
	for p := first; p <= last; p++ {
		ports = append(ports, strconv.FormatUint(p, 10)+"/"+proto)
	}
	return ports, nil
}

// applyVolume records mount points in the config.
func (ev *evaluator) applyVolume(inst instruction) error {
	if len(inst.args) == 0 {
		return ev.df.errorf(inst.line, "%w: VOLUME needs a path", ErrSyntax)
	}
	for _, a := range inst.args {
		v, err := ev.expand(inst, a)
		if err != nil {
			return err
		}
		if v == "" {
			return ev.df.errorf(inst.line, "%w: VOLUME with an empty path", ErrSyntax)
		}
		if ev.config.Volumes == nil {
			ev.config.Volumes = map[string]struct{}{}
		}
		ev.config.Volumes[v] = struct{}{}
	}
	return nil
}

// command returns an ENTRYPOINT, CMD or RUN command: the exec form as
// written, the shell form wrapped in the SHELL (default /bin/sh -c).
// Neither is expanded, as in Docker: the shell does that when it runs.
func (ev *evaluator) command(inst instruction) ([]string, error) {
	if inst.json {
		if inst.cmd == "run" && len(inst.args) == 0 {
			return nil, ev.df.errorf(inst.line, "%w: RUN needs a command", ErrSyntax)
		}
		return slices.Clone(inst.args), nil
	}
	if len(inst.args) == 0 || strings.TrimSpace(inst.args[0]) == "" {
		return nil, ev.df.errorf(inst.line, "%w: %s needs a command",
			ErrSyntax, strings.ToUpper(inst.cmd))
	}
	return append(ev.shell(), inst.args[0]), nil
}

// shell returns the SHELL in effect.
func (ev *evaluator) shell() []string {
	if len(ev.config.Shell) > 0 {
		return slices.Clone(ev.config.Shell)
	}
	return []string{"/bin/sh", "-c"}
}

// applyCopy checks a COPY instruction's flags and expands its words.
func (ev *evaluator) applyCopy(inst instruction) (*copyOp, error) {
	op := &copyOp{line: inst.line, workdir: workdirOf(ev.config.ImageConfig), add: inst.cmd == "add"}
	for _, f := range inst.flags {
		if err := ev.copyFlag(inst, op, f); err != nil {
			return nil, err
		}
	}

	keyword := strings.ToUpper(inst.cmd)
	if len(inst.args) < 2 {
		return nil, ev.df.errorf(inst.line, "%w: %s needs a source and a destination", ErrSyntax, keyword)
	}
	words := make([]string, len(inst.args))
	for i, a := range inst.args {
		v, err := ev.expand(inst, a)
		if err != nil {
			return nil, err
		}
		words[i] = v
	}
	op.sources = words[:len(words)-1]
	op.dest = words[len(words)-1]
	if op.dest == "" {
		return nil, ev.df.errorf(inst.line, "%w: %s with an empty destination", ErrSyntax, keyword)
	}
	if len(op.sources) > 1 && !strings.HasSuffix(op.dest, "/") {
		return nil, ev.df.errorf(inst.line,
			"%w: %s with more than one source needs a destination directory ending in /", ErrSyntax, keyword)
	}
	for _, src := range op.sources {
		if isRemote(src) {
			return nil, ev.df.errorf(inst.line, "%s %s: %w; download the file into the build context",
				keyword, src, ErrRemoteURL)
		}
	}
	return op, nil
}

// copyFlag applies one COPY or ADD flag to op.
func (ev *evaluator) copyFlag(inst instruction, op *copyOp, flag string) error {
	name, value, _ := strings.Cut(strings.TrimPrefix(flag, "--"), "=")
	keyword := strings.ToUpper(inst.cmd)
	switch name {
	case "chown":
		v, err := ev.expand(inst, value)
		if err != nil {
			return err
		}
		uid, gid, err := parseChown(v)
		if err != nil {
			return ev.df.errorf(inst.line, "%s --chown=%s: %w", keyword, v, err)
		}
		op.uid, op.gid, op.chown = uid, gid, true
	case "chmod":
		v, err := ev.expand(inst, value)
		if err != nil {
			return err
		}
		m, err := strconv.ParseUint(v, 8, 32)
		if err != nil || m > 0o7777 {
			return ev.df.errorf(inst.line, "%w: %s --chmod=%s: want an octal mode", ErrSyntax, keyword, v)
		}
		mode := fs.FileMode(m & 0o777)
		if m&0o4000 != 0 {
			mode |= fs.ModeSetuid
		}
		if m&0o2000 != 0 {
			mode |= fs.ModeSetgid
		}
		if m&0o1000 != 0 {
			mode |= fs.ModeSticky
		}
		op.chmod = &mode
	case "link":
		// --link only changes how BuildKit caches; the layer is the same.
	case "from":
		if op.add {
			return ev.df.errorf(inst.line, "%w: ADD takes no flag --from (use COPY --from)", ErrSyntax)
		}
		v, err := ev.expand(inst, value)
		if err != nil {
			return err
		}
		if v == "" {
			return ev.df.errorf(inst.line, "%w: COPY --from needs a stage or an image", ErrSyntax)
		}
		op.from = v
	case "parents", "exclude", "checksum", "keep-git-dir", "unpack":
		return ev.df.errorf(inst.line, "%s --%s is %w", keyword, name, ErrUnsupported)
	default:
		return ev.df.errorf(inst.line, "%w: %s: unknown flag %s", ErrSyntax, keyword, flag)
	}
	return nil
}

// parseChown parses a numeric "uid" or "uid:gid". A lone uid is also used as
// the gid, as Docker does.
func parseChown(v string) (int, int, error) {
	u, g, hasGroup := strings.Cut(v, ":")
	uid, err := strconv.ParseUint(u, 10, 31)
	if err != nil {
		return 0, 0, fmt.Errorf("user names are %w (give a numeric uid)", ErrUnsupported)
	}
	gid := uid
	if hasGroup {
		if gid, err = strconv.ParseUint(g, 10, 31); err != nil {
			return 0, 0, fmt.Errorf("group names are %w (give a numeric gid)", ErrUnsupported)
		}
	}
	return int(uid), int(gid), nil
}

// cloneConfig deep-copies c so the base image's config is never changed.
func cloneConfig(c imageConfig) imageConfig {
	c.Shell = slices.Clone(c.Shell)
	c.OnBuild = slices.Clone(c.OnBuild)
	if c.Healthcheck != nil {
		h := *c.Healthcheck
		h.Test = slices.Clone(h.Test)
		c.Healthcheck = &h
	}
	c.Env = slices.Clone(c.Env)
	c.Entrypoint = slices.Clone(c.Entrypoint)
	c.Cmd = slices.Clone(c.Cmd)
	c.Labels = cloneMap(c.Labels)
	c.ExposedPorts = cloneMap(c.ExposedPorts)
	c.Volumes = cloneMap(c.Volumes)
	return c
}

// cloneMap copies m; nil stays nil.
func cloneMap[V any](m map[string]V) map[string]V {
	if m == nil {
		return nil
	}
	out := make(map[string]V, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// envMap adapts a map to the shell lexer's variable lookup.
type envMap map[string]string

// Get returns the value of name.
func (m envMap) Get(name string) (string, bool) {
	v, ok := m[name]
	return v, ok
}

// Keys returns the variable names, sorted.
func (m envMap) Keys() []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
