// Package pylit parses Python literal syntax, the subset that Python's
// ast.literal_eval accepts, into plain Go values.
//
// vent read two kinds of text this way: the [docker] values of a
// vent.template (each value was literal_eval'd, with the raw string as the
// fallback) and the lines that plugins printed, such as
// {'ip': '1.2.3.4', 'os': {'name': 'Linux'}}. ventapp reads both with Parse.
//
// # Values
//
// Parse returns:
//
//   - map[string]any for a dict. Keys that are not strings are converted to
//     text the way Python's str() would show them: ints in decimal, floats
//     in Go's shortest form (strconv 'g' with -1 precision), True/False and
//     None by those names. When two keys give the same text the later one
//     wins, as it does in a Python dict. Lists, dicts, sets and tuples are
//     refused as keys (Python refuses the first three; tuple keys are a
//     limitation of this package).
//   - []any for a list, a tuple and a set. A set keeps the order and the
//     duplicates written in the text.
//   - string for str and bytes literals. A bytes literal becomes a Go string
//     holding those bytes.
//   - int64 for ints, float64 for floats, bool for True and False, and nil
//     for None.
//
// # Differences from ast.literal_eval
//
// Ints outside the int64 range and floats that overflow to infinity are
// errors (Python returns a big int or inf). Complex numbers, \N{...} escapes,
// f-strings and the sign applied to a parenthesized number such as -(1) are
// refused. Containers nest at most MaxDepth levels. Parse is more lenient
// than Python in one way: newlines and comments may separate tokens
// anywhere, not only inside brackets.
package pylit

import (
	"errors"
	"fmt"
	"strings"
)

// MaxDepth is how deeply containers and parentheses may nest. Deeper input
// is refused with an error instead of exhausting the stack.
const MaxDepth = 100

// ErrSyntax is wrapped by every error that Parse returns.
var ErrSyntax = errors.New("python literal")

// SyntaxError describes why Parse refused its input.
type SyntaxError struct {
	// Offset is the byte offset in the input where the problem was found.
	Offset int

	// Msg says what the problem is.
	Msg string
}

// Error returns the offset and the problem.
func (e *SyntaxError) Error() string {
	return fmt.Sprintf("python literal: byte %d: %s", e.Offset, e.Msg)
}

// Unwrap returns ErrSyntax so that callers can test with errors.Is.
func (e *SyntaxError) Unwrap() error { return ErrSyntax }

// Parse reads one Python literal from s. Whitespace, newlines and #
// comments may surround and separate the tokens; anything after the literal
// other than those is an error.
func Parse(s string) (any, error) {
	p := &parser{src: s}

	p.skipSpace()
	if p.pos >= len(p.src) {
		return nil, p.errorf("empty input")
	}

	v, err := p.value(0)
	if err != nil {
		return nil, err
	}

	// Python reads "1, 2" without parentheses as a tuple.
	p.skipSpace()
	if p.pos < len(p.src) && p.src[p.pos] == ',' {
		p.pos++
		rest, err := p.sequence(0, 0)
		if err != nil {
			return nil, err
		}
		v = append([]any{v}, rest...)
	}

	p.skipSpace()
	if p.pos < len(p.src) {
		return nil, p.errorf("unexpected %s after the literal", p.describe())
	}
	return v, nil
}

// parser holds the input and the read position.
type parser struct {
	src string
	pos int
}

// errorf returns a SyntaxError at the current position.
func (p *parser) errorf(format string, args ...any) error {
	return &SyntaxError{Offset: p.pos, Msg: fmt.Sprintf(format, args...)}
}

// errorAt returns a SyntaxError at offset off.
func (p *parser) errorAt(off int, format string, args ...any) error {
	return &SyntaxError{Offset: off, Msg: fmt.Sprintf(format, args...)}
}

// describe names the byte at the current position for error messages.
func (p *parser) describe() string {
	if p.pos >= len(p.src) {
		return "end of input"
	}
	return fmt.Sprintf("%q", p.src[p.pos])
}

// skipSpace moves past whitespace, backslash-newline continuations and
// comments.
func (p *parser) skipSpace() {
	for p.pos < len(p.src) {
		switch c := p.src[p.pos]; {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			p.pos++
		case c == '#':
			for p.pos < len(p.src) && p.src[p.pos] != '\n' {
				p.pos++
			}
		case c == '\\' && strings.HasPrefix(p.src[p.pos+1:], "\n"):
			p.pos += 2
		case c == '\\' && strings.HasPrefix(p.src[p.pos+1:], "\r\n"):
			p.pos += 3
		default:
			return
		}
	}
}

// value reads one value at nesting depth depth.
func (p *parser) value(depth int) (any, error) {
	if depth > MaxDepth {
		return nil, p.errorf("nesting deeper than %d levels", MaxDepth)
	}

	p.skipSpace()
	if p.pos >= len(p.src) {
		return nil, p.errorf("unexpected end of input, a value was expected")
	}

	c := p.src[p.pos]
	switch {
	case c == '[':
		p.pos++
		return p.sequence(']', depth)
	case c == '(':
		return p.paren(depth)
	case c == '{':
		return p.brace(depth)
	case c == '\'' || c == '"':
		return p.strings()
	case c == '-' || c == '+':
		return p.signed()
	case isDigit(c) || (c == '.' && p.pos+1 < len(p.src) && isDigit(p.src[p.pos+1])):
		return p.number(false)
	case isIdentStart(c):
		return p.name()
	}
	return nil, p.errorf("unexpected %s, a value was expected", p.describe())
}

