package plugins

// vent's two home-directory files: ~/.vent_startup.yml, which lists the
// repositories and tools to install, build and start (with template
// overrides), and ~/.plugin_config.yml, which fills a tool's
// config/<dir>.config at build time. This file parses both and applies the
// overrides to a tool; engine/startup.go runs them.
//
// Where ventapp differs from vent on purpose:
//   - The startup file is never rewritten. vent lower-cased the whole file
//     in place before reading it, which broke URLs, image names and values
//     with capitals; ventapp compares option keys, section names and tool
//     names without regard to case and keeps values as written.
//   - A value of the wrong type (a vent.cfg value that is not a boolean, a
//     build or start that is not yes/no, a list where text is needed) is an
//     error naming the file and line; vent crashed.
//   - A YAML list under info, settings, service or gpu becomes vent's comma
//     list ("a,b") instead of a Python list literal nobody could read back.
//   - Repeated keys are an error (YAML forbids them; vent's loader kept the
//     last).

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"
	"gopkg.in/ini.v1"
)

// ErrStartup is returned for a startup or plugin config file that cannot
// be read or used. Such errors are *StartupError values.
var ErrStartup = errors.New("bad startup file")

// MaxStartupSize is the largest startup or plugin config file accepted,
// in bytes.
const MaxStartupSize = 1 << 20

// StartupError is a problem in a startup or plugin config file.
type StartupError struct {
	// File names the file.
	File string

	// Line is the 1-based line of the problem, or 0 when unknown.
	Line int

	// Problem says what is wrong.
	Problem string
}

// Error returns "file:line: problem".
func (e *StartupError) Error() string {
	return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Problem)
}

// Unwrap returns ErrStartup.
func (e *StartupError) Unwrap() error { return ErrStartup }

// Startup is a parsed ~/.vent_startup.yml.
type Startup struct {
	// File names the file parsed.
	File string

	// VentCfg are the "vent.cfg" values, booleans already turned into
	// "yes" or "no", in file order.
	VentCfg []CfgValue

	// Repos are the repositories, in file order.
	Repos []StartupRepo
}

// CfgValue is one vent.cfg value set by a startup file.
type CfgValue struct {
	Section, Option, Value string
	Line                   int
}

// StartupRepo is one repository of a startup file and the tools to take
// from it.
type StartupRepo struct {
	// URL is the repository URL as written.
	URL string

	// Line is the line of the URL.
	Line int

	// Branch and Version are the branch and commit shared by the tools
	// (empty: the remote's default branch, its tip). ventapp keeps one
	// checkout per repository, so tools of one repository that ask for
	// different ones are refused.
	Branch, Version string

	// Tools are the tools to install, in file order.
	Tools []StartupTool
}

// StartupTool is one tool entry of a startup file.
type StartupTool struct {
	// Name selects the tool as RepoOptions.Tools does: a folder name, a
	// folder path, "dir@suffix" or "@suffix"; lower-cased.
	Name string

	// Line is the line of the name.
	Line int

	// Image replaces the image name the tool would get.
	Image string

	// Build is what the file says of build; ventapp always builds, as
	// vent did from v0.8 on, so it is only reported.
	Build bool

	// Start asks for the tool to be started once built.
	Start bool

	// Overrides are the template values to set, by section then key, as
	// template text.
	Overrides map[string]map[string]string
}

// overrideSections are the template sections a startup file may change.
var overrideSections = []string{"info", "service", "settings", "docker", "gpu"}

// yamlLine finds the line number in a YAML library error.
var yamlLine = regexp.MustCompile(`line (\d+)`)

