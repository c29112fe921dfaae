package index

import (
	"context"
	"math"

	"github.com/blevesearch/bleve/v2/mapping"
	"github.com/blevesearch/bleve/v2/numeric"
	"github.com/blevesearch/bleve/v2/search"
	"github.com/blevesearch/bleve/v2/search/query"
	"github.com/blevesearch/bleve/v2/search/searcher"
	bindex "github.com/blevesearch/bleve_index_api"
)

// rangeQuery matches documents whose stepped field (see steppedField)
// holds an integer in [lo, hi]. It implements bleve's query.Query.
type rangeQuery struct {
	field  string
	lo, hi int64
	boost  float64
}

// Searcher returns a disjunction over the prefix terms that cover the
// range and exist in the index.
func (q *rangeQuery) Searcher(ctx context.Context, r bindex.IndexReader, _ mapping.IndexMapping,
	opts search.SearcherOptions) (search.Searcher, error) {
	terms := rangeTerms(q.lo, q.hi)

	if rc, ok := r.(bindex.IndexReaderContains); ok && len(terms) > 0 {
		dict, err := rc.FieldDictContains(q.field)
		if err != nil {
			return nil, err
		}
		kept := terms[:0]
		for _, t := range terms {
			if found, err := dict.Contains(t); err == nil && found {
				kept = append(kept, t)
			}
		}
		terms = kept
	}
	if len(terms) == 0 {
		return searcher.NewMatchNoneSearcher(r)
	}
	return searcher.NewMultiTermSearcherBytes(ctx, r, terms, q.field, q.boost, opts, true)
}

// rangeTerms returns the fewest prefix terms, at the shifts steppedField
// indexes, whose union is exactly the integers lo..hi (inclusive). It
// works on the sortable form of the integers (sign bit flipped), where
// each term at shift s stands for 2^s consecutive values.
func rangeTerms(lo, hi int64) [][]byte {
	if lo > hi {
		return nil
	}
	const mask = 1<<rangeStep - 1
	a, b := sortable(lo), sortable(hi)

	var out [][]byte
	emit := func(from, to uint64, shift uint) {
		for p := from; ; p++ {
			out = append(out, prefixTerm(p, shift))
			if p == to {
				return
			}
		}
	}
	for shift := uint(0); ; shift += rangeStep {
		if shift+rangeStep >= 64 {
			emit(a, b, shift)
			return out
		}
		// The partial block at the lower end, when a is not aligned.
		if a&mask != 0 {
			end := min(a|mask, b)
			emit(a, end, shift)
			if end == b {
				return out
			}
			a = end + 1
		}
		// The partial block at the upper end, when b is not aligned.
		if b&mask != mask {
			start := max(b&^mask, a)
			emit(start, b, shift)
			if start == a {
				return out
			}
			b = start - 1
		}
		a, b = a>>rangeStep, b>>rangeStep
	}
}

// sortable maps an int64 to the unsigned order bleve's prefix coding uses.
func sortable(v int64) uint64 { return uint64(v) ^ 1<<63 }

// prefixTerm returns the term for prefix p (sortable bits >> shift).
func prefixTerm(p uint64, shift uint) []byte {
	v := int64((p << shift) ^ 1<<63)
	return numeric.MustNewPrefixCodedInt64(v, shift)
}

// steppedRanges replaces, in a parsed query, bleve's numeric range queries
// on line and its date range queries on time with rangeQuery, which reads
// the stepped terms those fields have. It changes q in place and returns
// the query to run.
func steppedRanges(q query.Query) query.Query {
	switch x := q.(type) {
	case *query.BooleanQuery:
		x.Must = steppedRanges(x.Must)
		x.Should = steppedRanges(x.Should)
		x.MustNot = steppedRanges(x.MustNot)
		x.Filter = steppedRanges(x.Filter)
	case *query.ConjunctionQuery:
		for i := range x.Conjuncts {
			x.Conjuncts[i] = steppedRanges(x.Conjuncts[i])
		}
	case *query.DisjunctionQuery:
		for i := range x.Disjuncts {
			x.Disjuncts[i] = steppedRanges(x.Disjuncts[i])
		}
	case *query.NumericRangeQuery:
		if x.FieldVal == fieldLine {
			lo, hi := intBounds(x.Min, x.Max, x.InclusiveMin, x.InclusiveMax)
			return &rangeQuery{field: fieldLine, lo: lo, hi: hi, boost: x.Boost()}
		}
	case *query.DateRangeQuery:
		if x.FieldVal == fieldTime {
			lo, hi := timeBounds(x)
			return &rangeQuery{field: fieldTime, lo: lo, hi: hi, boost: x.Boost()}
		}
	}
	return q
}

// intBounds turns bleve's float bounds (nil: open; inclusive by default
// at the lower end only) into an inclusive integer range.
func intBounds(lo, hi *float64, incLo, incHi *bool) (int64, int64) {
	l, h := int64(math.MinInt64), int64(math.MaxInt64)
	if lo != nil {
		switch {
		case math.IsNaN(*lo) || *lo >= math.MaxInt64:
			return 1, 0
		case *lo > math.MinInt64:
			f := math.Ceil(*lo)
			l = int64(f)
			if f == *lo && incLo != nil && !*incLo {
				l++
			}
		}
	}
	if hi != nil {
		switch {
		case math.IsNaN(*hi) || *hi < math.MinInt64:
			return 1, 0
		case *hi < math.MaxInt64:
			f := math.Floor(*hi)
			h = int64(f)
			if f == *hi && (incHi == nil || !*incHi) {
				h--
			}
		}
	}
	return l, h
}

// timeBounds turns a date range (zero times: open; inclusive by default
// at the start only) into an inclusive range of Unix nanoseconds.
func timeBounds(q *query.DateRangeQuery) (int64, int64) {
	l, h := int64(math.MinInt64), int64(math.MaxInt64)
	if !q.Start.IsZero() {
		l = q.Start.UnixNano()
		if q.InclusiveStart != nil && !*q.InclusiveStart {
			l++
		}
	}
	if !q.End.IsZero() {
		h = q.End.UnixNano()
		if q.InclusiveEnd == nil || !*q.InclusiveEnd {
			h--
		}
	}
	return l, h
}
