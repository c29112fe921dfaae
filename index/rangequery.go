package index

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/blevesearch/bleve/v2/mapping"
	"github.com/blevesearch/bleve/v2/numeric"
	"github.com/blevesearch/bleve/v2/search"
	"github.com/blevesearch/bleve/v2/search/query"
	"github.com/blevesearch/bleve/v2/search/searcher"
	bindex "github.com/blevesearch/bleve_index_api"
)

// rangeQuery matches documents whose stepped field (see steppedField)
// holds an integer in [lo, hi], indexed at scale. It implements bleve's
// query.Query.
type rangeQuery struct {
	field  string
	lo, hi int64
	scale  steppedScale
	boost  float64
}

// Searcher returns a disjunction over the prefix terms that cover the
// range and exist in the index.
func (q *rangeQuery) Searcher(ctx context.Context, r bindex.IndexReader, _ mapping.IndexMapping,
	opts search.SearcherOptions) (search.Searcher, error) {
	terms, top := rangeTerms(q.lo, q.hi, q.scale)

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
		if fd, ok := dict.(bindex.FieldDict); ok {
			if err := fd.Close(); err != nil {
				return nil, err
			}
		}
	}
	if top.ok {
		found, err := top.existing(r, q.field)
		if err != nil {
			return nil, err
		}
		terms = append(terms, found...)
	}
	if len(terms) == 0 {
		return nothingSearcher(ctx, r, q.field, opts)
	}
	return searcher.NewMultiTermSearcherBytes(ctx, r, terms, q.field, q.boost, opts, true)
}

// topRange is the part of a range left for the top level of a scale whose
// top level is wider than rangeStep bits: the prefixes from..to at shift,
// too many to list, so the terms that exist are read from the dictionary.
type topRange struct {
	ok       bool
	shift    uint
	from, to uint64
}

// existing returns the terms of the top range that field's dictionary
// holds, in order.
func (t topRange) existing(r bindex.IndexReader, field string) ([][]byte, error) {
	d, err := r.FieldDictRange(field, prefixTerm(t.from, t.shift), prefixTerm(t.to, t.shift))
	if err != nil {
		return nil, err
	}
	terms, err := dictTerms(d)
	if err != nil {
		return nil, err
	}
	out := make([][]byte, len(terms))
	for i, term := range terms {
		out[i] = []byte(term)
	}
	return out, nil
}