// parseYAML reads data as one YAML document and returns its root mapping
// (nil for an empty document).
func parseYAML(name string, data []byte) (*yaml.Node, error) {
	if len(data) > MaxStartupSize {
		return nil, &StartupError{File: name, Problem: fmt.Sprintf(
			"the file is %d bytes, more than the %d allowed", len(data), MaxStartupSize)}
	}

	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if err.Error() == "EOF" {
			return nil, nil
		}
		line := 0
		if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
			line, _ = strconv.Atoi(m[1])
		}
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		msg = strings.TrimPrefix(msg, fmt.Sprintf("line %d: ", line))
		return nil, &StartupError{File: name, Line: line, Problem: "not valid YAML: " + msg}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		line := extra.Line
		if len(extra.Content) > 0 {
			line = extra.Content[0].Line
		}
		return nil, &StartupError{File: name, Line: line, Problem: "a second YAML document; " +
			"the file must hold one"}
	}

	if len(doc.Content) == 0 {
		return nil, nil
	}
	root := doc.Content[0]
	if isNull(root) {
		return nil, nil
	}
	if root.Kind != yaml.MappingNode {
		return nil, &StartupError{File: name, Line: root.Line, Problem: "the file must be a mapping " +
			"(key: value lines)"}
	}
	return root, nil
}

// isNull reports whether n is an empty or null value.
func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// pairs returns the key and value nodes of a mapping, refusing repeated
// keys and keys that are not text. fold compares keys without case.
func pairs(name string, m *yaml.Node, fold bool) ([][2]*yaml.Node, error) {
	if m.Kind == yaml.AliasNode {
		return nil, &StartupError{File: name, Line: m.Line, Problem: "YAML aliases are not supported"}
	}
	var out [][2]*yaml.Node
	seen := map[string]int{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.Tag == "!!merge" || k.Value == "<<" {
			return nil, &StartupError{File: name, Line: k.Line, Problem: "keys must be plain text"}
		}
		if v.Kind == yaml.AliasNode {
			return nil, &StartupError{File: name, Line: v.Line, Problem: "YAML aliases are not supported"}
		}
		key := k.Value
		if fold {
			key = strings.ToLower(key)
		}
		if prev, dup := seen[key]; dup {
			return nil, &StartupError{File: name, Line: k.Line, Problem: fmt.Sprintf(
				"%q is already given on line %d", k.Value, prev)}
		}
		seen[key] = k.Line
		out = append(out, [2]*yaml.Node{k, v})
	}
	return out, nil
}

// yamlBool reads a YAML 1.1 boolean (true/false, yes/no, on/off, y/n in
// any case), the forms vent's loader accepted.
func yamlBool(n *yaml.Node) (bool, bool) {
	if n.Kind != yaml.ScalarNode || n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 {
		return false, false
	}
	switch strings.ToLower(n.Value) {
	case "true", "yes", "on", "y":
		return true, true
	case "false", "no", "off", "n":
		return false, true
	}
	return false, false
}

// ParseStartup parses the text of a startup file; name identifies it in
// errors. An empty file gives an empty Startup.
func ParseStartup(name string, data []byte) (*Startup, error) {
	s := &Startup{File: name}
	root, err := parseYAML(name, data)
	if err != nil || root == nil {
		return s, err
	}
	top, err := pairs(name, root, false)
	if err != nil {
		return nil, err
	}

	for _, kv := range top {
		k, v := kv[0], kv[1]
		if strings.EqualFold(k.Value, "vent.cfg") {
			if s.VentCfg, err = parseVentCfg(name, v); err != nil {
				return nil, err
			}
			continue
		}
		r, err := parseStartupRepo(name, k, v)
		if err != nil {
			return nil, err
		}
		s.Repos = append(s.Repos, r)
	}
	return s, nil
}

// parseVentCfg reads "vent.cfg: {section: {option: bool}}".
func parseVentCfg(name string, v *yaml.Node) ([]CfgValue, error) {
	if v.Kind != yaml.MappingNode {
		return nil, &StartupError{File: name, Line: v.Line, Problem: "vent.cfg must map sections to " +
			"options (section: {option: yes})"}
	}
	secs, err := pairs(name, v, false)
	if err != nil {
		return nil, err
	}
	var out []CfgValue
	for _, sv := range secs {
		if sv[1].Kind != yaml.MappingNode {
			return nil, &StartupError{File: name, Line: sv[1].Line, Problem: fmt.Sprintf(
				"vent.cfg section %s must map options to yes or no", sv[0].Value)}
		}
		opts, err := pairs(name, sv[1], false)
		if err != nil {
			return nil, err
		}
		for _, ov := range opts {
			b, ok := yamlBool(ov[1])
			if !ok {
				return nil, &StartupError{File: name, Line: ov[1].Line, Problem: fmt.Sprintf(
					"vent.cfg [%s] %s must be yes or no (a boolean), not %s",
					sv[0].Value, ov[0].Value, describe(ov[1]))}
			}
			out = append(out, CfgValue{Section: sv[0].Value, Option: ov[0].Value,
				Value: yesNo(b), Line: ov[0].Line})
		}
	}
	return out, nil
}

