package pylit

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// strings reads one or more adjacent string literals and joins them, as
// Python does with 'a' "b". str and bytes literals cannot be mixed.
func (p *parser) strings() (any, error) {
	var b strings.Builder
	first := true
	firstBytes := false
	for {
		start := p.pos
		s, isBytes, err := p.stringLit()
		if err != nil {
			return nil, err
		}
		if first {
			firstBytes = isBytes
			first = false
		} else if isBytes != firstBytes {
			return nil, p.errorAt(start, "cannot join str and bytes literals")
		}
		b.WriteString(s)

		p.skipSpace()
		if !p.atStringStart() {
			return b.String(), nil
		}
	}
}

// atStringStart reports whether a string literal, with or without prefix,
// starts at the current position.
func (p *parser) atStringStart() bool {
	i := p.pos
	for i < len(p.src) && i-p.pos < 3 && isIdentPart(p.src[i]) {
		i++
	}
	return i < len(p.src) && (p.src[i] == '\'' || p.src[i] == '"')
}

// stringLit reads one string literal with its optional prefix.
func (p *parser) stringLit() (s string, isBytes bool, err error) {
	start := p.pos
	for p.pos < len(p.src) && isIdentPart(p.src[p.pos]) {
		p.pos++
	}

	raw, isBytes, err := prefixFlags(p.src[start:p.pos])
	if err != nil {
		return "", false, p.errorAt(start, "%v", err)
	}
	if p.pos >= len(p.src) || (p.src[p.pos] != '\'' && p.src[p.pos] != '"') {
		return "", false, p.errorf("a quote was expected after the string prefix")
	}

	quote := p.src[p.pos : p.pos+1]
	if strings.HasPrefix(p.src[p.pos:], quote+quote+quote) {
		quote = quote + quote + quote
	}
	p.pos += len(quote)
	return p.stringBody(start, quote, raw, isBytes)
}

// stringBody reads the text of a literal up to its closing quote.
func (p *parser) stringBody(start int, quote string, raw, isBytes bool) (string, bool, error) {
	var b strings.Builder
	for {
		if p.pos >= len(p.src) {
			return "", false, p.errorAt(start, "string literal is not terminated")
		}
		if strings.HasPrefix(p.src[p.pos:], quote) {
			p.pos += len(quote)
			return b.String(), isBytes, nil
		}

		c := p.src[p.pos]
		switch {
		case c == '\n' && len(quote) == 1:
			return "", false, p.errorf("newline inside a single-quoted string literal")
		case isBytes && c >= 0x80:
			return "", false, p.errorf("bytes literal may contain only ASCII characters")
		case c == '\\' && raw:
			// A raw string keeps the backslash, but the next character
			// (even a quote) cannot end the literal.
			b.WriteByte(c)
			p.pos++
			if p.pos < len(p.src) {
				b.WriteByte(p.src[p.pos])
				p.pos++
			}
		case c == '\\':
			if err := p.escape(&b, isBytes); err != nil {
				return "", false, err
			}
		case c < utf8.RuneSelf:
			b.WriteByte(c)
			p.pos++
		default:
			r, size := utf8.DecodeRuneInString(p.src[p.pos:])
			if r == utf8.RuneError && size == 1 {
				return "", false, p.errorf("string literal contains invalid UTF-8")
			}
			b.WriteString(p.src[p.pos : p.pos+size])
			p.pos += size
		}
	}
}

// escape decodes the backslash escape at the current position into b.
func (p *parser) escape(b *strings.Builder, isBytes bool) error {
	at := p.pos
	p.pos++
	if p.pos >= len(p.src) {
		return p.errorAt(at, "string literal ends with a backslash")
	}

	c := p.src[p.pos]
	p.pos++
	if simple, ok := simpleEscapes[c]; ok {
		b.WriteByte(simple)
		return nil
	}

	switch {
	case c == '\n':
		return nil
	case c == '\r' && p.pos < len(p.src) && p.src[p.pos] == '\n':
		p.pos++
		return nil
	case c >= '0' && c <= '7':
		v := int(c - '0')
		for i := 0; i < 2 && p.pos < len(p.src) && p.src[p.pos] >= '0' && p.src[p.pos] <= '7'; i++ {
			v = v*8 + int(p.src[p.pos]-'0')
			p.pos++
		}
		return p.writeCode(b, at, v, isBytes)
	case c == 'x':
		return p.hexEscape(b, at, 2, isBytes)
	case c == 'u' && !isBytes:
		return p.hexEscape(b, at, 4, false)
	case c == 'U' && !isBytes:
		return p.hexEscape(b, at, 8, false)
	case c == 'N' && !isBytes:
		return p.errorAt(at, `\N{...} escapes are not supported`)
	}

	// Python keeps unknown escapes as written, backslash included.
	b.WriteByte('\\')
	p.pos--
	return nil
}

var simpleEscapes = map[byte]byte{
	'\\': '\\', '\'': '\'', '"': '"', 'a': '\a', 'b': '\b',
	'f': '\f', 'n': '\n', 'r': '\r', 't': '\t', 'v': '\v',
}

// hexEscape reads exactly n hex digits and writes the code they give.
func (p *parser) hexEscape(b *strings.Builder, at, n int, isBytes bool) error {
	if p.pos+n > len(p.src) {
		return p.errorAt(at, "truncated escape: %d hex digits expected", n)
	}

	v := 0
	for _, h := range []byte(p.src[p.pos : p.pos+n]) {
		d, ok := hexValue(h)
		if !ok {
			return p.errorAt(at, "truncated escape: %d hex digits expected", n)
		}
		v = v*16 + d
	}
	p.pos += n
	return p.writeCode(b, at, v, isBytes)
}

// writeCode writes v as a byte (bytes literals) or as a code point.
func (p *parser) writeCode(b *strings.Builder, at, v int, isBytes bool) error {
	if isBytes {
		if v > 0xff {
			return p.errorAt(at, "escape value %d does not fit in a byte", v)
		}
		b.WriteByte(byte(v))
		return nil
	}
	if v > utf8.MaxRune {
		return p.errorAt(at, "escape value %#x is beyond the last Unicode code point", v)
	}
	// Lone surrogates, which Python allows, become U+FFFD here.
	b.WriteRune(rune(v))
	return nil
}

func hexValue(h byte) (int, bool) {
	switch {
	case h >= '0' && h <= '9':
		return int(h - '0'), true
	case h >= 'a' && h <= 'f':
		return int(h-'a') + 10, true
	case h >= 'A' && h <= 'F':
		return int(h-'A') + 10, true
	}
	return 0, false
}

// prefixFlags checks a string prefix such as "r", "b", "rb" or "u".
func prefixFlags(prefix string) (raw, isBytes bool, err error) {
	switch strings.ToLower(prefix) {
	case "":
		return false, false, nil
	case "u":
		return false, false, nil
	case "r":
		return true, false, nil
	case "b":
		return false, true, nil
	case "br", "rb":
		return true, true, nil
	}
	if strings.ContainsAny(prefix, "fF") && len(prefix) <= 2 {
		return false, false, errors.New("f-strings are not literals")
	}
	return false, false, fmt.Errorf("unknown string prefix %q", prefix)
}
