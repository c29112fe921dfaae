package plugins

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Settings are the typed values of a template. ParseSettings fills them.
// The fields of the [settings] section sit directly in Settings.
type Settings struct {
	// Info holds the [info] section.
	Info InfoSettings `json:"info"`

	// ExtTypes is [settings] ext_types, a comma list. A file matches when
	// its full path ends with an entry (case-sensitive, no dot implied).
	// ventapp trims entries and drops empty ones; vent did neither, so in
	// vent " pcapng" never matched and an empty entry matched every file.
	// Without entries the tool never runs on files.
	ExtTypes []string `json:"ext_types,omitempty"`

	// ProcessBase reports whether files dropped directly in the drop root
	// are processed ([settings] process_base). Only the exact value "no"
	// turns it off, as in vent.
	ProcessBase bool `json:"process_base"`

	// ProcessFromTool is [settings] process_from_tool, a comma list of the
	// [info] names of tools whose output folders this tool processes.
	// Entries are trimmed and empty ones dropped (vent did neither).
	ProcessFromTool []string `json:"process_from_tool,omitempty"`

	// Instances is [settings] instances, a positive int, default 1. vent
	// started N copies of a tool (and ran a file plugin N times per file);
	// ventapp instead runs at most N containers of the tool at once.
	Instances int `json:"instances"`

	// Priority is [settings] priority, a comma list of ints aligned with
	// Info.Groups, used to order the start of long-running tools.
	Priority []int `json:"priority,omitempty"`

	// Docker holds the [docker] section, reduced to what ventapp runs.
	Docker DockerSettings `json:"docker"`

	// GPU holds the [gpu] section.
	GPU GPUSettings `json:"gpu"`

	// Labels are the [service] keys (uri_prefix1, uri_postfix1, ...) and
	// values, kept verbatim as container labels as vent did.
	Labels map[string]string `json:"labels,omitempty"`

	// Warnings lists what the template holds that ventapp ignores or reads
	// differently from vent. They do not stop the tool from loading.
	Warnings []string `json:"warnings,omitempty"`
}

// InfoSettings is the [info] section.
type InfoSettings struct {
	// Name is the display ("link") name from [info] name. Default: the
	// tool folder name. Chained tools name it in process_from_tool.
	Name string `json:"name"`

	// Groups is the comma list [info] groups, entries trimmed, empty
	// entries dropped.
	Groups []string `json:"groups,omitempty"`
}

// GPUSettings is the [gpu] section. It is parsed and checked here;
// scheduling belongs to the job runner.
type GPUSettings struct {
	// Enabled is [gpu] enabled = yes: the tool needs a GPU.
	Enabled bool `json:"enabled"`

	// Dedicated is [gpu] dedicated = yes: the tool wants a GPU to itself.
	Dedicated bool `json:"dedicated"`

	// Device is the GPU index from [gpu] device; meaningful only when
	// HasDevice is true.
	Device int `json:"device"`

	// HasDevice reports whether [gpu] device was set.
	HasDevice bool `json:"has_device"`

	// MemMB is [gpu] mem_mb, the GPU memory in MiB the tool reserves.
	MemMB int64 `json:"mem_mb"`
}

// settingsReader collects the errors and warnings of ParseSettings.
type settingsReader struct {
	t    *Template
	errs []error
	warn []string
}

// fail records a bad value.
func (r *settingsReader) fail(section, key, value, format string, args ...any) {
	r.errs = append(r.errs, &SettingError{
		File: r.t.name, Line: r.t.Line(section, key),
		Section: section, Key: key, Value: value,
		Problem: fmt.Sprintf(format, args...),
	})
}

// warnf records a warning about a key.
func (r *settingsReader) warnf(section, key, format string, args ...any) {
	r.warn = append(r.warn, fmt.Sprintf("template %s:%d: [%s] %s: %s",
		r.t.name, r.t.Line(section, key), section, key, fmt.Sprintf(format, args...)))
}

// unusedKeys warns about keys of section that ventapp does not read.
func (r *settingsReader) unusedKeys(section string, known ...string) {
	for _, k := range r.t.Keys(section) {
		if !slices.Contains(known, k) {
			r.warnf(section, k, "not used by ventapp")
		}
	}
}

