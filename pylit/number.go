package pylit

import (
	"math"
	"strconv"
	"strings"
)

// number reads an int or float literal; neg applies a preceding minus.
func (p *parser) number(neg bool) (any, error) {
	start := p.pos
	tok := p.numberToken()

	lower := strings.ToLower(tok)
	if strings.HasSuffix(lower, "j") {
		return nil, p.errorAt(start, "complex number %q is not supported", tok)
	}
	if len(lower) > 1 && lower[0] == '0' && strings.ContainsRune("xob", rune(lower[1])) {
		return p.prefixedInt(start, tok, neg)
	}
	if strings.ContainsAny(lower, ".e") {
		return p.float(start, tok, neg)
	}
	return p.decimalInt(start, tok, neg)
}

// numberToken moves past the characters that can belong to a number and
// returns them. Letters are included so that "12abc" is one bad token.
func (p *parser) numberToken() string {
	start := p.pos
	prefixed := strings.HasPrefix(p.src[p.pos:], "0x") || strings.HasPrefix(p.src[p.pos:], "0X") ||
		strings.HasPrefix(p.src[p.pos:], "0o") || strings.HasPrefix(p.src[p.pos:], "0O") ||
		strings.HasPrefix(p.src[p.pos:], "0b") || strings.HasPrefix(p.src[p.pos:], "0B")
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		switch {
		case isIdentPart(c) || c == '.':
			p.pos++
		case (c == '+' || c == '-') && !prefixed && p.pos > start &&
			(p.src[p.pos-1] == 'e' || p.src[p.pos-1] == 'E'):
			p.pos++
		default:
			return p.src[start:p.pos]
		}
	}
	return p.src[start:p.pos]
}

// prefixedInt reads a 0x, 0o or 0b int.
func (p *parser) prefixedInt(start int, tok string, neg bool) (any, error) {
	base := map[byte]int{'x': 16, 'o': 8, 'b': 2}[tok[1]|0x20]
	digits := tok[2:]
	if strings.HasPrefix(digits, "_") {
		digits = digits[1:]
	}
	clean, ok := stripUnderscores(digits)
	if !ok || clean == "" {
		return nil, p.errorAt(start, "invalid number %q", tok)
	}

	u, err := strconv.ParseUint(clean, base, 64)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return nil, p.errorAt(start, "integer %q does not fit in 64 bits", tok)
		}
		return nil, p.errorAt(start, "invalid number %q", tok)
	}
	return p.signedInt(start, tok, u, neg)
}

// decimalInt reads a decimal int. Python refuses leading zeros such as 007
// except for zero itself (0, 00, 0_0).
func (p *parser) decimalInt(start int, tok string, neg bool) (any, error) {
	clean, ok := stripUnderscores(tok)
	if !ok || clean == "" || strings.Trim(clean, "0123456789") != "" {
		return nil, p.errorAt(start, "invalid number %q", tok)
	}
	if len(clean) > 1 && clean[0] == '0' && strings.Trim(clean, "0") != "" {
		return nil, p.errorAt(start, "leading zeros are not allowed in %q (use 0o for octal)", tok)
	}

	u, err := strconv.ParseUint(clean, 10, 64)
	if err != nil {
		return nil, p.errorAt(start, "integer %q does not fit in 64 bits", tok)
	}
	return p.signedInt(start, tok, u, neg)
}

// signedInt applies the sign and checks the int64 range.
func (p *parser) signedInt(start int, tok string, u uint64, neg bool) (any, error) {
	switch {
	case neg && u == 1<<63:
		return int64(math.MinInt64), nil
	case u > math.MaxInt64:
		return nil, p.errorAt(start, "integer %q does not fit in 64 bits", tok)
	case neg:
		return -int64(u), nil
	}
	return int64(u), nil
}

// float reads a decimal float such as 1.5, .5, 1., 1e3 or 1_000.5e-3.
func (p *parser) float(start int, tok string, neg bool) (any, error) {
	mant, exp, hasExp := strings.Cut(strings.ToLower(tok), "e")
	intPart, frac, _ := strings.Cut(mant, ".")
	if strings.Count(mant, ".") > 1 || (intPart == "" && frac == "") {
		return nil, p.errorAt(start, "invalid number %q", tok)
	}
	if hasExp {
		if strings.HasPrefix(exp, "+") || strings.HasPrefix(exp, "-") {
			exp = exp[1:]
		}
		if exp == "" {
			return nil, p.errorAt(start, "invalid number %q: the exponent has no digits", tok)
		}
	}
	for _, part := range []string{intPart, frac, exp} {
		clean, ok := stripUnderscores(part)
		if !ok || strings.Trim(clean, "0123456789") != "" {
			return nil, p.errorAt(start, "invalid number %q", tok)
		}
	}

	f, err := strconv.ParseFloat(strings.ReplaceAll(tok, "_", ""), 64)
	if err != nil || math.IsInf(f, 0) {
		return nil, p.errorAt(start, "float %q is out of range", tok)
	}
	if neg {
		f = -f
	}
	return f, nil
}

// stripUnderscores removes the underscores that Python allows between
// digits and reports whether every underscore stood between two digits.
func stripUnderscores(s string) (string, bool) {
	if !strings.Contains(s, "_") {
		return s, true
	}
	if strings.HasPrefix(s, "_") || strings.HasSuffix(s, "_") || strings.Contains(s, "__") {
		return "", false
	}
	return strings.ReplaceAll(s, "_", ""), true
}
