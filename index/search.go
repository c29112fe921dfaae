package index

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"strings"
	"time"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/search"
	"github.com/blevesearch/bleve/v2/search/highlight/format/html"
	"github.com/blevesearch/bleve/v2/search/query"
)

// Search limits.
const (
	DefaultLimit = 20
	MaxLimit     = 1000
	// MaxOffset bounds Query.Offset: deep pages cost memory for every
	// skipped hit.
	MaxOffset = 100000
)

// timeOrder is the sort order of Query.ByTime.
var timeOrder = []string{fieldTime, fieldLine}

// Query is a search request.
type Query struct {
	// Text uses the bleve query-string syntax: words, "phrases",
	// field:value, +must, -mustnot, field:>n, /regexp/, wild*cards.
	// Bare words search the message. Empty text matches every line.
	Text string
	// Limit is the page size: 0 means DefaultLimit, values above MaxLimit
	// are lowered to it.
	Limit int
	// Offset skips that many hits (at most MaxOffset).
	Offset int
	// Highlight asks for HTML fragments (matches in <mark>) of matched
	// stored fields: message, and in indexes of layout 1 or 2 also file
	// (layout 3 keeps the file in the job index, see jobs.go).
	Highlight bool
	// ByTime returns hits in output order (time, then line number)
	// instead of best score first, as a job's log view needs. It reads
	// the time and line of every hit, so it is slower on large results
	// (BenchmarkSearch: about 7 ms instead of 1 ms per query on 20,000
	// lines). Without it, hits with equal scores come in no set order.
	ByTime bool
}

// Hit is one matching line.
type Hit struct {
	ID     string    `json:"id"`
	Score  float64   `json:"score"`
	JobID  string    `json:"job_id"`
	Tool   string    `json:"tool"`
	File   string    `json:"file"`
	Stream string    `json:"stream"`
	Line   int       `json:"line"`
	Time   time.Time `json:"time"`
	// Message is the indexed text (possibly truncated).
	Message string `json:"message"`
	// Fields holds the flattened fields of a structured line, keyed by
	// dotted key without the "fields." prefix. Values are string, int64,
	// float64, bool, nil, or []any for repeated keys. Nil for plain text.
	Fields map[string]any `json:"fields,omitempty"`
	// Fragments maps field names to highlighted fragments.
	Fragments map[string][]string `json:"fragments,omitempty"`
}

// Result is one page of hits.
type Result struct {
	// Total is the number of matching lines, not just this page.
	Total uint64 `json:"total"`
	Hits  []Hit  `json:"hits"`
	// Took is how long the search took, in nanoseconds in JSON.
	Took time.Duration `json:"took"`
}

// Search runs q. A query that cannot be parsed gives an error wrapping
// ErrBadQuery whose text includes the parser's message.
func (ix *Index) Search(ctx context.Context, q Query) (Result, error) {
	req, err := searchRequest(q, queryEnv{layout: ix.build.layout, numeric: ix.build.numeric, jobs: ix.jobIdx})
	if err != nil {
		return Result{}, err
	}

	res, err := ix.idx.SearchInContext(ctx, req)
	if err != nil {
		var se *syntax.Error
		switch {
		case errors.As(err, &se):
			return Result{}, fmt.Errorf("%w: %q: %w", ErrBadQuery, q.Text, err)
		case errors.Is(err, bleve.ErrorIndexClosed):
			return Result{}, ErrClosed
		}
		return Result{}, fmt.Errorf("searching %s for %q: %w", ix.dir, q.Text, err)
	}

	out := Result{Total: res.Total, Took: res.Took, Hits: make([]Hit, 0, len(res.Hits))}
	for _, h := range res.Hits {
		out.Hits = append(out.Hits, toHit(h))
	}
	if ix.build.layout.jobDocs() && len(out.Hits) > 0 {
		ids := make([]string, len(out.Hits))
		for i, h := range out.Hits {
			ids[i] = h.JobID
		}
		jobs := ix.jobInfos(ids)
		for i := range out.Hits {
			j := jobs[out.Hits[i].JobID]
			out.Hits[i].Tool, out.Hits[i].File = j.tool, j.file
		}
	}
	return out, nil
}