// describe names a YAML value for an error message.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	if isNull(n) {
		return "empty"
	}
	return strconv.Quote(n.Value)
}

// parseStartupRepo reads one "URL: {tool: {options}}" entry.
func parseStartupRepo(name string, k, v *yaml.Node) (StartupRepo, error) {
	r := StartupRepo{URL: k.Value, Line: k.Line}
	if strings.TrimSpace(r.URL) == "" {
		return r, &StartupError{File: name, Line: k.Line, Problem: "empty repository URL"}
	}
	if _, err := ParseRepoURL(r.URL); err != nil {
		return r, &StartupError{File: name, Line: k.Line, Problem: redactURL(err.Error())}
	}
	if v.Kind != yaml.MappingNode {
		return r, &StartupError{File: name, Line: k.Line, Problem: fmt.Sprintf(
			"repository %s must list its tools (tool_name: followed by its options), not %s",
			redactURL(r.URL), describe(v))}
	}
	tools, err := pairs(name, v, true)
	if err != nil {
		return r, err
	}
	if len(tools) == 0 {
		return r, &StartupError{File: name, Line: k.Line, Problem: "repository " + redactURL(r.URL) +
			" lists no tools"}
	}

	branchLine, versionLine := 0, 0
	for _, tv := range tools {
		t, branch, version, err := parseStartupTool(name, tv[0], tv[1])
		if err != nil {
			return r, err
		}
		if len(r.Tools) == 0 {
			r.Branch, r.Version, branchLine, versionLine = branch, version, t.Line, t.Line
		}
		switch {
		case branch != r.Branch:
			return r, &StartupError{File: name, Line: t.Line, Problem: fmt.Sprintf(
				"tool %s asks for branch %q, tool on line %d for %q; ventapp keeps one checkout per "+
					"repository, so its tools must share branch and version",
				t.Name, branch, branchLine, r.Branch)}
		case version != r.Version:
			return r, &StartupError{File: name, Line: t.Line, Problem: fmt.Sprintf(
				"tool %s asks for version %q, tool on line %d for %q; ventapp keeps one checkout per "+
					"repository, so its tools must share branch and version",
				t.Name, version, versionLine, r.Version)}
		}
		r.Tools = append(r.Tools, t)
	}
	return r, nil
}

// parseStartupTool reads one tool entry and its options.
func parseStartupTool(name string, k, v *yaml.Node) (t StartupTool, branch, version string, err error) {
	t = StartupTool{Name: strings.ToLower(strings.TrimSpace(k.Value)), Line: k.Line, Build: true,
		Overrides: map[string]map[string]string{}}
	if t.Name == "" {
		return t, "", "", &StartupError{File: name, Line: k.Line, Problem: "empty tool name"}
	}
	if isNull(v) {
		return t, "", "", nil
	}
	if v.Kind != yaml.MappingNode {
		return t, "", "", &StartupError{File: name, Line: v.Line, Problem: fmt.Sprintf(
			"tool %s must be followed by its options (option: value) or nothing, not %s",
			t.Name, describe(v))}
	}
	opts, err := pairs(name, v, true)
	if err != nil {
		return t, "", "", err
	}

	for _, ov := range opts {
		key, val := strings.ToLower(ov[0].Value), ov[1]
		fail := func(format string, args ...any) error {
			return &StartupError{File: name, Line: val.Line, Problem: fmt.Sprintf("tool %s: %s: ",
				t.Name, key) + fmt.Sprintf(format, args...)}
		}
		switch {
		case key == "branch" || key == "version" || key == "image":
			if val.Kind != yaml.ScalarNode || isNull(val) {
				return t, "", "", fail("must be text, not %s", describe(val))
			}
			switch key {
			case "branch":
				branch = val.Value
			case "version":
				version = val.Value
				if strings.EqualFold(version, "head") {
					version = ""
				}
			default:
				if !validImage(val.Value) {
					return t, "", "", fail("%q is not an image reference of the form name:tag "+
						"(lower-case name)", val.Value)
				}
				t.Image = val.Value
			}

		case key == "build" || key == "start":
			b, ok := yamlBool(val)
			if !ok {
				return t, "", "", fail("must be yes or no, not %s", describe(val))
			}
			if key == "build" {
				t.Build = b
			} else {
				t.Start = b
			}

		case slices.Contains(overrideSections, key):
			if err := t.readSection(name, key, val); err != nil {
				return t, "", "", err
			}

		default:
			return t, "", "", &StartupError{File: name, Line: ov[0].Line, Problem: fmt.Sprintf(
				"tool %s: unknown option %q (known: branch, version, image, build, start, %s)",
				t.Name, ov[0].Value, strings.Join(overrideSections, ", "))}
		}
	}
	return t, branch, version, nil
}

