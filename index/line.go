package index

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/blevesearch/bleve/v2/analysis"
	"github.com/blevesearch/bleve/v2/document"
	bindex "github.com/blevesearch/bleve_index_api"
)

// MaxMessageBytes is the longest message text kept in the index. Longer
// lines are cut on a rune boundary and end with "…[truncated N bytes]",
// where N counts the bytes removed. Raw log files keep the whole line.
const MaxMessageBytes = 32 << 10

// Stream names used by plugin jobs.
const (
	StreamStdout = "stdout"
	StreamStderr = "stderr"
)

// Line is one output line of a plugin job.
type Line struct {
	// JobID identifies the job; required.
	JobID string
	// Tool is the plugin (tool) name.
	Tool string
	// File is the path of the input file the job processed.
	File string
	// FileSHA256 is the hex digest of that file.
	FileSHA256 string
	// Container is the job's container id; it names the raw log file.
	Container string
	// Stream is "stdout" or "stderr"; empty means "stdout".
	Stream string
	// LineNo is the 1-based number of the line within the job. The pair
	// (JobID, Stream, LineNo) identifies the document, so both one counter
	// shared by the two streams (recommended: it keeps the output order)
	// and one counter per stream work. Adding the same triple again
	// replaces the earlier document.
	LineNo int
	// Time is when the line was read; zero means the time of Add.
	Time time.Time
	// Text is the raw line without its newline. It may hold any bytes.
	Text []byte
}

// Document field names. Structured lines add "fields.<dotted key>".
const (
	fieldJobID     = "job_id"
	fieldTool      = "tool"
	fieldFile      = "file"
	fieldSHA256    = "file_sha256"
	fieldContainer = "container"
	fieldStream    = "stream"
	fieldLine      = "line"
	fieldTime      = "time"
	fieldMessage   = "message"
	fieldTrunc     = "truncated"
	fieldStored    = "_fields" // stored only: JSON of the flattened fields
	fieldFileRaw   = "_file"   // stored only: the file name's bytes when they are not UTF-8
	fieldsPrefix   = "fields."
)

// jobDocSuffix ends the id of a job document (layout 3, see jobs.go): the
// document "<job_id>:job" holds a job's tool, file, file_sha256 and
// container; its lines leave out all but the tool.
const jobDocSuffix = ":job"

// jobFields are the fields that, in layout 3, only job documents hold.
// The tool is in both: a tool has many jobs, and a clause matching many
// jobs becomes a large disjunction over their ids, so lines keep their
// tool (one shared term each) and tool:x is answered directly.
var jobFields = map[string]bool{fieldFile: true, fieldSHA256: true, fieldContainer: true}

// Indexing options per kind of field; see the package comment for why.
const (
	optKeyword    = bindex.IndexField | bindex.StoreField
	optKeywordIdx = bindex.IndexField
	optText       = bindex.IndexField | bindex.StoreField | bindex.IncludeTermVectors
	optFieldText  = bindex.IndexField | bindex.IncludeTermVectors
	optFieldOther = bindex.IndexField
	optSortable   = bindex.IndexField | bindex.StoreField | bindex.DocValues
	optSortIdx    = bindex.IndexField | bindex.DocValues
	optStoredOnly = bindex.StoreField
)

// docID is the document id of a line.
func docID(jobID, stream string, lineNo int) string {
	return jobID + ":" + stream + ":" + strconv.Itoa(lineNo)
}

// splitDocID returns the job id, stream and line number of a line's
// document id. Streams hold no ':', so the last two colons separate them.
func splitDocID(id string) (jobID, stream string, lineNo int, ok bool) {
	rest, num, ok1 := cutLast(id, ":")
	jobID, stream, ok2 := cutLast(rest, ":")
	n, err := strconv.Atoi(num)
	if !ok1 || !ok2 || err != nil {
		return "", "", 0, false
	}
	return jobID, stream, n, true
}

// cutLast is strings.Cut at the last sep.
func cutLast(s, sep string) (before, after string, found bool) {
	if i := strings.LastIndex(s, sep); i >= 0 {
		return s[:i], s[i+len(sep):], true
	}
	return s, "", false
}

// lineText returns the text of a line without trailing CR/LF, and whether
// it holds anything but white space.
func lineText(b []byte) ([]byte, bool) {
	b = bytes.TrimRight(b, "\r\n")
	return b, len(bytes.TrimSpace(b)) > 0
}

// messageText turns raw bytes into the indexed message: valid UTF-8, at
// most MaxMessageBytes plus the marker.
func messageText(b []byte) (msg string, truncated bool) {
	if len(b) <= MaxMessageBytes {
		return strings.ToValidUTF8(string(b), "\uFFFD"), false
	}

	cut := runeCut(string(b[:MaxMessageBytes+1]), MaxMessageBytes)
	msg = strings.ToValidUTF8(string(b[:cut]), "\uFFFD")
	return msg + truncMarker(len(b)-cut), true
}

