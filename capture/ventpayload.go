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

	"github.com/ventapp/ventapp/pylit"
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
		lit, err := pylit.Parse(x)
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
