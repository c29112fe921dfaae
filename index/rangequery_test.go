package index

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/index/scorch"
)

// scales are the stepped scales of all layouts.
var scales = []steppedScale{scaleFull, scaleLine3, scaleTime3}

// covered reports whether one of v's stepped terms at scale is in terms,
// or its top-level term in top.
func covered(terms [][]byte, top topRange, v int64, scale steppedScale) bool {
	v = scale.clamp(v)
	for _, vt := range steppedTerms(v, scale.levels) {
		for _, t := range terms {
			if bytes.Equal(vt, t) {
				return true
			}
		}
	}
	p := sortable(v) >> top.shift
	return top.ok && top.from <= p && p <= top.to
}

// checkRange checks that rangeTerms(lo, hi, scale) covers exactly lo..hi
// (clamped to the scale, as values are when indexed) around both ends, at
// v, and stays within its term budget.
func checkRange(t *testing.T, lo, hi, v int64, scale steppedScale) {
	t.Helper()
	terms, top := rangeTerms(lo, hi, scale)
	if max := 2*(1<<rangeStep-1)*(scale.levels-1) + 1<<rangeStep; len(terms) > max {
		t.Fatalf("[%d, %d]: %d terms, more than %d", lo, hi, len(terms), max)
	}
	if top.ok && !scale.topWide() {
		t.Fatalf("[%d, %d]: a top range on a scale without a wide top level", lo, hi)
	}
	probe := []int64{v}
	for _, e := range []int64{lo, hi} {
		for d := int64(-2); d <= 2; d++ {
			if x := e + d; (d < 0) == (x < e) { // skip wrapped values
				probe = append(probe, x)
			}
		}
	}
	for _, x := range probe {
		c := scale.clamp
		if want := c(lo) <= c(x) && c(x) <= c(hi); covered(terms, top, x, scale) != want {
			t.Fatalf("levels %d [%d, %d]: value %d covered %v, want %v", scale.levels, lo, hi, x, !want, want)
		}
	}
}

func TestRangeTerms(t *testing.T) {
	tests := []struct{ lo, hi int64 }{
		{0, 0}, {1, 1}, {-1, 1}, {0, 255}, {0, 256}, {1, 254}, {255, 256},
		{100, 1 << 20}, {-1 << 40, 1 << 40},
		{math.MinInt64, math.MaxInt64}, {math.MinInt64, 0}, {0, math.MaxInt64},
		{math.MaxInt64 - 3, math.MaxInt64}, {math.MinInt64, math.MinInt64 + 3},
		{time.Date(2024, 3, 10, 0, 0, 0, 0, time.UTC).UnixNano(), math.MaxInt64},
	}
	for _, scale := range scales {
		for _, tc := range tests {
			t.Run(fmt.Sprintf("levels %d %d..%d", scale.levels, tc.lo, tc.hi), func(t *testing.T) {
				checkRange(t, tc.lo, tc.hi, tc.lo/2+tc.hi/2, scale)
			})
		}
		if terms, top := rangeTerms(5, 4, scale); terms != nil || top.ok {
			t.Errorf("empty range gave %d terms", len(terms))
		}
	}

	r := rand.New(rand.NewPCG(7, 8))
	for range 2000 {
		a, b := r.Int64()>>r.IntN(64), r.Int64()>>r.IntN(64)
		if r.IntN(2) == 0 {
			a = -a
		}
		lo, hi := min(a, b), max(a, b)
		v := r.Int64()
		if span := uint64(hi-lo) + 1; span != 0 {
			v = lo + int64(r.Uint64N(span))
		}
		checkRange(t, lo, hi, v, scales[r.IntN(len(scales))])
	}
}

