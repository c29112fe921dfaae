package plugins

import (
	"errors"
	"fmt"
	"math"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/ventapp/ventapp/portmap"
	"github.com/ventapp/ventapp/pylit"
)

// DockerSettings is what ventapp takes from the [docker] section. Each
// value is read as a Python literal, falling back to the raw text when it
// is not one, as vent did; "host" and "python3 run.py" are therefore plain
// strings.
type DockerSettings struct {
	// Command is the argument list put before the file path. A string
	// value is split like a shell would (quotes and backslashes, no
	// expansion); a list value is used as is. vent only handled strings
	// (it appended " <path>" to the text).
	Command []string `json:"command,omitempty"`

	// Environment holds "KEY=VALUE" (or bare "KEY") entries, from a list of
	// strings or from a dict. Dict entries are sorted by key; None gives a
	// bare "KEY".
	Environment []string `json:"environment,omitempty"`

	// HostNetwork is network_mode = host. Every other value, and no value,
	// gives the container no network at all (vent attached it to a bridge).
	HostNetwork bool `json:"host_network,omitempty"`

	// MemoryBytes is mem_limit in bytes; 0 means no limit.
	MemoryBytes int64 `json:"memory_bytes,omitempty"`

	// PidsLimit is pids_limit; 0 means no limit (docker's -1 is read as 0).
	PidsLimit int64 `json:"pids_limit,omitempty"`

	// Volumes are the bind mounts from volumes, sorted by target.
	Volumes []Mount `json:"volumes,omitempty"`

	// User is user, a name or a numeric id, optionally "uid:gid".
	User string `json:"user,omitempty"`

	// WorkingDir is working_dir, an absolute path.
	WorkingDir string `json:"working_dir,omitempty"`

	// Unsupported lists the [docker] keys that ventapp ignores, in file
	// order. Their values stay in the template.
	Unsupported []string `json:"unsupported,omitempty"`
}

// Mount is a bind mount of a host path into the container.
type Mount struct {
	// Source is the absolute host path.
	Source string `json:"source"`

	// Target is the absolute path inside the container.
	Target string `json:"target"`

	// ReadOnly is true for mode "ro".
	ReadOnly bool `json:"read_only,omitempty"`
}

// dockerKeys are the [docker] keys that ventapp uses. ports and
// publish_all_ports are only checked here: the engine reads them when it
// starts a service tool (package portmap parses them).
var dockerKeys = []string{
	"command", "environment", "network_mode", "mem_limit", "pids_limit",
	"volumes", "user", "working_dir", "privileged", "ports", "publish_all_ports",
}

// docker reads [docker].
func (r *settingsReader) docker() DockerSettings {
	var d DockerSettings
	for _, key := range r.t.Keys("docker") {
		raw, _ := r.t.Get("docker", key)
		if !slices.Contains(dockerKeys, key) {
			d.Unsupported = append(d.Unsupported, key)
			r.warnf("docker", key, "not supported by ventapp: %s (ignored)", key)
			continue
		}
		if strings.Contains(raw, "`") {
			r.warnf("docker", key, "back-ticks are passed as written; ventapp runs no host commands")
		}

		v := evalLiteral(raw)
		var err error
		switch key {
		case "command":
			d.Command, err = commandValue(v)
		case "environment":
			d.Environment, err = environmentValue(v)
		case "network_mode":
			d.HostNetwork, err = r.networkValue(v)
		case "mem_limit":
			d.MemoryBytes, err = memLimitValue(v)
		case "pids_limit":
			d.PidsLimit, err = pidsLimitValue(v)
		case "volumes":
			d.Volumes, err = volumesValue(v)
		case "user":
			d.User, err = userValue(v)
		case "working_dir":
			d.WorkingDir, err = workingDirValue(v)
		case "privileged":
			err = privilegedValue(v)
		case "ports":
			// Checked here so add and configure refuse a bad value; the
			// engine reads the mappings when the service starts.
			_, err = portmap.FromValue(v)
		case "publish_all_ports":
			_, err = portmap.PublishAll(v)
		}
		if err != nil {
			r.fail("docker", key, raw, "%v", err)
		}
	}
	return d
}

// evalLiteral reads raw as a Python literal, or returns raw itself.
func evalLiteral(raw string) any {
	v, err := pylit.Parse(raw)
	if err != nil {
		return raw
	}
	return v
}

// commandValue reads command: a string (shell-split) or a list of strings.
func commandValue(v any) ([]string, error) {
	switch c := v.(type) {
	case string:
		return shellSplit(c)
	case []any:
		return stringList(c, "command")
	}
	return nil, fmt.Errorf("command must be a string or a list of strings, not %s", pyType(v))
}