// readSection reads the values of one template section override.
func (t *StartupTool) readSection(name, section string, v *yaml.Node) error {
	if v.Kind != yaml.MappingNode {
		return &StartupError{File: name, Line: v.Line, Problem: fmt.Sprintf(
			"tool %s: %s must map template keys to values, not %s", t.Name, section, describe(v))}
	}
	kvs, err := pairs(name, v, false)
	if err != nil {
		return err
	}
	vals := map[string]string{}
	for _, kv := range kvs {
		key := kv[0].Value
		if strings.ContainsAny(key, "=[]\n\r") || strings.TrimSpace(key) != key || key == "" ||
			key[0] == '#' || key[0] == ';' {
			return &StartupError{File: name, Line: kv[0].Line, Problem: fmt.Sprintf(
				"tool %s: %s: %q cannot be a template key", t.Name, section, key)}
		}
		text, err := templateValue(section, kv[1])
		if err != nil {
			return &StartupError{File: name, Line: kv[1].Line, Problem: fmt.Sprintf(
				"tool %s: [%s] %s: %v", t.Name, section, key, err)}
		}
		vals[key] = text
	}
	t.Overrides[section] = vals
	return nil
}

// templateValue turns a YAML value into template text. In [docker],
// whose values vent read as Python literals, lists and mappings become
// Python literals and booleans True/False; elsewhere booleans become
// yes/no and lists vent's comma lists.
func templateValue(section string, n *yaml.Node) (string, error) {
	var (
		s   string
		err error
	)
	if section == "docker" {
		s, err = pyLiteral(n, true)
	} else {
		s, err = plainValue(n)
	}
	if err == nil && strings.ContainsAny(s, "\n\r") {
		err = errors.New("a template value must fit on one line")
	}
	return s, err
}

// plainValue is the text of a scalar or a list of scalars.
func plainValue(n *yaml.Node) (string, error) {
	switch n.Kind {
	case yaml.ScalarNode:
		if isNull(n) {
			return "", nil
		}
		if b, ok := yamlBool(n); ok {
			return yesNo(b), nil
		}
		return n.Value, nil
	case yaml.SequenceNode:
		var parts []string
		for _, c := range n.Content {
			if c.Kind != yaml.ScalarNode {
				return "", fmt.Errorf("line %d: a list here may hold only plain values", c.Line)
			}
			if strings.Contains(c.Value, ",") {
				return "", fmt.Errorf("line %d: list item %q holds a comma, which the comma list "+
					"cannot keep", c.Line, c.Value)
			}
			parts = append(parts, strings.TrimSpace(c.Value))
		}
		return strings.Join(parts, ","), nil
	}
	return "", fmt.Errorf("%s is not allowed here; give text, a number, yes/no or a list", describe(n))
}

