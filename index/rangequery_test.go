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

// covered reports whether one of v's stepped terms is in terms.
func covered(terms [][]byte, v int64) bool {
	for _, vt := range steppedTerms(v) {
		for _, t := range terms {
			if bytes.Equal(vt, t) {
				return true
			}
		}
	}
	return false
}

// checkRange checks that rangeTerms(lo, hi) covers exactly lo..hi around
// both ends, at v, and stays within its term budget.
func checkRange(t *testing.T, lo, hi, v int64) {
	t.Helper()
	terms := rangeTerms(lo, hi)
	if max := 2 * (1<<rangeStep - 1) * (64 / rangeStep); len(terms) > max {
		t.Fatalf("[%d, %d]: %d terms, more than %d", lo, hi, len(terms), max)
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
		if want := lo <= x && x <= hi; covered(terms, x) != want {
			t.Fatalf("[%d, %d]: value %d covered %v, want %v", lo, hi, x, !want, want)
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
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%d..%d", tc.lo, tc.hi), func(t *testing.T) {
			checkRange(t, tc.lo, tc.hi, tc.lo/2+tc.hi/2)
		})
	}
	if terms := rangeTerms(5, 4); terms != nil {
		t.Errorf("empty range gave %d terms", len(terms))
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
		checkRange(t, lo, hi, v)
	}
}

func FuzzRangeTerms(f *testing.F) {
	f.Add(int64(0), int64(10), int64(5))
	f.Add(int64(math.MinInt64), int64(math.MaxInt64), int64(-1))
	f.Add(int64(-300), int64(70000), int64(65536))
	f.Fuzz(func(t *testing.T, a, b, v int64) {
		checkRange(t, min(a, b), max(a, b), v)
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

// TestRangeQueriesBothLayouts indexes 600 lines, one every 10 ms, into a
// layout-2 index and into one marked as layout 1, and checks that range
// queries on line and time and the time order give the same, right
// answers in both.
func TestRangeQueriesBothLayouts(t *testing.T) {
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
		{`+time:>="` + at(100) + `" +time:<"` + at(200) + `"`, 10},
		{`+time:>="` + at(100) + `" +line:<=12`, 2},
		{`time:<"` + base.Format(time.RFC3339Nano) + `"`, 0},
		{"job_id:j1 line:1", 600},
	}

	for _, layout := range []string{schemaVersion, schemaV1} {
		t.Run("layout "+layout, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "idx")
			if layout == schemaV1 {
				markLayout1(t, dir)
			}
			ix, err := Open(dir, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer ix.Close()
			if ix.build.stepped != (layout != schemaV1) {
				t.Fatalf("layout %s opened with stepped = %v", layout, ix.build.stepped)
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
				if int(res.Total) != q.want {
					t.Errorf("%s: %d hits, want %d", q.q, res.Total, q.want)
				}
			}

			res, err := ix.Search(context.Background(), Query{Text: "line:>590", ByTime: true, Limit: 20})
			if err != nil {
				t.Fatal(err)
			}
			for i, h := range res.Hits {
				if h.Line != 591+i || !h.Time.Equal(base.Add(time.Duration(590+i)*10*time.Millisecond)) {
					t.Fatalf("hit %d in time order: line %d at %v", i, h.Line, h.Time)
				}
			}
			if len(res.Hits) != 10 {
				t.Fatalf("%d hits in time order, want 10", len(res.Hits))
			}
		})
	}
}

// markLayout1 creates an empty index in dir marked with the first layout,
// as versions before layout 2 created it.
func markLayout1(t *testing.T, dir string) {
	t.Helper()
	idx, err := bleve.NewUsing(dir, newMapping(), scorch.Name, scorch.Name, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := idx.SetInternal([]byte(schemaKey), []byte(schemaV1)); err != nil {
		t.Fatal(err)
	}
	if err := idx.Close(); err != nil {
		t.Fatal(err)
	}
}