// builder converts lines into bleve documents.
type builder struct {
	// analyzer is used for message, file and string fields.
	analyzer analysis.Analyzer
	// numeric indexes numbers of structured lines as numeric fields
	// (range queries work); otherwise as exact text tokens.
	numeric bool
	// layout is the index's document layout (see mapping.go).
	layout layout
}

// document converts a line with non-blank text into a bleve document.
func (bd *builder) document(l *Line, text []byte) *document.Document {
	a := bd.analyzer
	doc := document.NewDocument(docID(l.JobID, l.Stream, l.LineNo))

	msg, truncated := messageText(text)
	m, structured := parseStructured(text)
	if structured && bd.layout.jobDocs() {
		// Layout 3: the keys of a structured line are not words of its
		// message (about 5% of the CPU of a line); fields.<key>:* finds
		// the lines that have a key.
		a = keylessAnalyzer{a}
	}
	doc.AddField(document.NewTextFieldCustom(fieldMessage, nil, []byte(msg), optText, a))
	if truncated {
		doc.AddField(document.NewTextFieldCustom(fieldTrunc, nil, []byte("true"), optKeywordIdx, nil))
	}

	// Layout 3 stores no job id, stream and line: the document id holds
	// them (splitDocID).
	idOpt, lineOpt := optKeyword, optSortable
	if bd.layout.jobDocs() {
		idOpt, lineOpt = optKeywordIdx, optSortIdx
	}
	addKeyword(doc, fieldJobID, l.JobID, idOpt)
	addKeyword(doc, fieldStream, l.Stream, idOpt)
	if !bd.layout.jobDocs() {
		bd.addJobFields(doc, l)
	} else {
		addKeyword(doc, fieldTool, l.Tool, optKeywordIdx)
	}
	if bd.layout.stepped() {
		doc.AddField(newLineField(l.LineNo, bd.layout.lineScale(), lineOpt))
		if dt := newTimeField(l.Time, bd.layout.timeScale(), optSortable); dt != nil {
			doc.AddField(dt)
		}
	} else {
		doc.AddField(document.NewNumericFieldWithIndexingOptions(fieldLine, nil, float64(l.LineNo), optSortable))
		if dt, err := document.NewDateTimeFieldWithIndexingOptions(fieldTime, nil, l.Time,
			time.RFC3339Nano, optSortable); err == nil {
			doc.AddField(dt)
		}
	}

	if structured {
		// The stored message gives the fields back at search time
		// (storedFields), unless it is not the text that was parsed.
		bd.addFields(doc, m, msg != string(text))
	}
	return doc
}

// jobDocument returns the job document of l's job (layout 3): its id,
// tool, file, file SHA-256 and container.
func (bd *builder) jobDocument(l *Line) *document.Document {
	doc := document.NewDocument(l.JobID + jobDocSuffix)
	addKeyword(doc, fieldJobID, l.JobID, optKeyword)
	bd.addJobFields(doc, l)
	return doc
}

// addJobFields adds the job-level fields of l.
func (bd *builder) addJobFields(doc *document.Document, l *Line) {
	addKeyword(doc, fieldTool, l.Tool, optKeyword)
	addKeyword(doc, fieldSHA256, l.FileSHA256, optKeywordIdx)
	addKeyword(doc, fieldContainer, l.Container, optKeywordIdx)
	if l.File != "" {
		doc.AddField(document.NewTextFieldCustom(fieldFile, nil, []byte(valid(l.File)), optText, bd.analyzer))
	}
	if !utf8.ValidString(l.File) {
		// The indexed name has U+FFFD for the bytes that are not UTF-8;
		// hits give back the name itself.
		doc.AddField(document.NewTextFieldCustom(fieldFileRaw, nil, []byte(l.File), optStoredOnly, nil))
	}
}

// addKeyword adds a non-analysed field when v is set.
func addKeyword(doc *document.Document, name, v string, opt bindex.FieldIndexingOptions) {
	if v == "" {
		return
	}
	doc.AddField(document.NewTextFieldCustom(name, nil, []byte(valid(v)), opt, nil))
}

// valid replaces invalid UTF-8 in s.
func valid(s string) string {
	return strings.ToValidUTF8(s, "\uFFFD")
}

// addFields indexes the flattened fields of m, and with store also keeps
// them as one JSON value for Hit.Fields. Repeated keys get increasing array
// positions so a phrase never spans two values.
func (bd *builder) addFields(doc *document.Document, m map[string]any, store bool) {
	flat, _ := flatten(m)
	if len(flat) == 0 {
		return
	}

	seen := make(map[string]uint64, len(flat))
	for _, f := range flat {
		n := seen[f.key]
		seen[f.key] = n + 1
		var pos []uint64
		if n > 0 {
			pos = []uint64{n}
		}
		name := fieldsPrefix + f.key

		switch v := f.val.(type) {
		case string:
			opt := optFieldText
			if bd.layout >= 3 && oneWord(v) {
				// A one-word value needs no positions: a phrase of
				// one word is searched as that word (phraseQuery).
				opt = optFieldOther
			}
			doc.AddField(document.NewTextFieldCustom(name, pos, []byte(v), opt, bd.analyzer))
		case int64:
			bd.addNumber(doc, name, pos, float64(v), strconv.FormatInt(v, 10))
		case float64:
			bd.addNumber(doc, name, pos, v, strconv.FormatFloat(v, 'g', -1, 64))
		case bool:
			doc.AddField(document.NewTextFieldCustom(name, pos, []byte(strconv.FormatBool(v)),
				optFieldOther, nil))
		case nil:
			doc.AddField(document.NewTextFieldCustom(name, pos, []byte("null"), optFieldOther, nil))
		}
	}

	if store {
		if b, err := storedJSON(flat); err == nil {
			doc.AddField(document.NewTextFieldCustom(fieldStored, nil, b, optStoredOnly, nil))
		}
	}
}

