package plugins

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"

	"gopkg.in/ini.v1"
)

// knownSections are the template sections that ventapp reads. Others are
// kept (and written back) but reported as warnings.
var knownSections = []string{"info", "settings", "docker", "gpu", "service"}

// Template is a parsed vent.template: sections of raw string values, in
// the order the file gives them.
//
// The syntax is the one vent accepted: "[section]" lines, "key = value"
// lines split at the first "=", with key and value trimmed, blank lines and
// comment lines starting with "#" or ";". Values are never unquoted and
// "#" or ";" after a value is part of the value. A key that appears twice
// in a section keeps the later value; a section that appears twice has its
// keys merged. Both cases are reported as warnings.
type Template struct {
	name     string
	sections []*templateSection
	warnings []string
}

// templateSection holds one section's keys in file order.
type templateSection struct {
	name   string
	line   int
	keys   []string
	values map[string]string
	lines  map[string]int
}

// MaxTemplateSize is the largest template ParseTemplate accepts, in bytes.
// Real templates are a few hundred bytes; the limit keeps the INI reader,
// whose cost grows faster than linearly with the number of keys, fast.
const MaxTemplateSize = 64 << 10

// ParseTemplate parses the template text data. name identifies the file in
// errors and warnings (usually its path). A line that is not a section
// header, a key = value pair, blank or a comment is an error that names the
// file and the line number; vent silently dropped the whole template then.
func ParseTemplate(name string, data []byte) (*Template, error) {
	if len(data) > MaxTemplateSize {
		return nil, &TemplateError{File: name, Line: 0, Problem: fmt.Sprintf(
			"the template is %d bytes, more than the %d allowed", len(data), MaxTemplateSize)}
	}
	text, err := normalizeTemplate(name, data)
	if err != nil {
		return nil, err
	}

	// Check every line first: the INI reader does not report line numbers
	// and accepts forms that vent read differently.
	want, err := scanTemplate(name, text)
	if err != nil {
		return nil, err
	}

	f, err := ini.LoadSources(iniOptions, []byte(text))
	if err != nil {
		return nil, &TemplateError{File: name, Line: 0, Problem: err.Error()}
	}

	t := &Template{name: name, warnings: want.warnings}
	for _, ws := range want.sections {
		s, err := copySection(name, f, ws)
		if err != nil {
			return nil, err
		}
		t.sections = append(t.sections, s)
		if !slices.Contains(knownSections, s.name) {
			t.warnings = append(t.warnings, fmt.Sprintf(
				"template %s:%d: section [%s] is not used by ventapp; it is kept as written",
				name, s.line, s.name))
		}
	}
	return t, nil
}

// iniOptions make the INI reader keep values exactly as vent did: no
// quote stripping, no inline comments, no continuation lines, "=" only.
var iniOptions = ini.LoadOptions{
	KeyValueDelimiters:      "=",
	IgnoreInlineComment:     true,
	IgnoreContinuation:      true,
	PreserveSurroundedQuote: true,
}

// copySection reads one section from the INI reader's result and checks
// it against what the line scan expected.
func copySection(name string, f *ini.File, want *templateSection) (*templateSection, error) {
	sec, err := f.GetSection(want.name)
	if err != nil {
		return nil, &TemplateError{File: name, Line: want.line, Problem: err.Error()}
	}

	s := &templateSection{
		name: sec.Name(), line: want.line,
		values: map[string]string{}, lines: want.lines,
	}
	for _, k := range sec.Keys() {
		s.keys = append(s.keys, k.Name())
		s.values[k.Name()] = k.Value()
	}

	if !slices.Equal(s.keys, want.keys) {
		return nil, &TemplateError{File: name, Line: want.line, Problem: fmt.Sprintf(
			"the INI reader found keys %q in [%s], the line scan found %q",
			s.keys, want.name, want.keys)}
	}
	for _, k := range s.keys {
		if s.values[k] != want.values[k] {
			return nil, &TemplateError{File: name, Line: want.lines[k], Problem: fmt.Sprintf(
				"the INI reader reads %s as %q, not %q", k, s.values[k], want.values[k])}
		}
	}
	return s, nil
}

// normalizeTemplate checks the encoding, drops a UTF-8 byte order mark and
// turns CR LF and lone CR line ends into LF, as Python's text mode did.
func normalizeTemplate(name string, data []byte) (string, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	text := strings.ReplaceAll(string(data), "\r\n", "\n")
	text = strings.ReplaceAll(text, "\r", "\n")

	for i, line := range strings.Split(text, "\n") {
		if !utf8.ValidString(line) {
			return "", &TemplateError{File: name, Line: i + 1, Problem: "line is not valid UTF-8"}
		}
	}
	return text, nil
}

// scanned is the result of the line scan.
type scanned struct {
	sections []*templateSection
	warnings []string
}