func FuzzRangeTerms(f *testing.F) {
	f.Add(int64(0), int64(10), int64(5))
	f.Add(int64(math.MinInt64), int64(math.MaxInt64), int64(-1))
	f.Add(int64(-300), int64(70000), int64(65536))
	f.Fuzz(func(t *testing.T, a, b, v int64) {
		for _, scale := range scales {
			checkRange(t, min(a, b), max(a, b), v, scale)
		}
	})
}

func TestIntBounds(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	yes, no := true, false
	tests := []struct {
		name         string
		lo, hi       *float64
		incLo, incHi *bool
		wantLo       int64
		wantHi       int64
	}{
		{"open", nil, nil, nil, nil, math.MinInt64, math.MaxInt64},
		{"greater than", f(100), nil, &no, nil, 101, math.MaxInt64},
		{"at least", f(100), nil, &yes, nil, 100, math.MaxInt64},
		{"less than (exclusive by default)", nil, f(100), nil, nil, math.MinInt64, 99},
		{"at most", nil, f(100), nil, &yes, math.MinInt64, 100},
		{"fractions", f(1.5), f(7.5), &no, &no, 2, 7},
		{"infinities", f(math.Inf(-1)), f(math.Inf(1)), nil, nil, math.MinInt64, math.MaxInt64},
		{"beyond int64", f(1e19), nil, nil, nil, 1, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			lo, hi := intBounds(tc.lo, tc.hi, tc.incLo, tc.incHi)
			if lo != tc.wantLo || hi != tc.wantHi {
				t.Errorf("got [%d, %d], want [%d, %d]", lo, hi, tc.wantLo, tc.wantHi)
			}
		})
	}
}

// TestRangeQueriesAllLayouts indexes 600 lines, one every 10 ms, into a
// layout-3 index and into ones marked as layouts 2 and 1, and checks that
// range queries on line and time, queries on the tool and the time order
// give the same, right answers in all (layout 3 resolves time bounds to
// the millisecond).
func TestRangeQueriesAllLayouts(t *testing.T) {
	base := time.Date(2024, 3, 10, 12, 0, 0, 0, time.UTC)
	at := func(ms int) string { return base.Add(time.Duration(ms) * time.Millisecond).Format(time.RFC3339Nano) }
	queries := []struct {
		q    string
		want int
	}{
		{"line:>100", 500},
		{"line:>=100", 501},
		{"line:<=5", 5},
		{"line:<5", 4},
		{"+line:>=250 +line:<260", 10},
		{"line:300", 1},
		{"line:>600", 0},
		{"-line:>10", 10},
		{`time:>="` + at(1000) + `"`, 500},
		{`time:>"` + at(1000) + `"`, 499},
		{`time:>"` + base.Add(1000*time.Millisecond+500*time.Microsecond).Format(time.RFC3339Nano) + `"`, 499},
		{`+time:>="` + at(100) + `" +time:<"` + at(200) + `"`, 10},
		{`+time:>="` + at(100) + `" +line:<=12`, 2},
		{`time:<"` + base.Format(time.RFC3339Nano) + `"`, 0},
		{"job_id:j1 line:1", 600},
		{"tool:t", 600},
		{"tool:u", 0},
		{"+tool:t +line:<=5", 5},
		{"-tool:t", 0},
		{"+job_id:j1 -tool:u", 600},
		{"", 600},
		{`tool:"t"`, 600},
		{`time:<"3000-01-01T00:00:00Z"`, 600},
		{`time:>"1600-01-01T00:00:00Z"`, 600},
		{`time:>"3000-01-01T00:00:00Z"`, 0},
		{`time:<"1600-01-01T00:00:00Z"`, 0},
		{`+time:>"1600-01-01T00:00:00Z" +time:<"3000-01-01T00:00:00Z" +line:<=3`, 3},
	}
	// Layout 3 resolves time bounds to the millisecond: the line at
	// 1000 ms counts as after 1000 ms and after 1000.5 ms.
	wantMs := map[string]int{
		`time:>"` + at(1000) + `"`: 500,
		`time:>"` + base.Add(1000*time.Millisecond+500*time.Microsecond).Format(time.RFC3339Nano) + `"`: 500,
	}

	for _, version := range []string{schemaVersion, schemaV2, schemaV1} {
		t.Run("layout "+version, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "idx")
			if version != schemaVersion {
				markLayout(t, dir, version)
			}
			ix, err := Open(dir, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer ix.Close()
			if want, _ := parseLayout(version); ix.build.layout != want {
				t.Fatalf("layout %s opened as layout %d", version, ix.build.layout)
			}

			for i := range 600 {
				err := ix.Add(Line{JobID: "j1", Tool: "t", Stream: StreamStdout, LineNo: i + 1,
					Time: base.Add(time.Duration(i) * 10 * time.Millisecond), Text: []byte("x")})
				if err != nil {
					t.Fatal(err)
				}
			}
			if err := ix.Flush(); err != nil {
				t.Fatal(err)
			}

			for _, q := range queries {
				res, err := ix.Search(context.Background(), Query{Text: q.q, Limit: 1})
				if err != nil {
					t.Fatalf("%s: %v", q.q, err)
				}
				want := q.want
				if n, ok := wantMs[q.q]; ok && ix.build.layout.jobDocs() {
					want = n
				}
				if int(res.Total) != want {
					t.Errorf("%s: %d hits, want %d", q.q, res.Total, want)
				}
			}

			res, err := ix.Search(context.Background(), Query{Text: "line:>590", ByTime: true, Limit: 20})
			if err != nil {
				t.Fatal(err)
			}
			for i, h := range res.Hits {
				if h.Line != 591+i || !h.Time.Equal(base.Add(time.Duration(590+i)*10*time.Millisecond)) ||
					h.Tool != "t" {
					t.Fatalf("hit %d in time order: line %d at %v of tool %q", i, h.Line, h.Time, h.Tool)
				}
			}
			if len(res.Hits) != 10 {
				t.Fatalf("%d hits in time order, want 10", len(res.Hits))
			}
		})
	}
}

