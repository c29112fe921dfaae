package capture

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// errVentPayload is a vent-compatible request this package cannot use.
var errVentPayload = errors.New("bad payload")

// parseVentCreate reads a body of vent's /create: a JSON object with nic,
// id, interval (seconds) and iters, an optional filter and metadata. vent
// wanted every value as a string; numbers are accepted too. A filter in
// single quotes loses them, as vent's capture script did. A negative iters
// means forever, as in vent.
func parseVentCreate(body []byte) (Tap, error) {
	obj, err := ventObject(body)
	if err != nil {
		return Tap{}, err
	}
	var t Tap
	for _, f := range []struct {
		key string
		dst *string
	}{{"nic", &t.NIC}, {"id", &t.ID}} {
		v, ok := obj[f.key]
		if !ok {
			return Tap{}, fmt.Errorf("%w: payload missing %s", errVentPayload, f.key)
		}
		if *f.dst, err = ventString(f.key, v); err != nil {
			return Tap{}, err
		}
	}

	iv, ok := obj["interval"]
	if !ok {
		return Tap{}, fmt.Errorf("%w: payload missing interval", errVentPayload)
	}
	secs, err := ventNumber("interval", iv)
	if err != nil {
		return Tap{}, err
	}
	if secs <= 0 || secs > 365*24*3600 {
		return Tap{}, fmt.Errorf("%w: interval %v must be more than 0 seconds and at most a year",
			errVentPayload, secs)
	}
	t.Interval = time.Duration(math.Round(secs*1000)) * time.Millisecond

	it, ok := obj["iters"]
	if !ok {
		return Tap{}, fmt.Errorf("%w: payload missing iters", errVentPayload)
	}
	n, err := ventNumber("iters", it)
	if err != nil {
		return Tap{}, err
	}
	if n != math.Trunc(n) || n > math.MaxInt32 {
		return Tap{}, fmt.Errorf("%w: iters %v is not a whole number", errVentPayload, n)
	}
	t.Iters = max(int(n), 0)

	if fv, ok := obj["filter"]; ok && fv != nil {
		if t.Filter, err = ventString("filter", fv); err != nil {
			return Tap{}, err
		}
		if f := t.Filter; len(f) >= 2 && f[0] == '\'' && f[len(f)-1] == '\'' {
			t.Filter = f[1 : len(f)-1]
		}
	}
	if mv, ok := obj["metadata"]; ok && mv != nil {
		if t.Metadata, err = ventMetadata(mv); err != nil {
			return Tap{}, err
		}
	}
	return t, nil
}

// parseVentIDs reads the body of vent's /start, /stop and /delete:
// {"id": [ids]}. A single string (or number) is one id, where vent walked
// its characters one by one.
func parseVentIDs(body []byte) ([]string, error) {
	obj, err := ventObject(body)
	if err != nil {
		return nil, err
	}
	v, ok := obj["id"]
	if !ok {
		return nil, fmt.Errorf("%w: payload missing id", errVentPayload)
	}
	list, isList := v.([]any)
	if !isList {
		list = []any{v}
	}
	if len(list) == 0 {
		return nil, fmt.Errorf("%w: id is an empty list", errVentPayload)
	}
	ids := make([]string, 0, len(list))
	for _, x := range list {
		s, err := ventString("id", x)
		if err != nil {
			return nil, err
		}
		ids = append(ids, s)
	}
	return ids, nil
}

// parseVentUpdate reads vent's /update body: {"id": ..., "metadata": ...},
// metadata as an object, JSON text, or a Python dict literal.
func parseVentUpdate(body []byte) (string, map[string]any, error) {
	obj, err := ventObject(body)
	if err != nil {
		return "", nil, err
	}
	iv, ok := obj["id"]
	if !ok {
		return "", nil, fmt.Errorf("%w: payload missing id", errVentPayload)
	}
	if l, isList := iv.([]any); isList && len(l) == 1 {
		iv = l[0]
	}
	id, err := ventString("id", iv)
	if err != nil {
		return "", nil, err
	}
	mv, ok := obj["metadata"]
	if !ok || mv == nil {
		return "", nil, fmt.Errorf("%w: payload missing metadata", errVentPayload)
	}
	md, err := ventMetadata(mv)
	return id, md, err
}

func ventObject(body []byte) (map[string]any, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, fmt.Errorf("%w: malformed payload: the body is empty", errVentPayload)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil || obj == nil {
		return nil, fmt.Errorf("%w: malformed payload: not a JSON object", errVentPayload)
	}
	return obj, nil
}

// ventString accepts a string, a JSON number or a boolean as text.
func ventString(key string, v any) (string, error) {
	switch x := v.(type) {
	case string:
		return strings.TrimSpace(x), nil
	case json.Number:
		return x.String(), nil
	case bool:
		return strconv.FormatBool(x), nil
	}
	return "", fmt.Errorf("%w: %s must be a string or a number, not %s", errVentPayload, key, jsonKind(v))
}

// ventNumber accepts a JSON number or a string holding one.
func ventNumber(key string, v any) (float64, error) {
	var s string
	switch x := v.(type) {
	case json.Number:
		s = x.String()
	case string:
		s = strings.TrimSpace(x)
	default:
		return 0, fmt.Errorf("%w: %s must be a number, not %s", errVentPayload, key, jsonKind(v))
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("%w: %s %q is not a number", errVentPayload, key, s)
	}
	return f, nil
}

