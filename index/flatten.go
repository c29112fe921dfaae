package index

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/ventapp/ventapp/pylit"
)

// Limits applied when a structured line is flattened into fields.
const (
	// MaxParseBytes is the longest line that is parsed as JSON or as a
	// Python literal; longer lines are indexed as plain text only.
	MaxParseBytes = 1 << 20

	// MaxDepth is the deepest object nesting turned into dotted keys. A
	// container found below it is indexed as its compact JSON text under
	// the key reached so far.
	MaxDepth = 8

	// MaxFieldValues caps the number of field values one line contributes;
	// values past the cap (in sorted key order) are dropped.
	MaxFieldValues = 256

	// MaxFieldValueBytes caps one string value; longer values are cut and
	// get the truncation marker.
	MaxFieldValueBytes = 4 << 10

	// MaxKeyBytes caps a flattened key (after sanitising).
	MaxKeyBytes = 200
)

// field is one flattened value. val is a string, int64, float64, bool or nil.
type field struct {
	key string
	val any
}

// flattener turns a decoded object into dotted-key fields.
type flattener struct {
	out     []field
	dropped int
}

// parseStructured decodes text as a JSON object or, failing that, as a
// Python dict literal. It reports false when text is neither.
func parseStructured(text []byte) (map[string]any, bool) {
	t := bytes.TrimSpace(text)
	if len(t) < 2 || len(t) > MaxParseBytes || t[0] != '{' || t[len(t)-1] != '}' {
		return nil, false
	}

	if m, ok := decodeJSONObject(t); ok {
		return m, true
	}

	v, err := pylit.Parse(string(t))
	if err != nil {
		return nil, false
	}
	m, ok := v.(map[string]any)
	return m, ok
}

// decodeJSONObject decodes one JSON object with numbers kept exact.
func decodeJSONObject(t []byte) (map[string]any, bool) {
	if !json.Valid(t) {
		return nil, false
	}

	dec := json.NewDecoder(bytes.NewReader(t))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil || m == nil {
		return nil, false
	}
	return m, true
}

// flatten returns the fields of m in sorted key order.
func flatten(m map[string]any) (fields []field, dropped int) {
	f := flattener{}
	f.object("", m, 1)
	return f.out, f.dropped
}

// object walks the keys of m in sorted order under prefix.
func (f *flattener) object(prefix string, m map[string]any, depth int) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)

	for _, k := range keys {
		f.value(joinKey(prefix, sanitizeKey(k)), m[k], depth)
	}
}

// value adds v under key, recursing into objects and arrays. Array elements
// become repeated values of the same key.
func (f *flattener) value(key string, v any, depth int) {
	switch x := v.(type) {
	case map[string]any:
		if depth >= MaxDepth {
			f.add(key, compactText(x))
			return
		}
		f.object(key, x, depth+1)
	case map[any]any:
		f.value(key, stringKeys(x), depth)
	case []any:
		if depth >= MaxDepth {
			f.add(key, compactText(x))
			return
		}
		for _, e := range x {
			f.value(key, e, depth+1)
		}
	case json.Number:
		f.add(key, numberValue(x))
	case string:
		f.add(key, capString(x))
	case nil, bool, int64, float64:
		f.add(key, x)
	case int:
		f.add(key, int64(x))
	default:
		f.add(key, capString(fmt.Sprint(x)))
	}
}

// add appends one value unless the per-line cap is reached.
func (f *flattener) add(key string, v any) {
	if len(f.out) >= MaxFieldValues {
		f.dropped++
		return
	}
	f.out = append(f.out, field{key: key, val: v})
}

// numberValue keeps integers as int64 and everything else as float64.
func numberValue(n json.Number) any {
	if i, err := n.Int64(); err == nil {
		return i
	}
	if fl, err := n.Float64(); err == nil {
		return fl
	}
	return string(n)
}

// stringKeys converts a map with non-string keys (possible in Python
// literals) to one with their printed form as keys.
func stringKeys(m map[any]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[fmt.Sprint(k)] = v
	}
	return out
}

// compactText renders a container cut off at MaxDepth as JSON text.
func compactText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return capString(fmt.Sprint(v))
	}
	return capString(string(b))
}

// capString cuts s to MaxFieldValueBytes (on a rune boundary) with the
// truncation marker, and replaces invalid UTF-8.
func capString(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= MaxFieldValueBytes {
		return s
	}
	cut := runeCut(s, MaxFieldValueBytes)
	return s[:cut] + truncMarker(len(s)-cut)
}

// runeCut returns the largest n <= limit such that s[:n] ends on a rune
// boundary.
func runeCut(s string, limit int) int {
	n := limit
	for n > 0 && n > limit-utf8.UTFMax && !utf8.RuneStart(s[n]) {
		n--
	}
	return n
}

// truncMarker is appended to cut text; n is the number of bytes removed.
func truncMarker(n int) string {
	return "…[truncated " + strconv.Itoa(n) + " bytes]"
}

// joinKey joins a prefix and a key segment with a dot.
func joinKey(prefix, k string) string {
	if prefix == "" {
		return k
	}
	key := prefix + "." + k
	if len(key) > MaxKeyBytes {
		key = key[:runeCut(key, MaxKeyBytes)]
	}
	return key
}

// sanitizeKey makes one key segment safe for the query-string syntax:
// letters, digits, '_', '-', '@' and inner single dots are kept; every other
// rune becomes '_'. An empty segment becomes "_".
func sanitizeKey(k string) string {
	if k == "" {
		return "_"
	}

	var b strings.Builder
	b.Grow(len(k))
	prevDot := true
	for _, r := range k {
		switch {
		case r == '.' && !prevDot:
			b.WriteRune(r)
			prevDot = true
			continue
		case r == '_' || r == '-' || r == '@' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
		prevDot = false
	}

	out := b.String()
	if strings.HasSuffix(out, ".") {
		out = out[:len(out)-1] + "_"
	}
	if len(out) > MaxKeyBytes {
		out = out[:runeCut(out, MaxKeyBytes)]
	}
	return out
}