// markLayout creates an empty index in dir marked with an older layout,
// as earlier versions created it.
func markLayout(t *testing.T, dir, version string) {
	t.Helper()
	idx, err := bleve.NewUsing(dir, newMapping(), scorch.Name, scorch.Name, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := idx.SetInternal([]byte(schemaKey), []byte(version)); err != nil {
		t.Fatal(err)
	}
	if err := idx.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestFloatBounds(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	yes, no := true, false
	in := func(lo, hi int64, v float64) bool { s := sortableFloat(v); return lo <= s && s <= hi }
	tests := []struct {
		name         string
		lo, hi       *float64
		incLo, incHi *bool
		inside       []float64
		outside      []float64
	}{
		{"greater than", f(0.5), nil, &no, nil, []float64{0.5000001, 1, math.Inf(1)}, []float64{0.5, 0, -1}},
		{"at most", nil, f(-2), nil, &yes, []float64{-2, -3, math.Inf(-1)}, []float64{-1.9999, 0}},
		{"below (exclusive by default)", nil, f(0), nil, nil,
			[]float64{-0.1, -5}, []float64{0, math.Copysign(0, -1)}},
		{"zero both ways", f(math.Copysign(0, -1)), f(0), &yes, &yes,
			[]float64{0, math.Copysign(0, -1)}, []float64{1e-300, -1e-300}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			lo, hi := floatBounds(tc.lo, tc.hi, tc.incLo, tc.incHi)
			for _, v := range tc.inside {
				if !in(lo, hi, v) {
					t.Errorf("%v outside", v)
				}
			}
			for _, v := range tc.outside {
				if in(lo, hi, v) {
					t.Errorf("%v inside", v)
				}
			}
		})
	}
	if lo, hi := floatBounds(f(math.NaN()), nil, nil, nil); lo <= hi {
		t.Errorf("NaN bound gave [%d, %d]", lo, hi)
	}
}
