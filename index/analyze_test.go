package index

import (
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/analysis/tokenizer/unicode"
)

// tokenizerAlphabet weighs the characters whose word-break rules differ.
const tokenizerAlphabet = "aZ09_.:,;'\" -/\t\n\r@#$%()[]{}*+=<>!?|\\~`&^"

// sameTokens compares the ASCII tokenizer with bleve's unicode tokenizer
// and the fast analyzer with the standard analyzer on in.
func sameTokens(t *testing.T, std analysis.Analyzer, in []byte) {
	t.Helper()
	want := unicode.NewUnicodeTokenizer().Tokenize(in)
	got := asciiTokens(in)
	if len(want) == 0 && len(got) == 0 {
		return
	}
	if !reflect.DeepEqual(tokenList(got), tokenList(want)) {
		t.Fatalf("%q:\n got %v\nwant %v", in, tokenList(got), tokenList(want))
	}
	fast := newFastAnalyzer(std)
	a := tokenList(fast.Analyze(append([]byte(nil), in...)))
	b := tokenList(std.Analyze(append([]byte(nil), in...)))
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("%q analysed:\n got %v\nwant %v", in, a, b)
	}
}

// tokenList makes tokens comparable.
func tokenList(ts analysis.TokenStream) []analysis.Token {
	out := []analysis.Token{}
	for _, t := range ts {
		out = append(out, analysis.Token{Term: append([]byte{}, t.Term...), Start: t.Start, End: t.End,
			Position: t.Position, Type: t.Type})
	}
	return out
}

func TestASCIITokenizer(t *testing.T) {
	std := standardAnalyzer(t)
	fixed := []string{
		"", "a", "_", "__", "_a", "a_", "_1", "1_", "a_.b", "a.b", "a..b", "1.2", "1,2", "a,b", "a:b",
		"1:2", "a'b", "1'2", "a.1", "1.a", "ns1.example.com", "2.2.x-3.x", "www.tcpdump.org",
		"10.0.0.1:53", "don't", "The Quick brown fox", "tcpdump: listening on eth0, link-type EN10MB",
		`{"type":"dns","ts":1700000000.123456,"query":"www.tcpdump.org"}`, "a.b.", ".a.b", "a\r\nb",
		"x_y_z.w", "1_000.5", "__init__", "a'", "'a", "a''b", "A.B.C", "3.14,15",
	}
	for _, s := range fixed {
		sameTokens(t, std, []byte(s))
	}

	r := rand.New(rand.NewPCG(3, 4))
	for range 20000 {
		b := make([]byte, r.IntN(24))
		for i := range b {
			b[i] = tokenizerAlphabet[r.IntN(len(tokenizerAlphabet))]
		}
		sameTokens(t, std, b)
	}
}

func FuzzASCIITokenizer(f *testing.F) {
	f.Add([]byte("www.tcpdump.org 10.0.0.1 a_b"))
	f.Add([]byte("1,2;3 a:b don't"))
	f.Fuzz(func(t *testing.T, in []byte) {
		if !isASCII(in) {
			return
		}
		sameTokens(t, standardAnalyzer(t), in)
	})
}