// pyLiteral writes n as a Python literal. top keeps a top-level string
// unquoted, as template values are written.
func pyLiteral(n *yaml.Node, top bool) (string, error) {
	switch n.Kind {
	case yaml.ScalarNode:
		switch tag := n.ShortTag(); {
		case tag == "!!null":
			if top {
				return "", nil
			}
			return "None", nil
		case tag == "!!bool":
			b, _ := yamlBool(n)
			if b {
				return "True", nil
			}
			return "False", nil
		case tag == "!!int" || tag == "!!float":
			return n.Value, nil
		case top:
			return n.Value, nil
		}
		return pyQuote(n.Value), nil

	case yaml.SequenceNode:
		parts := make([]string, 0, len(n.Content))
		for _, c := range n.Content {
			s, err := pyLiteral(c, false)
			if err != nil {
				return "", err
			}
			parts = append(parts, s)
		}
		return "[" + strings.Join(parts, ", ") + "]", nil

	case yaml.MappingNode:
		var parts []string
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, err := pyLiteral(n.Content[i], false)
			if err != nil {
				return "", err
			}
			v, err := pyLiteral(n.Content[i+1], false)
			if err != nil {
				return "", err
			}
			parts = append(parts, k+": "+v)
		}
		return "{" + strings.Join(parts, ", ") + "}", nil
	}
	return "", fmt.Errorf("line %d: YAML aliases are not supported", n.Line)
}

