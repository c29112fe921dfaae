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
// Every line of a job used to carry the job's tool, file, file SHA-256 and
// container: four fields, about a tenth of the cost of indexing a line, for
// values that are the same in all of a job's lines. Layout 3 indexes them
// once, in the job document "<job_id>:job" of a second, small index in the
// folder "jobs" inside the index folder, committed before the batch that
// holds the job's first line. A search turns every clause on one of those
// fields into the ids of the jobs whose job document it matches (jobQuery).
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

// Searcher runs q over the job documents and returns a disjunction over
// the job ids it found, or a searcher that matches nothing.
func (j *jobQuery) Searcher(ctx context.Context, r bindex.IndexReader, _ mapping.IndexMapping,
	opts search.SearcherOptions) (search.Searcher, error) {
	ids, err := matchingJobs(ctx, j.jobs, j.q)
	if err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return nothingSearcher(ctx, r, fieldJobID, opts)
	}
	return searcher.NewMultiTermSearcher(ctx, r, ids, fieldJobID, j.boost, opts, true)
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
				info.file = string(f.Value())
			}
		})
		out[id] = info
	}
	return out
}