// environmentValue reads environment: a list of "K=V" or a dict.
func environmentValue(v any) ([]string, error) {
	switch e := v.(type) {
	case []any:
		list, err := stringList(e, "environment")
		if err != nil {
			return nil, err
		}
		for _, kv := range list {
			if k, _, _ := strings.Cut(kv, "="); k == "" || strings.ContainsAny(kv, "\x00") {
				return nil, fmt.Errorf("environment entry %q must look like KEY=VALUE", kv)
			}
		}
		return list, nil
	case map[string]any:
		keys := make([]string, 0, len(e))
		for k := range e {
			keys = append(keys, k)
		}
		sort.Strings(keys)

		out := make([]string, 0, len(keys))
		for _, k := range keys {
			if k == "" || strings.ContainsAny(k, "=\x00") {
				return nil, fmt.Errorf("environment key %q is not a valid variable name", k)
			}
			switch val := e[k].(type) {
			case nil:
				out = append(out, k)
			case []any, map[string]any:
				return nil, fmt.Errorf("environment value of %s must be a scalar, not %s", k, pyType(val))
			default:
				out = append(out, k+"="+pyScalar(val))
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf(`environment must be a list like ["KEY=VALUE"] or a dict, not %s`, pyType(v))
}

// networkValue reads network_mode; only "host" gives a network.
func (r *settingsReader) networkValue(v any) (bool, error) {
	s, ok := v.(string)
	if !ok {
		return false, fmt.Errorf("network_mode must be a string, not %s", pyType(v))
	}
	if s == "host" {
		return true, nil
	}
	if s != "none" {
		r.warnf("docker", "network_mode", "%q is not supported: the tool runs with no network", s)
	}
	return false, nil
}

// memLimitValue reads mem_limit: an int of bytes or a string such as
// "512m", "1g", "100k", "2048b" (units are powers of 1024, case does not
// matter, a trailing "b" after the unit is allowed: "512mb").
func memLimitValue(v any) (int64, error) {
	switch m := v.(type) {
	case int64:
		if m <= 0 {
			return 0, errors.New("mem_limit must be more than 0 bytes")
		}
		return m, nil
	case string:
		return parseBytes(m)
	}
	return 0, fmt.Errorf(`mem_limit must be a number of bytes or a size like "512m", not %s`, pyType(v))
}

// parseBytes reads a docker-style size string.
func parseBytes(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	if len(t) >= 2 && t[len(t)-1] == 'b' && strings.ContainsRune("kmg", rune(t[len(t)-2])) {
		t = t[:len(t)-1]
	}

	mult := int64(1)
	if n := len(t); n > 0 {
		switch t[n-1] {
		case 'b':
			t = t[:n-1]
		case 'k':
			mult, t = 1<<10, t[:n-1]
		case 'm':
			mult, t = 1<<20, t[:n-1]
		case 'g':
			mult, t = 1<<30, t[:n-1]
		}
	}

	f, err := strconv.ParseFloat(t, 64)
	if err != nil || t == "" || strings.ContainsAny(t, "eEnNiIxXpP_+-") {
		return 0, fmt.Errorf(`mem_limit %q is not a size like "512m", "1g" or "100k"`, s)
	}
	bytes := f * float64(mult)
	if bytes < 1 || bytes >= math.MaxInt64 {
		return 0, fmt.Errorf("mem_limit %q is out of range", s)
	}
	return int64(bytes), nil
}

// pidsLimitValue reads pids_limit; -1 and 0 mean no limit.
func pidsLimitValue(v any) (int64, error) {
	n, ok := v.(int64)
	if !ok || n < -1 {
		return 0, fmt.Errorf("pids_limit must be a whole number (-1 or 0 for no limit), not %s", pyShow(v))
	}
	return max(n, 0), nil
}

// volumesValue reads volumes in vent's dict form
// {'/host': {'bind': '/ctr', 'mode': 'rw'}} or as a list of
// "host:ctr[:ro|rw]".
func volumesValue(v any) ([]Mount, error) {
	var mounts []Mount
	switch vol := v.(type) {
	case map[string]any:
		for host, spec := range vol {
			m, err := dictMount(host, spec)
			if err != nil {
				return nil, err
			}
			mounts = append(mounts, m)
		}
	case []any:
		list, err := stringList(vol, "volumes")
		if err != nil {
			return nil, err
		}
		for _, s := range list {
			m, err := stringMount(s)
			if err != nil {
				return nil, err
			}
			mounts = append(mounts, m)
		}
	default:
		return nil, fmt.Errorf("volumes must be a dict {'/host': {'bind': '/ctr', 'mode': 'rw'}} "+
			"or a list of \"/host:/ctr[:ro]\", not %s", pyType(v))
	}

	sort.Slice(mounts, func(i, j int) bool { return mounts[i].Target < mounts[j].Target })
	for i := 1; i < len(mounts); i++ {
		if mounts[i].Target == mounts[i-1].Target {
			return nil, fmt.Errorf("two volumes are mounted at %s", mounts[i].Target)
		}
	}
	return mounts, nil
}

// dictMount reads one entry of the dict form.
func dictMount(host string, spec any) (Mount, error) {
	d, ok := spec.(map[string]any)
	if !ok {
		return Mount{}, fmt.Errorf("volume %s must map to {'bind': '/ctr', 'mode': 'rw'}", host)
	}
	for k := range d {
		if k != "bind" && k != "mode" {
			return Mount{}, fmt.Errorf("volume %s: unknown option %q (only bind and mode)", host, k)
		}
	}

	bind, ok := d["bind"].(string)
	if !ok {
		return Mount{}, fmt.Errorf("volume %s has no 'bind' path", host)
	}
	mode := "rw"
	if m, ok := d["mode"]; ok {
		if mode, ok = m.(string); !ok {
			return Mount{}, fmt.Errorf("volume %s: mode must be 'ro' or 'rw'", host)
		}
	}
	return newMount(host, bind, mode)
}

// stringMount reads one "host:ctr[:mode]" entry.
func stringMount(s string) (Mount, error) {
	parts := strings.Split(s, ":")
	switch len(parts) {
	case 2:
		return newMount(parts[0], parts[1], "rw")
	case 3:
		return newMount(parts[0], parts[1], parts[2])
	}
	return Mount{}, fmt.Errorf("volume %q must look like /host:/ctr or /host:/ctr:ro", s)
}

// newMount checks the paths and mode of a mount.
func newMount(host, target, mode string) (Mount, error) {
	switch {
	case !path.IsAbs(host):
		return Mount{}, fmt.Errorf("volume source %q must be an absolute host path "+
			"(named volumes are not supported)", host)
	case !path.IsAbs(target):
		return Mount{}, fmt.Errorf("volume target %q must be an absolute path", target)
	case mode != "ro" && mode != "rw":
		return Mount{}, fmt.Errorf("volume %s: mode %q must be 'ro' or 'rw'", host, mode)
	}
	return Mount{Source: path.Clean(host), Target: path.Clean(target), ReadOnly: mode == "ro"}, nil
}

// userValue reads user: a string or an int uid.
func userValue(v any) (string, error) {
	switch u := v.(type) {
	case string:
		if u == "" || strings.ContainsAny(u, " \t\n\x00") {
			return "", fmt.Errorf("user %q is not a user name or id", u)
		}
		return u, nil
	case int64:
		if u < 0 || u > math.MaxUint32 {
			return "", fmt.Errorf("user id %d is out of range", u)
		}
		return strconv.FormatInt(u, 10), nil
	}
	return "", fmt.Errorf("user must be a name or a numeric id, not %s", pyType(v))
}

// workingDirValue reads working_dir, which must be absolute.
func workingDirValue(v any) (string, error) {
	s, ok := v.(string)
	if !ok || !path.IsAbs(s) {
		return "", fmt.Errorf("working_dir must be an absolute path, not %s", pyShow(v))
	}
	return path.Clean(s), nil
}

// privilegedValue accepts only a false privileged setting.
func privilegedValue(v any) error {
	refuse := errors.New("ventapp refuses to run privileged containers; remove privileged " +
		"or set it to False")
	switch p := v.(type) {
	case bool:
		if p {
			return refuse
		}
		return nil
	case int64:
		if p != 0 {
			return refuse
		}
		return nil
	case string:
		switch strings.ToLower(p) {
		case "false", "no", "0", "":
			return nil
		case "true", "yes", "1":
			return refuse
		}
	}
	return fmt.Errorf("privileged must be True or False, not %s", pyShow(v))
}

// stringList checks that every element of l is a string.
func stringList(l []any, key string) ([]string, error) {
	out := make([]string, 0, len(l))
	for _, e := range l {
		s, ok := e.(string)
		if !ok {
			return nil, fmt.Errorf("%s entries must be strings, found %s", key, pyShow(e))
		}
		out = append(out, s)
	}
	return out, nil
}

// pyScalar formats a scalar the way Python's str() would.
func pyScalar(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case bool:
		if x {
			return "True"
		}
		return "False"
	case nil:
		return "None"
	}
	return fmt.Sprint(v)
}

// pyType names the Python type of a parsed literal.
func pyType(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64:
		return "an int"
	case float64:
		return "a float"
	case bool:
		return "a bool"
	case nil:
		return "None"
	case []any:
		return "a list"
	case map[string]any:
		return "a dict"
	}
	return fmt.Sprintf("%T", v)
}

// pyShow shows a parsed literal's type and value for error messages.
func pyShow(v any) string {
	switch v.(type) {
	case []any, map[string]any, nil:
		return pyType(v)
	}
	return fmt.Sprintf("%s (%s)", pyType(v), pyScalar(v))
}

// joinErrors returns the only error of errs or all of them joined.
func joinErrors(errs []error) error {
	if len(errs) == 1 {
		return errs[0]
	}
	return errors.Join(errs...)
}
