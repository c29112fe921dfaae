package index

import (
	"github.com/blevesearch/bleve/v2/analysis/analyzer/keyword"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/standard"
	"github.com/blevesearch/bleve/v2/mapping"
)

// schemaKey names the internal key that holds the document schema version.
const schemaKey = "ventapp.index.schema"

// syncKey names the internal key written by the last batch before Close;
// it holds the time of that Close.
const syncKey = "ventapp.index.closed"

// schemaVersion is bumped whenever the document layout (field names,
// analyzers, indexing options) changes; it is the layout of new indexes.
// Version history:
//
//	1: first layout: line and time are bleve's numeric and date-time
//	   fields, 16 terms a value.
//	2: line and time are stepped fields, 8 terms a value (numfield.go),
//	   and their range queries are rewritten (rangequery.go).
//	3: line is 2 stepped terms (0..2^32-1), time 5 stepped terms of
//	   milliseconds, the top term of each wider than 8 bits; file,
//	   file_sha256 and container are indexed once per job in a job
//	   document of a second index (jobs.go) instead of in every line.
//
// An index of an older layout is still opened, written and searched in its
// own layout.
const schemaVersion = "3"

// Older layouts, still read and written.
const (
	schemaV1 = "1"
	schemaV2 = "2"
)

// layout is the document layout of an open index, the number in its
// schema version.
type layout int

// parseLayout returns the layout a schema version names.
func parseLayout(v string) (layout, bool) {
	switch v {
	case schemaV1:
		return 1, true
	case schemaV2:
		return 2, true
	case schemaVersion:
		return 3, true
	}
	return 0, false
}

// stepped reports whether line and time are stepped fields; layout 1
// has bleve's numeric and date-time fields.
func (l layout) stepped() bool { return l >= 2 }

// lineScale and timeScale are the scales of the stepped fields.
func (l layout) lineScale() steppedScale {
	if l >= 3 {
		return scaleLine3
	}
	return scaleFull
}

// timeScale: see lineScale.
func (l layout) timeScale() steppedScale {
	if l >= 3 {
		return scaleTime3
	}
	return scaleFull
}

// jobDocs reports whether the job-level fields (tool, file, file_sha256,
// container) live in one job document per job rather than in every line.
func (l layout) jobDocs() bool { return l >= 3 }

// newMapping returns the index mapping. Documents are built directly (see
// buildDocument), so the mapping is used at query time: it tells the query
// parser which analyzer each field uses, which fields are numbers and dates,
// and that bare words search "message".
func newMapping() *mapping.IndexMappingImpl {
	im := mapping.NewIndexMapping()
	im.DefaultAnalyzer = standard.Name
	im.DefaultField = fieldMessage
	im.StoreDynamic = false
	im.DocValuesDynamic = false
	im.IndexDynamic = true

	doc := mapping.NewDocumentMapping()
	keywords := []string{fieldJobID, fieldTool, fieldSHA256, fieldContainer, fieldStream, fieldTrunc}
	for _, name := range keywords {
		fm := mapping.NewKeywordFieldMapping()
		fm.Analyzer = keyword.Name
		fm.IncludeInAll = false
		fm.IncludeTermVectors = false
		doc.AddFieldMappingsAt(name, fm)
	}

	for _, name := range []string{fieldMessage, fieldFile} {
		fm := mapping.NewTextFieldMapping()
		fm.Analyzer = standard.Name
		fm.IncludeInAll = false
		doc.AddFieldMappingsAt(name, fm)
	}

	line := mapping.NewNumericFieldMapping()
	line.DocValues = true
	line.IncludeInAll = false
	doc.AddFieldMappingsAt(fieldLine, line)

	ts := mapping.NewDateTimeFieldMapping()
	ts.DocValues = true
	ts.IncludeInAll = false
	doc.AddFieldMappingsAt(fieldTime, ts)

	fields := mapping.NewDocumentMapping()
	fields.Dynamic = true
	fields.DefaultAnalyzer = standard.Name
	doc.AddSubDocumentMapping("fields", fields)

	all := mapping.NewDocumentDisabledMapping()
	doc.AddSubDocumentMapping("_all", all)

	im.DefaultMapping = doc
	return im
}