// commentHint warns when a plain value seems to carry an inline comment,
// which vent and ventapp both keep as part of the value.
func (r *settingsReader) commentHint(section string) {
	for _, k := range r.t.Keys(section) {
		v, _ := r.t.Get(section, k)
		if strings.Contains(v, " #") || strings.Contains(v, " ;") {
			r.warnf(section, k, "%q: text after # or ; is part of the value, not a comment", v)
		}
	}
}

// ParseSettings derives typed settings from t. defaultName is the [info]
// name used when the template gives none (vent used the tool folder name).
// Every bad value is reported, joined in one error; each is a
// *SettingError that wraps ErrSetting.
func ParseSettings(t *Template, defaultName string) (Settings, error) {
	r := &settingsReader{t: t}
	s := Settings{
		Info:   r.info(defaultName),
		Docker: r.docker(),
		GPU:    r.gpu(),
		Labels: r.labels(),
	}
	r.files(&s)
	s.Warnings = append(t.Warnings(), r.warn...)

	if len(r.errs) > 0 {
		return Settings{}, joinErrors(r.errs)
	}
	return s, nil
}

// info reads [info].
func (r *settingsReader) info(defaultName string) InfoSettings {
	r.unusedKeys("info", "name", "groups")
	r.commentHint("info")

	in := InfoSettings{Name: defaultName}
	if v, ok := r.t.Get("info", "name"); ok && v != "" {
		in.Name = v
	}
	if v, ok := r.t.Get("info", "groups"); ok {
		in.Groups = splitList(v)
	}
	return in
}

// files reads [settings] into f.
func (r *settingsReader) files(f *Settings) {
	r.unusedKeys("settings", "ext_types", "process_base", "process_from_tool",
		"instances", "priority", "mime_types")
	r.commentHint("settings")

	f.ProcessBase, f.Instances = true, 1
	get := func(key string) (string, bool) { return r.t.Get("settings", key) }

	if _, ok := get("mime_types"); ok {
		r.warnf("settings", "mime_types", "ignored: vent dropped MIME matching in 0.4; use ext_types")
	}
	if v, ok := get("ext_types"); ok {
		f.ExtTypes = splitList(v)
	}
	if v, ok := get("process_base"); ok {
		f.ProcessBase = v != "no"
		if v != "no" && v != "yes" {
			r.warnf("settings", "process_base", "%q is read as yes: only exactly \"no\" turns it off", v)
		}
	}
	if v, ok := get("process_from_tool"); ok {
		f.ProcessFromTool = splitList(v)
	}
	if v, ok := get("instances"); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			r.fail("settings", "instances", v, "must be a whole number of 1 or more")
		}
		f.Instances = n
	}
	if v, ok := get("priority"); ok {
		for _, p := range splitList(v) {
			n, err := strconv.Atoi(p)
			if err != nil {
				r.fail("settings", "priority", v, "entry %q is not a whole number", p)
				continue
			}
			f.Priority = append(f.Priority, n)
		}
	}
}

// gpu reads [gpu].
func (r *settingsReader) gpu() GPUSettings {
	r.unusedKeys("gpu", "enabled", "dedicated", "device", "mem_mb")

	var g GPUSettings
	g.Enabled = r.yesNo("gpu", "enabled")
	g.Dedicated = r.yesNo("gpu", "dedicated")
	if v, ok := r.t.Get("gpu", "device"); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			r.fail("gpu", "device", v, "must be a GPU index (a whole number, 0 or more)")
		}
		g.Device, g.HasDevice = n, true
	}
	if v, ok := r.t.Get("gpu", "mem_mb"); ok {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			r.fail("gpu", "mem_mb", v, "must be a whole number of MiB, 0 or more")
		}
		g.MemMB = n
	}
	return g
}

// yesNo reads a key that must be "yes" or "no"; absent means no.
func (r *settingsReader) yesNo(section, key string) bool {
	v, ok := r.t.Get(section, key)
	switch {
	case !ok || v == "no":
		return false
	case v == "yes":
		return true
	}
	r.fail(section, key, v, `must be "yes" or "no"`)
	return false
}

// labels copies [service].
func (r *settingsReader) labels() map[string]string {
	keys := r.t.Keys("service")
	if len(keys) == 0 {
		return nil
	}
	m := make(map[string]string, len(keys))
	for _, k := range keys {
		m[k], _ = r.t.Get("service", k)
	}
	return m
}

// splitList splits a comma list, trims entries and drops empty ones.
func splitList(v string) []string {
	var out []string
	for _, e := range strings.Split(v, ",") {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	return out
}
