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
//
// An index of layout 1 is still opened, written and searched as layout 1.
const schemaVersion = "2"

// schemaV1 is the first layout, still read and written.
const schemaV1 = "1"

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
