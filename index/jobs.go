package index

import (
	"context"
	"fmt"
	"strings"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/mapping"
	"github.com/blevesearch/bleve/v2/search"
	"github.com/blevesearch/bleve/v2/search/query"
	"github.com/blevesearch/bleve/v2/search/searcher"
	bindex "github.com/blevesearch/bleve_index_api"
)

// Job documents (layout 3).
//
// Every line of a job used to carry the job's file, file SHA-256 and
// container (and tool): fields with the same values in all of a job's
// lines, the file name alone several words. Layout 3 indexes file,
// file_sha256 and container once, in the job document "<job_id>:job" of a
// second, small index in the folder "jobs" inside the index folder,
// committed before the batch that holds the job's first line; the job
// document also keeps the tool, which hits show. A search turns every
// clause on one of those three fields into the ids of the jobs whose job
// document it matches (jobQuery). A match on the file wants all its words
// (file:tls12.pcap is the file with both "tls12" and "pcap"), so it names
// a few jobs; a clause that still matches many jobs costs one term lookup
// per job, or per job that does not match when those are fewer. The tool
// stays in every line as well (one shared term): tool:p0f would otherwise
// name every job of the tool.
//
// Why a second index and not job documents among the lines: scorch merges
// segments by copying their postings only when all of them hold the same
// fields, and a job document in a few segments made every merge take the
// slow path (about 8% more CPU per line in BenchmarkIndexLines).

// jobsDirName is the folder of the job index inside the index folder.
const jobsDirName = "jobs"

// jobQuery matches the lines of the jobs whose job document matches q, a
// query on one of the job-level fields.
type jobQuery struct {
	q     query.Query
	jobs  bleve.Index
	boost float64
}

// Searcher runs q over the job documents and returns a searcher for the
// lines of the jobs it found. Each job id is one term to look up in every
// segment, so when many jobs match and they are more than half of the
// jobs that have lines, the searcher is every line except those of the
// other jobs (jobs without a job document among them); when all match,
// every line.
func (j *jobQuery) Searcher(ctx context.Context, r bindex.IndexReader, m mapping.IndexMapping,
	opts search.SearcherOptions) (search.Searcher, error) {
	ids, err := matchingJobs(ctx, j.jobs, j.q)
	if err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return nothingSearcher(ctx, r, fieldJobID, opts)
	}
	direct := func() (search.Searcher, error) {
		return searcher.NewMultiTermSearcher(ctx, r, ids, fieldJobID, j.boost, opts, true)
	}
	if len(ids) <= fewJobs {
		return direct()
	}

	all, err := lineJobs(r)
	if err != nil {
		return nil, err
	}
	if len(ids) <= len(all)/2 {
		return direct()
	}
	matched := make(map[string]bool, len(ids))
	for _, id := range ids {
		matched[id] = true
	}
	var others []string
	for _, id := range all {
		if !matched[id] {
			others = append(others, id)
		}
	}
	everyLine := query.NewMatchAllQuery()
	everyLine.SetBoost(j.boost)
	if len(others) == 0 {
		return everyLine.Searcher(ctx, r, m, opts)
	}
	rest := query.NewBooleanQuery([]query.Query{everyLine}, nil,
		[]query.Query{&termsQuery{field: fieldJobID, terms: others}})
	return rest.Searcher(ctx, r, m, opts)
}

// fewJobs is the number of matching jobs up to which a job clause is
// always a list of their ids (a variable for tests).
var fewJobs = 1024

// lineJobs returns the ids of the jobs that have lines in the index r.
func lineJobs(r bindex.IndexReader) ([]string, error) {
	d, err := r.FieldDict(fieldJobID)
	if err != nil {
		return nil, err
	}
	return dictTerms(d)
}

// dictTerms returns the terms of a field dictionary, in order, and closes
// it.
func dictTerms(d bindex.FieldDict) ([]string, error) {
	defer d.Close()

	var out []string
	for {
		e, err := d.Next()
		if err != nil {
			return nil, err
		}
		if e == nil {
			return out, nil
		}
		out = append(out, e.Term)
	}
}

// termsQuery matches documents holding any of terms in field.
type termsQuery struct {
	field string
	terms []string
}

// Searcher returns a disjunction over the terms.
func (t *termsQuery) Searcher(ctx context.Context, r bindex.IndexReader, _ mapping.IndexMapping,
	opts search.SearcherOptions) (search.Searcher, error) {
	return searcher.NewMultiTermSearcher(ctx, r, t.terms, t.field, 1, opts, true)
}

// matchingJobs returns the ids of the jobs whose job document matches q.
func matchingJobs(ctx context.Context, jobs bleve.Index, q query.Query) ([]string, error) {
	adv, err := jobs.Advanced()
	if err != nil {
		return nil, fmt.Errorf("job index: %w", err)
	}
	r, err := adv.Reader()
	if err != nil {
		return nil, fmt.Errorf("job index: %w", err)
	}
	defer r.Close()

	s, err := q.Searcher(ctx, r, jobs.Mapping(), search.SearcherOptions{})
	if err != nil {
		return nil, err
	}
	defer s.Close()

	sctx := &search.SearchContext{DocumentMatchPool: search.NewDocumentMatchPool(s.DocumentMatchPoolSize(), 0)}
	var ids []string
	for {
		dm, err := s.Next(sctx)
		if err != nil {
			return nil, err
		}
		if dm == nil {
			return ids, nil
		}
		id, err := r.ExternalID(dm.IndexInternalID)
		if err != nil {
			return nil, err
		}
		if job, ok := strings.CutSuffix(id, jobDocSuffix); ok {
			ids = append(ids, job)
		}
		sctx.DocumentMatchPool.Put(dm)
	}
}

// jobInfo is what a hit shows of its job.
type jobInfo struct {
	tool, file string
}

// jobInfos reads the job documents of the given jobs. A job without one
// (its first batch was lost) is left out.
func (ix *Index) jobInfos(jobIDs []string) map[string]jobInfo {
	out := make(map[string]jobInfo, len(jobIDs))
	for _, id := range jobIDs {
		if _, done := out[id]; done {
			continue
		}
		doc, err := ix.jobIdx.Document(id + jobDocSuffix)
		if err != nil || doc == nil {
			continue
		}
		var info jobInfo
		doc.VisitFields(func(f bindex.Field) {
			switch f.Name() {
			case fieldTool:
				info.tool = string(f.Value())
			case fieldFile:
				if info.file == "" {
					info.file = string(f.Value())
				}
			case fieldFileRaw:
				info.file = string(f.Value())
			}
		})
		out[id] = info
	}
	return out
}