// bracketRange matches Lucene's [a TO b] and {a TO b} ranges, which
// bleve's query strings do not have: they would search the words "[a",
// "TO" and "b]" instead.
var bracketRange = regexp.MustCompile(`[\[{][^\]}]*\sTO\s[^\]}]*[\]}]`)

// queryEnv is what building a request needs to know of the index.
type queryEnv struct {
	layout layout
	// numeric says that the numbers of structured lines are numeric
	// fields (see rewrite).
	numeric bool
	// jobs is the job index (layout 3).
	jobs bleve.Index
}

// quotedLineRange matches line:>"5", which bleve's parser reads as a date.
var quotedLineRange = regexp.MustCompile(`(^|[\s+\-(])line:[<>]=?"`)

// searchRequest validates q and builds the bleve request.
func searchRequest(q Query, env queryEnv) (*bleve.SearchRequest, error) {
	if q.Offset < 0 || q.Offset > MaxOffset {
		return nil, fmt.Errorf("%w: offset %d outside 0..%d", ErrBadQuery, q.Offset, MaxOffset)
	}
	limit := q.Limit
	switch {
	case limit <= 0:
		limit = DefaultLimit
	case limit > MaxLimit:
		limit = MaxLimit
	}

	if quotedLineRange.MatchString(q.Text) {
		return nil, fmt.Errorf("%w: %q: line ranges take numbers without quotes, as in line:>5",
			ErrBadQuery, q.Text)
	}
	if bracketRange.MatchString(q.Text) {
		return nil, fmt.Errorf("%w: %q: ranges in brackets ([a TO b]) are not part of this query "+
			"syntax; write both ends, as in +line:>=5 +line:<=7", ErrBadQuery, q.Text)
	}
	var bq query.Query = query.NewMatchAllQuery()
	if strings.TrimSpace(q.Text) != "" {
		parsed, err := query.NewQueryStringQuery(q.Text).Parse()
		if err != nil {
			return nil, fmt.Errorf("%w: %q: %w", ErrBadQuery, q.Text, err)
		}
		if bq, err = rewrite(parsed, env); err != nil {
			return nil, fmt.Errorf("%w: %q: %w", ErrBadQuery, q.Text, err)
		}
	}

	req := bleve.NewSearchRequestOptions(bq, limit, q.Offset, false)
	if q.ByTime {
		req.SortBy(timeOrder)
	}
	req.Fields = []string{fieldJobID, fieldStream, fieldLine, fieldTime, fieldMessage, fieldStored}
	if !env.layout.jobDocs() {
		req.Fields = append(req.Fields, fieldTool, fieldFile, fieldFileRaw)
	}
	if q.Highlight {
		req.Highlight = bleve.NewHighlightWithStyle(html.Name)
	}
	return req, nil
}

// toHit converts a bleve hit with its stored fields.
func toHit(h *search.DocumentMatch) Hit {
	hit := Hit{ID: h.ID, Score: h.Score, Fragments: h.Fragments}
	hit.JobID, _ = h.Fields[fieldJobID].(string)
	hit.Tool, _ = h.Fields[fieldTool].(string)
	hit.File, _ = h.Fields[fieldFile].(string)
	if raw, ok := h.Fields[fieldFileRaw].(string); ok && raw != "" {
		hit.File = raw
	}
	hit.Stream, _ = h.Fields[fieldStream].(string)
	hit.Message, _ = h.Fields[fieldMessage].(string)
	if n, ok := h.Fields[fieldLine].(float64); ok {
		hit.Line = int(n)
	}
	if hit.JobID == "" { // layout 3 keeps them in the id only
		hit.JobID, hit.Stream, hit.Line, _ = splitDocID(h.ID)
	}
	if s, ok := h.Fields[fieldTime].(string); ok {
		hit.Time, _ = time.Parse(time.RFC3339Nano, s)
	}
	if s, ok := h.Fields[fieldStored].(string); ok {
		hit.Fields, _ = decodeStoredFields(s)
	} else if hit.Message != "" {
		hit.Fields = fieldsOfMessage(hit.Message)
	}
	return hit
}