// sequence reads comma-separated values up to the closing byte, which the
// caller has already opened. A closing byte of 0 stands for the end of the
// input (a tuple written without parentheses).
func (p *parser) sequence(closing byte, depth int) ([]any, error) {
	items := []any{}
	for {
		p.skipSpace()
		if closing == 0 && p.pos >= len(p.src) {
			return items, nil
		}
		if p.pos < len(p.src) && p.src[p.pos] == closing {
			p.pos++
			return items, nil
		}

		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		items = append(items, v)

		if err := p.separator(closing); err != nil {
			return nil, err
		}
	}
}

// separator consumes a comma, or stops before the closing byte.
func (p *parser) separator(closing byte) error {
	p.skipSpace()
	if closing == 0 && p.pos >= len(p.src) {
		return nil
	}
	if closing == 0 && p.src[p.pos] != ',' {
		return p.errorf("unexpected %s after the literal", p.describe())
	}
	if p.pos >= len(p.src) {
		return p.errorf("unexpected end of input, %q or ',' was expected", closing)
	}
	switch p.src[p.pos] {
	case ',':
		p.pos++
		return nil
	case closing:
		return nil
	}
	return p.errorf("unexpected %s, %q or ',' was expected", p.describe(), closing)
}

// paren reads a tuple or a parenthesized value.
func (p *parser) paren(depth int) (any, error) {
	p.pos++
	p.skipSpace()
	if p.pos < len(p.src) && p.src[p.pos] == ')' {
		p.pos++
		return []any{}, nil
	}

	first, err := p.value(depth + 1)
	if err != nil {
		return nil, err
	}

	p.skipSpace()
	if p.pos < len(p.src) && p.src[p.pos] == ')' {
		p.pos++
		return first, nil
	}
	if err := p.separator(')'); err != nil {
		return nil, err
	}

	rest, err := p.sequence(')', depth)
	if err != nil {
		return nil, err
	}
	return append([]any{first}, rest...), nil
}

// brace reads a dict or a set.
func (p *parser) brace(depth int) (any, error) {
	p.pos++
	p.skipSpace()
	if p.pos < len(p.src) && p.src[p.pos] == '}' {
		p.pos++
		return map[string]any{}, nil
	}

	keyAt := p.pos
	first, err := p.value(depth + 1)
	if err != nil {
		return nil, err
	}

	p.skipSpace()
	if p.pos < len(p.src) && p.src[p.pos] == ':' {
		return p.dict(first, keyAt, depth)
	}
	if err := p.separator('}'); err != nil {
		return nil, err
	}

	rest, err := p.sequence('}', depth)
	if err != nil {
		return nil, err
	}
	return append([]any{first}, rest...), nil
}

// dict reads the rest of a dict whose first key has been read and whose
// colon is at the current position.
func (p *parser) dict(key any, keyAt int, depth int) (map[string]any, error) {
	m := map[string]any{}
	for {
		p.pos++ // the colon
		k, err := p.keyText(key, keyAt)
		if err != nil {
			return nil, err
		}
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		m[k] = v

		if err := p.separator('}'); err != nil {
			return nil, err
		}
		p.skipSpace()
		if p.pos < len(p.src) && p.src[p.pos] == '}' {
			p.pos++
			return m, nil
		}

		keyAt = p.pos
		if key, err = p.value(depth + 1); err != nil {
			return nil, err
		}
		p.skipSpace()
		if p.pos >= len(p.src) || p.src[p.pos] != ':' {
			return nil, p.errorf("unexpected %s, ':' was expected after a dict key", p.describe())
		}
	}
}

// keyText converts a dict key to its map key.
func (p *parser) keyText(key any, keyAt int) (string, error) {
	switch k := key.(type) {
	case string:
		return k, nil
	case nil:
		return "None", nil
	case bool:
		if k {
			return "True", nil
		}
		return "False", nil
	case int64, float64:
		return fmt.Sprint(k), nil
	}
	return "", p.errorAt(keyAt, "a list, tuple, set or dict cannot be a dict key")
}

// name reads True, False or None.
func (p *parser) name() (any, error) {
	start := p.pos
	for p.pos < len(p.src) && isIdentPart(p.src[p.pos]) {
		p.pos++
	}

	word := p.src[start:p.pos]
	if p.pos < len(p.src) && (p.src[p.pos] == '\'' || p.src[p.pos] == '"') {
		p.pos = start
		return p.strings()
	}
	switch word {
	case "True":
		return true, nil
	case "False":
		return false, nil
	case "None":
		return nil, nil
	}
	return nil, p.errorAt(start, "name %q is not a literal (only True, False and None are)", word)
}

// signed reads a number preceded by one + or -.
func (p *parser) signed() (any, error) {
	neg := p.src[p.pos] == '-'
	p.pos++
	p.skipSpace()
	if p.pos >= len(p.src) {
		return nil, p.errorf("unexpected end of input after a sign")
	}

	c := p.src[p.pos]
	if !isDigit(c) && !(c == '.' && p.pos+1 < len(p.src) && isDigit(p.src[p.pos+1])) {
		return nil, p.errorf("a sign must be followed by a number, found %s", p.describe())
	}
	return p.number(neg)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isIdentStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80
}

func isIdentPart(c byte) bool { return isIdentStart(c) || isDigit(c) }