// oneWord reports whether the standard analyzer certainly makes at most
// one token of s: ASCII letters, digits and '_', with single dots between
// two letters or two digits (www.tcpdump.org, 10.0.0.1, NOERROR). Other
// text may also be one word; it keeps its positions.
func oneWord(s string) bool {
	if s == "" {
		return false
	}
	class := func(i int) uint8 { // the word-break class of s[i] (analyze.go)
		if s[i] >= 0x80 {
			return wbOther
		}
		return wbClass[s[i]]
	}
	for i := range len(s) {
		switch c := class(i); {
		case c == wbLetter || c == wbDigit || c == wbUnder:
		case s[i] == '.' && i > 0 && i < len(s)-1:
			p, n := class(i-1), class(i+1)
			if p != n || p != wbLetter && p != wbDigit {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// storedJSON encodes flattened fields as Hit.Fields keeps them: one key
// per dotted name, a repeated key as a list.
func storedJSON(flat []field) ([]byte, error) {
	seen := make(map[string]uint64, len(flat))
	stored := make(map[string]any, len(flat))
	for _, f := range flat {
		n := seen[f.key]
		seen[f.key] = n + 1
		storeValue(stored, f.key, f.val, n)
	}
	return json.Marshal(stored)
}

// fieldsOfMessage derives Hit.Fields from a stored message that was
// indexed as it is: the same parse and flattening as at indexing time.
func fieldsOfMessage(msg string) map[string]any {
	m, ok := parseStructured([]byte(msg))
	if !ok {
		return nil
	}
	flat, _ := flatten(m)
	if len(flat) == 0 {
		return nil
	}
	b, err := storedJSON(flat)
	if err != nil {
		return nil
	}
	fields, _ := decodeStoredFields(string(b))
	return fields
}

// addNumber indexes a number as a numeric field or as one exact token.
func (bd *builder) addNumber(doc *document.Document, name string, pos []uint64, v float64, text string) {
	switch {
	case bd.numeric && bd.layout.jobDocs():
		doc.AddField(newNumberField(name, pos, v, optFieldOther))
		return
	case bd.numeric:
		doc.AddField(document.NewNumericFieldWithIndexingOptions(name, pos, v, optFieldOther))
		return
	}
	doc.AddField(document.NewTextFieldCustom(name, pos, []byte(text), optFieldOther, nil))
}

// storeValue records v in the stored map, turning a repeated key into a list.
func storeValue(stored map[string]any, key string, v any, n uint64) {
	switch n {
	case 0:
		stored[key] = v
	case 1:
		stored[key] = []any{stored[key], v}
	default:
		stored[key] = append(stored[key].([]any), v)
	}
}

// decodeStoredFields turns the stored JSON back into Hit.Fields: integers
// become int64, other numbers float64.
func decodeStoredFields(s string) (map[string]any, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("decoding stored fields: %w", err)
	}
	for k, v := range m {
		m[k] = plainNumbers(v)
	}
	return m, nil
}

// plainNumbers replaces json.Number values (also inside lists).
func plainNumbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		return numberValue(x)
	case []any:
		for i := range x {
			x[i] = plainNumbers(x[i])
		}
	}
	return v
}

// keylessAnalyzer analyses the message of a structured line without the
// words of its keys: a token that is a whole quoted key ("type": or
// 'type':) is dropped, and the other tokens keep their positions. A key of
// several words keeps them.
type keylessAnalyzer struct{ a analysis.Analyzer }

// Analyze drops the tokens that are a whole quoted key.
func (k keylessAnalyzer) Analyze(in []byte) analysis.TokenStream {
	tokens := k.a.Analyze(in)
	out := tokens[:0]
	for _, t := range tokens {
		if !isKeyToken(in, t.Start, t.End) {
			out = append(out, t)
		}
	}
	return out
}

// isKeyToken reports whether in[start:end] is a whole quoted key: a quote
// before, the same quote after, then a colon.
func isKeyToken(in []byte, start, end int) bool {
	if start == 0 || end >= len(in) {
		return false
	}
	q := in[start-1]
	if (q != '"' && q != '\'') || in[end] != q {
		return false
	}
	for _, c := range in[end+1:] {
		switch c {
		case ' ', '\t':
			continue
		case ':':
			return true
		}
		return false
	}
	return false
}
