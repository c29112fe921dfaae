package index

import (
	"time"

	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/document"
	"github.com/blevesearch/bleve/v2/numeric"
	bindex "github.com/blevesearch/bleve_index_api"
)

// rangeStep is the precision step, in bits, of the line and time fields:
// each value is indexed as 64/rangeStep prefix terms. bleve's own numeric
// and date-time fields use 4 bits, 16 terms a value, and those terms were
// about 40% of the CPU of indexing a line. With 8 bits a value is 8 terms
// and a range query looks up at most 2*255 candidate terms per level.
const rangeStep = 8

// steppedField is a line or time field indexed with rangeStep prefix
// terms of an integer (the line number, or the time in Unix nanoseconds)
// instead of bleve's 16 terms. Its stored value and type stay those of the
// bleve field it wraps, so stored fields read back as before; its terms
// only answer stepped range queries (see rangeQuery), which package index
// puts in place of bleve's numeric and date range queries on these fields.
// The shift-0 term is the plain prefix-coded integer, so sorting on the
// field's doc values orders by the integer.
type steppedField struct {
	document.Field
	v      int64
	length int
	freqs  bindex.TokenFrequencies
}

// newLineField returns the line-number field.
func newLineField(n int, opts bindex.FieldIndexingOptions) *steppedField {
	return &steppedField{
		Field: document.NewNumericFieldWithIndexingOptions(fieldLine, nil, float64(n), opts),
		v:     int64(n),
	}
}

// newTimeField returns the time field, or nil for a time bleve cannot
// represent.
func newTimeField(t time.Time, opts bindex.FieldIndexingOptions) *steppedField {
	dt, err := document.NewDateTimeFieldWithIndexingOptions(fieldTime, nil, t, time.RFC3339Nano, opts)
	if err != nil {
		return nil
	}
	return &steppedField{Field: dt, v: t.UnixNano()}
}

// steppedTerms returns the prefix terms of v, shift 0 first.
func steppedTerms(v int64) [][]byte {
	out := make([][]byte, 0, 64/rangeStep)
	for shift := uint(0); shift < 64; shift += rangeStep {
		out = append(out, numeric.MustNewPrefixCodedInt64(v, shift))
	}
	return out
}

// Analyze makes the field's terms.
func (f *steppedField) Analyze() {
	terms := steppedTerms(f.v)
	tokens := make(analysis.TokenStream, len(terms))
	for i, t := range terms {
		tokens[i] = &analysis.Token{End: len(t), Term: t, Position: 1, Type: analysis.Numeric}
	}
	f.length = len(tokens)
	f.freqs = analysis.TokenFrequency(tokens, nil, f.Options())
}

// AnalyzedLength returns the number of terms made by Analyze.
func (f *steppedField) AnalyzedLength() int { return f.length }

// AnalyzedTokenFrequencies returns the terms made by Analyze.
func (f *steppedField) AnalyzedTokenFrequencies() bindex.TokenFrequencies { return f.freqs }