// rangeTerms returns the fewest prefix terms, at the shifts steppedField
// indexes at scale, whose union is exactly the integers lo..hi (inclusive)
// after both are clamped to the scale. It works on the sortable form of
// the integers (sign bit flipped), where each term at shift s stands for
// 2^s consecutive values. When the scale's top level spans more than
// rangeStep bits, the prefixes left for it come back as top instead of
// as terms.
func rangeTerms(lo, hi int64, scale steppedScale) (terms [][]byte, top topRange) {
	if lo > hi {
		return nil, topRange{}
	}
	lo, hi = scale.clamp(lo), scale.clamp(hi)
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
	for level := 0; ; level++ {
		shift := uint(level * rangeStep)
		if level == scale.levels-1 {
			if scale.topWide() {
				return out, topRange{ok: true, shift: shift, from: a, to: b}
			}
			emit(a, b, shift)
			return out, topRange{}
		}
		// The partial block at the lower end, when a is not aligned.
		if a&mask != 0 {
			end := min(a|mask, b)
			emit(a, end, shift)
			if end == b {
				return out, topRange{}
			}
			a = end + 1
		}
		// The partial block at the upper end, when b is not aligned.
		if b&mask != mask {
			start := max(b&^mask, a)
			emit(start, b, shift)
			if start == a {
				return out, topRange{}
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

// rewrite prepares a parsed query for this index. It changes q in place
// and returns the query to run, or an error wrapping ErrBadQuery.
//
//   - From layout 3 on, a query on a job-level field (tool, file,
//     file_sha256, container) becomes jobQuery, which matches the lines of
//     the jobs whose job document it matches.
//   - From layout 2 on, numeric ranges on line and date ranges on time
//     become rangeQuery, which reads the stepped terms those fields have.
//   - A numeric range on time is refused: times are compared as dates, so
//     the bound must be a quoted date. A numeric range on a fields.* key is
//     refused unless the index has numeric fields (numeric): those numbers
//     are exact terms there, and the range would silently match nothing.
//   - Every other range and every term-expanding query (prefix, wildcard,
//     regexp, fuzzy) is wrapped in strictQuery. bleve's query-string
//     conjunctions skip a clause whose searcher matches nothing at all, so
//     "+fields.type:dns +line:>5" returned the dns lines when no line was
//     above 5; a required clause that matches nothing must match nothing.
func rewrite(q query.Query, env queryEnv) (query.Query, error) {
	var err error
	sub := func(q query.Query) query.Query {
		if q == nil || err != nil {
			return q
		}
		var out query.Query
		out, err = rewrite(q, env)
		return out
	}

	lay, numeric := env.layout, env.numeric
	if f, ok := q.(query.FieldableQuery); ok && lay.jobDocs() && jobFields[f.Field()] {
		boost := 1.0
		if b, ok := q.(query.BoostableQuery); ok {
			boost = b.Boost()
		}
		switch x := q.(type) {
		case *query.MatchPhraseQuery:
			// file_sha256:"ab12": the job index keeps keywords without
			// positions.
			q = &phraseQuery{q: x}
		case *query.MatchQuery:
			// file:tls12.pcap means the file with both words, not every
			// file with either.
			x.SetOperator(query.MatchQueryOperatorAnd)
		}
		return &jobQuery{q: q, jobs: env.jobs, boost: boost}, nil
	}
	// time and line have no words: time:"2024-03-10T00:00:00Z" would match
	// nothing. (line:5 parses as a word or a range; the range answers.)
	if f, ok := q.(query.FieldableQuery); ok {
		_, phrase := q.(*query.MatchPhraseQuery)
		_, match := q.(*query.MatchQuery)
		if f.Field() == fieldTime && (phrase || match) || f.Field() == fieldLine && phrase {
			return nil, fmt.Errorf(`%s: compare with an operator, as in time:>="2024-03-10T00:00:00Z" `+
				`or line:>=5`, f.Field())
		}
	}

	switch x := q.(type) {
	case *query.BooleanQuery:
		x.Must, x.Should, x.MustNot, x.Filter = sub(x.Must), sub(x.Should), sub(x.MustNot), sub(x.Filter)
	case *query.ConjunctionQuery:
		for i := range x.Conjuncts {
			x.Conjuncts[i] = sub(x.Conjuncts[i])
		}
	case *query.DisjunctionQuery:
		for i := range x.Disjuncts {
			x.Disjuncts[i] = sub(x.Disjuncts[i])
		}
	case *query.NumericRangeQuery:
		// field:42 parses as "the term 42, or the range [42, 42]": only a
		// real range is refused below.
		exact := x.Min != nil && x.Max != nil && *x.Min == *x.Max
		switch {
		case x.FieldVal == fieldTime && !exact:
			return nil, errors.New(`time ranges compare dates: quote an RFC 3339 date, ` +
				`as in time:>"2024-03-10T00:00:00Z"`)
		case strings.HasPrefix(x.FieldVal, fieldsPrefix) && !numeric && !exact:
			return nil, fmt.Errorf("%s: numbers of structured lines are exact terms in this index "+
				"(%s:42 matches); range queries on them need [index] numeric_fields = yes",
				x.FieldVal, x.FieldVal)
		case x.FieldVal == fieldLine && lay.stepped():
			lo, hi := intBounds(x.Min, x.Max, x.InclusiveMin, x.InclusiveMax)
			return &rangeQuery{field: fieldLine, lo: lo, hi: hi, scale: lay.lineScale(), boost: x.Boost()}, nil
		case strings.HasPrefix(x.FieldVal, fieldsPrefix) && lay.jobDocs():
			lo, hi := floatBounds(x.Min, x.Max, x.InclusiveMin, x.InclusiveMax)
			return &rangeQuery{field: x.FieldVal, lo: lo, hi: hi, scale: scaleFull, boost: x.Boost()}, nil
		}
		return &strictQuery{q: x, field: x.FieldVal}, nil
	case *query.DateRangeQuery:
		if strings.HasPrefix(x.FieldVal, fieldsPrefix) {
			return nil, fmt.Errorf("%s: values of structured lines are text or numbers, not dates, "+
				"so a date range cannot match them; the line's own time is the field time", x.FieldVal)
		}
		if none := clampDates(x); none {
			return &nothingQuery{field: x.FieldVal}, nil
		}
		if x.FieldVal == fieldTime && lay.stepped() {
			scale := lay.timeScale()
			lo, hi := timeBounds(x, scale.unit)
			return &rangeQuery{field: fieldTime, lo: lo, hi: hi, scale: scale, boost: x.Boost()}, nil
		}
		return &strictQuery{q: x, field: x.FieldVal}, nil
	case *query.MatchPhraseQuery:
		return &phraseQuery{q: x}, nil
	case *query.PrefixQuery, *query.WildcardQuery, *query.RegexpQuery, *query.FuzzyQuery:
		field := ""
		if f, ok := q.(query.FieldableQuery); ok {
			field = f.Field()
		}
		return &strictQuery{q: q, field: field}, nil
	}
	return q, err
}

// phraseQuery runs a phrase query, except that a phrase of one token is
// searched as a term: layout 3 indexes one-word values of structured lines
// without positions (see oneWord), and bleve's phrase searcher needs them
// even for one token.
type phraseQuery struct {
	q *query.MatchPhraseQuery
}

// Searcher returns a term searcher for a one-token phrase, else the
// phrase searcher.
func (p *phraseQuery) Searcher(ctx context.Context, r bindex.IndexReader, m mapping.IndexMapping,
	opts search.SearcherOptions) (search.Searcher, error) {
	field := p.q.FieldVal
	if field == "" {
		field = m.DefaultSearchField()
	}
	name := p.q.Analyzer
	if name == "" {
		name = m.AnalyzerNameForPath(field)
	}
	if a := m.AnalyzerNamed(name); a != nil && p.q.Fuzziness == 0 {
		if tokens := a.Analyze([]byte(p.q.MatchPhrase)); len(tokens) == 1 {
			return searcher.NewTermSearcherBytes(ctx, r, tokens[0].Term, field, p.q.Boost(), opts)
		}
	}
	return p.q.Searcher(ctx, r, m, opts)
}

// strictQuery runs q, but answers a searcher that matches nothing with
// nothingSearcher instead of bleve's MatchNoneSearcher, which query-string
// conjunctions would skip.
type strictQuery struct {
	q     query.Query
	field string
}

// Searcher returns q's searcher, or one that matches nothing.
func (s *strictQuery) Searcher(ctx context.Context, r bindex.IndexReader, m mapping.IndexMapping,
	opts search.SearcherOptions) (search.Searcher, error) {
	sr, err := s.q.Searcher(ctx, r, m, opts)
	if err != nil {
		return nil, err
	}
	if _, none := sr.(*searcher.MatchNoneSearcher); none {
		_ = sr.Close()
		field := s.field
		if field == "" {
			field = m.DefaultSearchField()
		}
		return nothingSearcher(ctx, r, field, opts)
	}
	return sr, nil
}

// nothingSearcher matches no document, as a term searcher for a term no
// analyzer makes and no prefix coding starts with. Unlike bleve's
// MatchNoneSearcher, query-string conjunctions keep it.
func nothingSearcher(ctx context.Context, r bindex.IndexReader, field string,
	opts search.SearcherOptions) (search.Searcher, error) {
	return searcher.NewTermSearcherBytes(ctx, r, []byte{0}, field, 1, opts)
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

// floatBounds turns bleve's float bounds (nil: open; inclusive by default
// at the lower end only) into an inclusive range of the sortable int64 form
// of floats that newNumberField indexes. -0 counts as 0.
func floatBounds(lo, hi *float64, incLo, incHi *bool) (int64, int64) {
	l, h := int64(math.MinInt64), int64(math.MaxInt64)
	if lo != nil {
		if math.IsNaN(*lo) {
			return 1, 0
		}
		l = sortableFloat(*lo)
		if incLo != nil && !*incLo {
			l++
		}
	}
	if hi != nil {
		if math.IsNaN(*hi) {
			return 1, 0
		}
		h = sortableFloat(*hi)
		if incHi == nil || !*incHi {
			h--
		}
	}
	return l, h
}

// Times an index can hold: bleve keeps a line's time in Unix nanoseconds.
var (
	minIndexTime = time.Unix(0, math.MinInt64)
	maxIndexTime = time.Unix(0, math.MaxInt64)
)

// clampDates opens a date range's bounds that lie beyond the times an
// index can hold (before 1677-09-21 or after 2262-04-11), which would
// otherwise overflow; it reports whether the range can match nothing.
func clampDates(q *query.DateRangeQuery) (none bool) {
	if !q.Start.IsZero() && q.Start.After(maxIndexTime) || !q.End.IsZero() && q.End.Before(minIndexTime) {
		return true
	}
	if q.Start.Before(minIndexTime) {
		q.Start = query.BleveQueryTime{}
	}
	if q.End.After(maxIndexTime) {
		q.End = query.BleveQueryTime{}
	}
	return false
}

// nothingQuery matches no document (see nothingSearcher).
type nothingQuery struct {
	field string
}

// Searcher returns a searcher that matches nothing.
func (n *nothingQuery) Searcher(ctx context.Context, r bindex.IndexReader, _ mapping.IndexMapping,
	opts search.SearcherOptions) (search.Searcher, error) {
	return nothingSearcher(ctx, r, n.field, opts)
}

// timeBounds turns a date range (zero times: open; inclusive by default
// at the start only) into an inclusive range of Unix time in units of
// unit nanoseconds. With a unit above 1 the bounds are resolved to the
// unit: a bound inside a millisecond includes that whole millisecond.
func timeBounds(q *query.DateRangeQuery, unit int64) (int64, int64) {
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
	if unit > 1 {
		l, h = floorDiv(l, unit), floorDiv(h, unit)
	}
	return l, h
}