// pyQuote quotes s as a Python string literal.
func pyQuote(s string) string {
	var b strings.Builder
	b.WriteByte('\'')
	for _, r := range s {
		switch r {
		case '\\', '\'':
			b.WriteByte('\\')
			b.WriteRune(r)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('\'')
	return b.String()
}

// Selects reports whether the entry names p, whose repository is cloned
// in a folder named repoBase, with RepoOptions.Tools' rules.
func (t *StartupTool) Selects(p *Plugin, repoBase string) bool {
	sel := newToolSelector([]string{t.Name}, strings.ToLower(repoBase))
	rel := p.RelPath
	if rel == "" {
		rel = "/"
	}
	return sel.tool(rel, p.Name)
}

// Apply sets the entry's template overrides and image on p (vent merged
// them into the tool's manifest entry). The new template is checked as a
// template is on add; on error p is unchanged.
func (t *StartupTool) Apply(p *Plugin, file string) error {
	if len(t.Overrides) > 0 {
		tpl, err := ParseTemplate(p.TemplatePath, []byte(p.Template))
		if err != nil {
			return err
		}
		for _, sec := range sortedKeys(t.Overrides) {
			for _, k := range sortedKeys(t.Overrides[sec]) {
				tpl.set(sec, k, t.Overrides[sec][k])
			}
		}
		text := tpl.String()
		tpl, err = ParseTemplate(p.TemplatePath, []byte(text))
		if err != nil {
			return fmt.Errorf("%s:%d: tool %s: the overrides make a bad template: %w",
				file, t.Line, t.Name, err)
		}
		settings, err := ParseSettings(tpl, dirBase(p))
		if err != nil {
			return fmt.Errorf("%s:%d: tool %s: the overrides give a bad setting: %w",
				file, t.Line, t.Name, err)
		}
		p.Template, p.Settings = text, settings
		p.LinkName, p.Groups = settings.Info.Name, slices.Clone(settings.Info.Groups)
	}
	if t.Image != "" {
		p.Image = t.Image
	}
	return nil
}

// dirBase is the folder name of p's source, the default [info] name.
func dirBase(p *Plugin) string {
	if p.Dir == "" {
		return p.Name
	}
	d := strings.TrimRight(p.Dir, "/")
	return d[strings.LastIndex(d, "/")+1:]
}

// set sets key in section, adding the section or key at the end.
func (t *Template) set(section, key, value string) {
	s := t.section(section)
	if s == nil {
		s = &templateSection{name: section, values: map[string]string{}, lines: map[string]int{}}
		t.sections = append(t.sections, s)
	}
	if _, ok := s.values[key]; !ok {
		s.keys = append(s.keys, key)
	}
	s.values[key] = value
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// PluginConfig is a parsed ~/.plugin_config.yml: by tool folder name,
// the values for that tool's config/<folder>.config, by section then
// option.
type PluginConfig struct {
	// File names the file parsed.
	File string

	// Tools holds the values by folder name as written.
	Tools map[string]map[string]map[string]string
}

// ParsePluginConfig parses the text of a plugin config file:
// "<folder>: {<section>: {<option>: value}}" with scalar values, written
// as they appear in the file.
func ParsePluginConfig(name string, data []byte) (*PluginConfig, error) {
	pc := &PluginConfig{File: name, Tools: map[string]map[string]map[string]string{}}
	root, err := parseYAML(name, data)
	if err != nil || root == nil {
		return pc, err
	}
	tools, err := pairs(name, root, false)
	if err != nil {
		return nil, err
	}
	for _, tv := range tools {
		if tv[1].Kind != yaml.MappingNode {
			return nil, &StartupError{File: name, Line: tv[1].Line, Problem: fmt.Sprintf(
				"%s must map sections to options (section: {option: value}), not %s",
				tv[0].Value, describe(tv[1]))}
		}
		secs, err := pairs(name, tv[1], false)
		if err != nil {
			return nil, err
		}
		tool := map[string]map[string]string{}
		for _, sv := range secs {
			if sv[1].Kind != yaml.MappingNode {
				return nil, &StartupError{File: name, Line: sv[1].Line, Problem: fmt.Sprintf(
					"%s: section %s must map options to values, not %s",
					tv[0].Value, sv[0].Value, describe(sv[1]))}
			}
			opts, err := pairs(name, sv[1], false)
			if err != nil {
				return nil, err
			}
			vals := map[string]string{}
			for _, ov := range opts {
				if ov[1].Kind != yaml.ScalarNode || strings.ContainsAny(ov[1].Value, "\n\r") {
					return nil, &StartupError{File: name, Line: ov[1].Line, Problem: fmt.Sprintf(
						"%s: [%s] %s must be one line of text, a number or a boolean, not %s",
						tv[0].Value, sv[0].Value, ov[0].Value, describe(ov[1]))}
				}
				if strings.ContainsAny(ov[0].Value, "=:[]\n\r") || strings.TrimSpace(ov[0].Value) == "" {
					return nil, &StartupError{File: name, Line: ov[0].Line, Problem: fmt.Sprintf(
						"%s: [%s]: %q cannot be an option name", tv[0].Value, sv[0].Value, ov[0].Value)}
				}
				vals[ov[0].Value] = ov[1].Value
			}
			tool[sv[0].Value] = vals
		}
		pc.Tools[tv[0].Value] = tool
	}
	return pc, nil
}

// Fill writes the values for folder into the INI file path (the tool's
// config/<folder>.config), as vent did at build time: for each option an
// environment variable of the option's name, when set (lookup finds it),
// wins over the file's value. It reports whether the file changed. The
// file is replaced atomically and keeps its permissions.
func (pc *PluginConfig) Fill(folder, path string, lookup func(string) (string, bool)) (bool, error) {
	vals, ok := pc.Tools[folder]
	if !ok || len(vals) == 0 {
		return false, nil
	}
	f, err := ini.LoadSources(ini.LoadOptions{IgnoreInlineComment: true, PreserveSurroundedQuote: true}, path)
	if err != nil {
		return false, fmt.Errorf("plugin config %s for %s: %w", path, folder, err)
	}

	changed := false
	for _, sec := range sortedKeys(vals) {
		for _, opt := range sortedKeys(vals[sec]) {
			v := vals[sec][opt]
			if lookup != nil {
				if env, ok := lookup(opt); ok {
					v = env
				}
			}
			k := f.Section(sec).Key(opt)
			if f.Section(sec).HasKey(opt) && k.Value() == v {
				continue
			}
			k.SetValue(v)
			changed = true
		}
	}
	if !changed {
		return false, nil
	}

	var buf bytes.Buffer
	if _, err := f.WriteTo(&buf); err != nil {
		return false, fmt.Errorf("plugin config %s: %w", path, err)
	}
	perm := os.FileMode(0o644)
	if fi, err := os.Stat(path); err == nil {
		perm = fi.Mode().Perm()
	}
	if err := writeFileAtomic(path, buf.Bytes(), perm); err != nil {
		return false, fmt.Errorf("plugin config %s: %w", path, err)
	}
	return true, nil
}
