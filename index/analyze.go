package index

import (
	"github.com/blevesearch/bleve/v2/analysis"
)

// fastAnalyzer is the standard analyzer (unicode word segmentation, lower
// case, English stop words) with a quicker tokenizer for pure ASCII text,
// which is most plugin output. The ASCII tokenizer gives exactly the
// tokens of bleve's unicode tokenizer (Unicode word boundaries, UAX #29,
// restricted to ASCII; TestASCIITokenizer compares the two), so queries,
// which bleve analyses with the standard analyzer, find the same words.
// Word segmentation was about 5% of the CPU of indexing a line.
type fastAnalyzer struct {
	std     analysis.Analyzer
	filters []analysis.TokenFilter
}

// newFastAnalyzer wraps the standard analyzer a. When a is not bleve's
// DefaultAnalyzer (a tokenizer and filters), a itself is used for all text.
func newFastAnalyzer(a analysis.Analyzer) analysis.Analyzer {
	d, ok := a.(*analysis.DefaultAnalyzer)
	if !ok || d.CharFilters != nil {
		return a
	}
	return &fastAnalyzer{std: a, filters: d.TokenFilters}
}

// Analyze returns the tokens of input.
func (f *fastAnalyzer) Analyze(input []byte) analysis.TokenStream {
	if !isASCII(input) {
		return f.std.Analyze(input)
	}
	tokens := asciiTokens(input)
	for _, tf := range f.filters {
		tokens = tf.Filter(tokens)
	}
	return tokens
}

// isASCII reports whether b holds only ASCII bytes.
func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

// Word_Break classes of the ASCII characters that matter (UAX #29).
const (
	wbOther   = iota
	wbLetter  // A-Z a-z (ALetter)
	wbDigit   // 0-9 (Numeric)
	wbUnder   // _ (ExtendNumLet)
	wbMidLet  // : (MidLetter)
	wbMidNum  // , ; (MidNum)
	wbMidBoth // . (MidNumLet) and ' (Single_Quote)
)

// wbClass maps an ASCII byte to its class.
var wbClass = func() (t [128]uint8) {
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = wbLetter, wbLetter
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = wbDigit
	}
	t['_'] = wbUnder
	t[':'] = wbMidLet
	t[','], t[';'] = wbMidNum, wbMidNum
	t['.'], t['\''] = wbMidBoth, wbMidBoth
	return t
}()

// asciiTokens splits ASCII text into words as the unicode tokenizer does:
// runs of letters, digits and '_' (WB5, WB8-10, WB13a/b), joined across
// one ':', '.' or apostrophe between two letters (WB6/7) and one ',', ';',
// '.' or apostrophe between two digits (WB11/12).
func asciiTokens(in []byte) analysis.TokenStream {
	var out analysis.TokenStream
	var slab []analysis.Token
	pos := 1
	for i := 0; i < len(in); {
		c := wbClass[in[i]]
		if c != wbLetter && c != wbDigit && c != wbUnder {
			i++
			continue
		}

		start, letters, digits := i, false, false
		for i < len(in) {
			c = wbClass[in[i]]
			switch c {
			case wbLetter:
				letters = true
				i++
				continue
			case wbDigit:
				digits = true
				i++
				continue
			case wbUnder:
				i++
				continue
			}
			if i+1 < len(in) && i > start {
				prev, next := wbClass[in[i-1]], wbClass[in[i+1]]
				joinLetters := prev == wbLetter && next == wbLetter && (c == wbMidLet || c == wbMidBoth)
				joinDigits := prev == wbDigit && next == wbDigit && (c == wbMidNum || c == wbMidBoth)
				if joinLetters || joinDigits {
					i++
					continue
				}
			}
			break
		}

		if len(slab) == 0 {
			slab = make([]analysis.Token, max(4, min(256, (len(in)-i)/8)))
		}
		t := &slab[0]
		slab = slab[1:]
		t.Term, t.Start, t.End, t.Position = in[start:i], start, i, pos
		t.Type = analysis.AlphaNumeric
		if digits && !letters {
			t.Type = analysis.Numeric
		}
		out = append(out, t)
		pos++
	}
	return out
}