// ventMetadata accepts an object, or a string holding a JSON object or a
// Python dict literal (vent ≤0.7 sent str(dict)).
func ventMetadata(v any) (map[string]any, error) {
	switch x := v.(type) {
	case map[string]any:
		return numbersToFloat(x).(map[string]any), nil
	case string:
		var obj map[string]any
		if json.Unmarshal([]byte(x), &obj) == nil && obj != nil {
			return obj, nil
		}
		lit, err := parsePyLiteral(x)
		if err != nil {
			return nil, fmt.Errorf("%w: metadata %q: %v", errVentPayload, truncate(x, 80), err)
		}
		if obj, ok := lit.(map[string]any); ok {
			return obj, nil
		}
	}
	return nil, fmt.Errorf("%w: metadata must be an object, not %s", errVentPayload, jsonKind(v))
}

// numbersToFloat turns json.Number values back into float64.
func numbersToFloat(v any) any {
	switch x := v.(type) {
	case json.Number:
		f, _ := x.Float64()
		return f
	case map[string]any:
		for k, e := range x {
			x[k] = numbersToFloat(e)
		}
	case []any:
		for i, e := range x {
			x[i] = numbersToFloat(e)
		}
	}
	return v
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	case bool:
		return "a boolean"
	case json.Number, float64:
		return "a number"
	case string:
		return "a string"
	}
	return fmt.Sprintf("%T", v)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// maxPyDepth bounds nesting in parsePyLiteral.
const maxPyDepth = 32

// parsePyLiteral parses the subset of Python literals that str(dict) of
// plain data produces: dicts, lists, tuples, strings in either quote,
// integers, floats, True, False and None. Dict keys become strings.
func parsePyLiteral(s string) (any, error) {
	p := &pyParser{s: s}
	v, err := p.value(0)
	if err != nil {
		return nil, err
	}
	p.space()
	if p.i != len(p.s) {
		return nil, fmt.Errorf("unexpected %q at offset %d", p.s[p.i], p.i)
	}
	return v, nil
}

type pyParser struct {
	s string
	i int
}

func (p *pyParser) space() {
	for p.i < len(p.s) && strings.IndexByte(" \t\r\n", p.s[p.i]) >= 0 {
		p.i++
	}
}

func (p *pyParser) value(depth int) (any, error) {
	if depth > maxPyDepth {
		return nil, fmt.Errorf("nested deeper than %d", maxPyDepth)
	}
	p.space()
	if p.i >= len(p.s) {
		return nil, errors.New("unexpected end")
	}
	switch c := p.s[p.i]; {
	case c == '{':
		return p.dict(depth)
	case c == '[' || c == '(':
		return p.list(depth, map[byte]byte{'[': ']', '(': ')'}[c])
	case c == '\'' || c == '"':
		return p.str()
	}
	start := p.i
	for p.i < len(p.s) && strings.IndexByte(",:]})\t\r\n ", p.s[p.i]) < 0 {
		p.i++
	}
	word := p.s[start:p.i]
	switch word {
	case "True":
		return true, nil
	case "False":
		return false, nil
	case "None":
		return nil, nil
	}
	f, err := strconv.ParseFloat(word, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, fmt.Errorf("unexpected %q at offset %d", word, start)
	}
	return f, nil
}

func (p *pyParser) dict(depth int) (any, error) {
	p.i++ // {
	out := map[string]any{}
	for {
		p.space()
		if p.i < len(p.s) && p.s[p.i] == '}' {
			p.i++
			return out, nil
		}
		k, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		p.space()
		if p.i >= len(p.s) || p.s[p.i] != ':' {
			return nil, fmt.Errorf("missing ':' at offset %d", p.i)
		}
		p.i++
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		out[pyKey(k)] = v
		if err := p.sep('}'); err != nil {
			return nil, err
		}
	}
}

func (p *pyParser) list(depth int, end byte) (any, error) {
	p.i++ // [ or (
	out := []any{}
	for {
		p.space()
		if p.i < len(p.s) && p.s[p.i] == end {
			p.i++
			return out, nil
		}
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
		if err := p.sep(end); err != nil {
			return nil, err
		}
	}
}

// sep consumes a ',' or sees the closing byte (left for the caller).
func (p *pyParser) sep(end byte) error {
	p.space()
	if p.i < len(p.s) && p.s[p.i] == ',' {
		p.i++
		return nil
	}
	if p.i < len(p.s) && p.s[p.i] == end {
		return nil
	}
	return fmt.Errorf("expected ',' or %q at offset %d", end, p.i)
}

func (p *pyParser) str() (any, error) {
	q := p.s[p.i]
	p.i++
	var b strings.Builder
	for p.i < len(p.s) {
		c := p.s[p.i]
		p.i++
		switch {
		case c == q:
			return b.String(), nil
		case c == '\\' && p.i < len(p.s):
			e := p.s[p.i]
			p.i++
			switch e {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'r':
				b.WriteByte('\r')
			default:
				b.WriteByte(e)
			}
		default:
			b.WriteByte(c)
		}
	}
	return nil, errors.New("unterminated string")
}

func pyKey(k any) string {
	switch x := k.(type) {
	case string:
		return x
	case nil:
		return "None"
	case bool:
		if x {
			return "True"
		}
		return "False"
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	}
	b, _ := json.Marshal(k)
	return string(b)
}

// pyRepr writes s as Python's repr of a str would, which is how vent's
// answers quoted text.
func pyRepr(s string) string {
	q := byte('\'')
	if strings.IndexByte(s, '\'') >= 0 && strings.IndexByte(s, '"') < 0 {
		q = '"'
	}
	var b strings.Builder
	b.WriteByte(q)
	for _, r := range s {
		switch {
		case r == '\\' || r == rune(q):
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte(q)
	return b.String()
}

// pyList writes a list of strings as Python's repr would.
func pyList(items []string) string {
	parts := make([]string, len(items))
	for i, s := range items {
		parts[i] = pyRepr(s)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}
