package index

import (
	"time"

	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/document"
	"github.com/blevesearch/bleve/v2/numeric"
	bindex "github.com/blevesearch/bleve_index_api"
)

// rangeStep is the precision step, in bits, of the line and time fields:
// each level of a value is one prefix term, and a range query looks up at
// most 2*255 candidate terms per level. bleve's own numeric and date-time
// fields use 4 bits and 16 terms a value, and those terms were about 40% of
// the CPU of indexing a line.
const rangeStep = 8

// steppedScale says how a stepped field turns its value into the indexed
// integer, and how many levels (prefix terms) it indexes.
type steppedScale struct {
	// levels is the number of prefix terms a value gets: shifts 0,
	// rangeStep, ..., (levels-1)*rangeStep. The top level takes all the
	// bits above the one below it.
	levels int
	// bits is the width of the indexed integers: 64 (any int64), or
	// fewer for integers limited to 0..2^bits-1.
	bits int
	// unit divides a time in Unix nanoseconds (1: nanoseconds, 1e6:
	// milliseconds); line numbers ignore it.
	unit int64
}

// Scales of the layouts (see mapping.go).
var (
	// scaleFull is layout 2: the whole int64, 8 terms, times in ns.
	scaleFull = steppedScale{levels: 64 / rangeStep, bits: 64, unit: 1}
	// scaleLine3 is layout 3's line number: 0..2^32-1, 2 terms (the
	// line, and the line divided by 256).
	scaleLine3 = steppedScale{levels: 2, bits: 32, unit: 1}
	// scaleTime3 is layout 3's time: milliseconds since 1970 up to
	// 2^48-1 (the year 10889), 5 terms, the last one counting units of
	// 2^32 ms (about 50 days).
	scaleTime3 = steppedScale{levels: 5, bits: 48, unit: int64(time.Millisecond)}
)

// full reports whether the scale covers the whole int64 range.
func (s steppedScale) full() bool { return s.bits >= 64 }

// topWide reports whether the top level spans more than rangeStep bits, so
// that a range query reads its terms from the dictionary (topRange)
// instead of listing up to 2^rangeStep candidates.
func (s steppedScale) topWide() bool { return s.bits-(s.levels-1)*rangeStep > rangeStep }

// max is the largest integer a limited scale indexes.
func (s steppedScale) max() int64 {
	if s.full() {
		return 1<<63 - 1
	}
	return 1<<s.bits - 1
}

// clamp limits v to what the scale indexes: 0..max() for a limited scale.
func (s steppedScale) clamp(v int64) int64 {
	if s.full() {
		return v
	}
	return min(max(v, 0), s.max())
}

// timeValue is the indexed integer of a time. Only times bleve can hold
// as Unix nanoseconds reach it.
func (s steppedScale) timeValue(t time.Time) int64 {
	ns := t.UnixNano()
	if s.unit > 1 {
		ns = floorDiv(ns, s.unit)
	}
	return s.clamp(ns)
}

// floorDiv divides rounding toward minus infinity.
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// steppedField is a line or time field indexed with a few prefix terms of
// an integer (the line number, or the time in Unix nanoseconds or
// milliseconds) instead of bleve's 16 terms. Its stored value and type stay
// those of the bleve field it wraps, so stored fields read back as before
// (times with nanoseconds); its terms only answer stepped range queries
// (see rangeQuery), which package index puts in place of bleve's numeric
// and date range queries on these fields. The shift-0 term is the plain
// prefix-coded integer, so sorting on the field's doc values orders by the
// integer.
type steppedField struct {
	document.Field
	v      int64
	levels int
	length int
	freqs  bindex.TokenFrequencies
}

// newLineField returns the line-number field.
func newLineField(n int, scale steppedScale, opts bindex.FieldIndexingOptions) *steppedField {
	return &steppedField{
		Field:  document.NewNumericFieldWithIndexingOptions(fieldLine, nil, float64(n), opts),
		v:      scale.clamp(int64(n)),
		levels: scale.levels,
	}
}

// newTimeField returns the time field, or nil for a time bleve cannot
// represent.
func newTimeField(t time.Time, scale steppedScale, opts bindex.FieldIndexingOptions) *steppedField {
	dt, err := document.NewDateTimeFieldWithIndexingOptions(fieldTime, nil, t, time.RFC3339Nano, opts)
	if err != nil {
		return nil
	}
	return &steppedField{Field: dt, v: scale.timeValue(t), levels: scale.levels}
}

// newNumberField returns a number of a structured line as a numeric
// field (Options.NumericFields) of layout 3: the sortable int64 form of the
// float (bleve's numeric.Float64ToInt64) as 8 stepped terms at the full
// scale instead of bleve's 16, answered by rangeQuery like line and time.
// -0 is indexed as 0.
func newNumberField(name string, pos []uint64, v float64, opts bindex.FieldIndexingOptions) *steppedField {
	return &steppedField{
		Field:  document.NewNumericFieldWithIndexingOptions(name, pos, v, opts),
		v:      sortableFloat(v),
		levels: scaleFull.levels,
	}
}

// sortableFloat is the int64 whose order is the order of floats, with -0
// taken as 0.
func sortableFloat(f float64) int64 {
	if f == 0 {
		f = 0
	}
	return numeric.Float64ToInt64(f)
}

// steppedTerms returns the first levels prefix terms of v, shift 0 first.
func steppedTerms(v int64, levels int) [][]byte {
	out := make([][]byte, 0, levels)
	for l := range levels {
		out = append(out, numeric.MustNewPrefixCodedInt64(v, uint(l*rangeStep)))
	}
	return out
}

// Analyze makes the field's terms.
func (f *steppedField) Analyze() {
	terms := steppedTerms(f.v, f.levels)
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