// scanTemplate checks each line and records what it holds.
func scanTemplate(name, text string) (*scanned, error) {
	out := &scanned{}
	byName := map[string]*templateSection{}
	var cur *templateSection

	for i, raw := range strings.Split(text, "\n") {
		n := i + 1
		line := strings.TrimSpace(raw)
		fail := func(format string, args ...any) error {
			return &TemplateError{File: name, Line: n, Problem: fmt.Sprintf(format, args...)}
		}

		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
			continue

		case line[0] == '[':
			sname, err := sectionName(line)
			if err != nil {
				return nil, fail("%v", err)
			}
			if s, ok := byName[sname]; ok {
				out.warnings = append(out.warnings, fmt.Sprintf(
					"template %s:%d: section [%s] already started on line %d; the keys are merged",
					name, n, sname, s.line))
				cur = s
				continue
			}
			cur = &templateSection{
				name: sname, line: n,
				values: map[string]string{}, lines: map[string]int{},
			}
			byName[sname] = cur
			out.sections = append(out.sections, cur)

		default:
			key, value, err := keyValue(line)
			if err != nil {
				return nil, fail("%v", err)
			}
			if cur == nil {
				return nil, fail("%q comes before any [section] line", line)
			}
			if prev, ok := cur.lines[key]; ok {
				out.warnings = append(out.warnings, fmt.Sprintf(
					"template %s:%d: [%s] %s was already set on line %d; the later value is used",
					name, n, cur.name, key, prev))
			} else {
				cur.keys = append(cur.keys, key)
			}
			cur.values[key] = value
			cur.lines[key] = n
		}
	}
	return out, nil
}

// sectionName reads the name from a trimmed "[name]" line.
func sectionName(line string) (string, error) {
	if !strings.HasSuffix(line, "]") || len(line) < 2 {
		return "", fmt.Errorf("section line %q must end with ']' (no text may follow it)", line)
	}
	name := line[1 : len(line)-1]
	if strings.TrimSpace(name) == "" {
		return "", fmt.Errorf("section line %q has no name", line)
	}
	return name, nil
}

// keyValue splits a trimmed "key = value" line at the first "=".
func keyValue(line string) (key, value string, err error) {
	k, v, ok := strings.Cut(line, "=")
	if !ok {
		return "", "", fmt.Errorf("%q is not a [section], a key = value line or a comment", line)
	}

	key, value = strings.TrimSpace(k), strings.TrimSpace(v)
	switch {
	case key == "":
		return "", "", fmt.Errorf("%q has no key before '='", line)
	case key[0] == '"' || key[0] == '`':
		return "", "", fmt.Errorf("key %s: quoted key names are not supported", key)
	case key == "-":
		return "", "", fmt.Errorf("%q: '-' is not a valid key", line)
	case strings.HasPrefix(value, `"""`):
		return "", "", fmt.Errorf(`key %s: a value may not start with """ (INI multi-line values `+
			`are not supported)`, key)
	case strings.HasPrefix(value, "`"):
		return "", "", fmt.Errorf("key %s: a value may not start with a back-tick "+
			"(vent ran back-tick commands on the host; ventapp does not)", key)
	}
	return key, value, nil
}

// Name returns the name the template was parsed under.
func (t *Template) Name() string { return t.name }

// Sections returns the section names in file order.
func (t *Template) Sections() []string {
	names := make([]string, len(t.sections))
	for i, s := range t.sections {
		names[i] = s.name
	}
	return names
}

// Keys returns the keys of section in file order, or nil when the section
// is absent.
func (t *Template) Keys(section string) []string {
	if s := t.section(section); s != nil {
		return slices.Clone(s.keys)
	}
	return nil
}

// Get returns the raw value of key in section and whether it is set.
func (t *Template) Get(section, key string) (string, bool) {
	s := t.section(section)
	if s == nil {
		return "", false
	}
	v, ok := s.values[key]
	return v, ok
}

// Line returns the line number of key in section, the line of the section
// header when key is "", or 0 when absent.
func (t *Template) Line(section, key string) int {
	s := t.section(section)
	switch {
	case s == nil:
		return 0
	case key == "":
		return s.line
	}
	return s.lines[key]
}

// Warnings returns the problems found that did not stop parsing: unknown
// sections, repeated sections and repeated keys.
func (t *Template) Warnings() []string { return slices.Clone(t.warnings) }

// section finds a section by name.
func (t *Template) section(name string) *templateSection {
	for _, s := range t.sections {
		if s.name == name {
			return s
		}
	}
	return nil
}

// String returns the template as text that ParseTemplate reads back to the
// same sections, keys and values. Comments are not kept.
func (t *Template) String() string {
	var b strings.Builder
	_, _ = t.WriteTo(&b)
	return b.String()
}

// WriteTo writes the template text to w.
func (t *Template) WriteTo(w io.Writer) (int64, error) {
	var b bytes.Buffer
	for i, s := range t.sections {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "[%s]\n", s.name)
		for _, k := range s.keys {
			if v := s.values[k]; v != "" {
				fmt.Fprintf(&b, "%s = %s\n", k, v)
			} else {
				fmt.Fprintf(&b, "%s =\n", k)
			}
		}
	}
	return b.WriteTo(w)
}
