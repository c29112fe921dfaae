// Package index keeps plugin output searchable: every output line of a
// plugin job becomes one document of an embedded bleve (scorch) index, and
// the same lines are appended to vent-style raw log files.
//
// vent sent container output through syslog-ng into one file per container
// and day, /var/log/vent/YYYY/MM/DD/<container>.log, and (when its
// RabbitMQ-to-Elasticsearch connector worked) into one Elasticsearch index
// per job container. This package replaces both with one local index plus
// the same file layout.
//
// # Documents
//
// The document id is "<job_id>:<stream>:<line>". Fields:
//
//	job_id, stream, tool              keyword (not analysed)
//	message                           text (standard analyzer), the line
//	line                              integer (stepped terms, below)
//	time                              date-time (stepped terms, below)
//	truncated                         keyword "true" on cut lines
//	fields.<dotted key>               values of a structured line
//	file_sha256, container            keyword, once per job (below)
//	file                              text (standard analyzer), once per job
//
// A line is searched by its job's file, file SHA-256 and container as if
// they were its own fields (+file:a.pcap +fields.type:dns), and every hit
// carries its tool and file, but those three are indexed once per job, in
// a job document of a second, small index (the folder "jobs" inside the
// index folder): a clause on one of them becomes the list of jobs whose job
// document it matches. A file name given without quotes matches the files
// that have all its words. See jobs.go for why.
//
// message always holds the line text, JSON lines included, so full-text
// search finds every line. The keys of a structured line (layout 3) are not
// indexed as words of its message, only its values are: a token that is a
// whole quoted key is left out (keylessAnalyzer), and fields.<key>:* finds
// the lines that have a key. Text is made valid UTF-8 (invalid bytes become
// U+FFFD) and cut after MaxMessageBytes with "…[truncated N bytes]". Lines
// that are empty or only white space are not indexed (they still go to the
// raw log) and are counted in Stats.LinesSkipped.
//
// A line whose text is a JSON object, or failing that a Python dict literal
// as vent plugins print them ({'ip': '1.2.3.4'}, parsed by package pylit),
// is also flattened into fields.<key>: nested objects join their keys with
// dots (fields.flow.src_ip); every element of an array, at any depth, is
// one more value of the same key, so {"a":[{"b":1},{"b":2}]} gives
// fields.a.b = 1 and 2 and a query fields.a.b:2 matches. Strings are text
// (standard analyzer, with positions, so phrases work); true/false/null are
// the exact tokens "true", "false" and "null"; numbers are exact tokens
// ("53", "0.5") unless Options.NumericFields makes them numeric fields that
// also answer range queries. Key segments are sanitised (anything but
// letters, digits, '_', '-', '@' and single inner dots becomes '_'), keys
// stop at MaxKeyBytes, objects nest at most MaxDepth levels (deeper ones
// are indexed as their JSON text), a line gives at most MaxFieldValues
// values and a string value at most MaxFieldValueBytes. Lines longer than
// MaxParseBytes are not parsed. The flattened values come back in
// Hit.Fields: a search parses the stored message of each hit again, the
// same way; only when the message is not the text that was parsed (a cut
// line, invalid UTF-8) are the values stored as one JSON value instead.
//
// Bare words and phrases search message (the mapping's default field;
// there is no _all field). A quoted single word is searched as that word.
// Examples: tool:pcap-summary,
// job_id:000000000042, fields.type:dns, +fields.query:www.tcpdump.org,
// tcpdump, "listening on eth0", line:>100, time:>"2024-03-10T00:00:00Z".
// The standard analyzer keeps host names and addresses such as
// www.tcpdump.org or 10.0.0.1 as one token, so the word tcpdump does not
// match www.tcpdump.org; *tcpdump* or /.*tcpdump.*/ does.
//
// A required clause that matches nothing makes the query match nothing:
// "+fields.type:dns +line:>5" finds no line when no line is above 5 (bleve's
// query strings drop a range or wildcard clause that expands to no term;
// package index keeps it, see rewrite). A query that cannot mean what it
// says is refused with ErrBadQuery: time:>2020 (time bounds are quoted
// dates) and ranges on fields.* numbers when they are exact terms.
//
// # Why this mapping (measured)
//
// Documents are built directly (bleve's IndexAdvanced), not through the
// reflective mapper, so each field gets exactly the options it needs:
// message and file are stored with term positions (phrase queries and
// highlighting need both); string fields.* values are indexed with
// positions but not stored, except values that are certainly one word
// (www.tcpdump.org, 10.0.0.1, NOERROR), which need no positions; keywords
// are not analysed; there is no _all field. Batches are committed with
// scorch's unsafe_batch (a batch returns once searchable; the persister
// writes it out in the background, and Close waits for it), by up to
// min(GOMAXPROCS, 4) concurrent committers.
//
// The cost of a line follows its terms, above all the ones new to a
// segment. bleve indexes every number as 16 prefix terms of 4 bits each,
// and its range searcher expects all 16; for line numbers (stored as
// float64 bits, where small integers differ in 11 of those terms) and
// nanosecond times that was about 40% of the CPU of a line. So line and
// time are stepped fields (numfield.go): an integer as a few prefix terms
// of 8 bits, the first being the plain prefix-coded integer, so doc values
// and sorting work as before. Layout 3 indexes the line number as 2 terms
// (0..2^32-1) and the time as 5 terms of milliseconds since 1970; the last
// term of each takes all the remaining high bits, and a range query reads
// the few such terms that exist from the dictionary instead of listing
// candidates. Time ranges are so resolved to the millisecond: a bound
// inside a millisecond takes in that whole millisecond (the stored time
// keeps its nanoseconds, and hits in time order within one millisecond come
// in line order). A parsed query's numeric ranges on line and date ranges
// on time are replaced by rangeQuery (rangequery.go), which covers the
// range with at most 2*255 terms per level and looks them up; the query
// syntax is unchanged (line:>100, time:>="2024-03-10T00:00:00Z"). Storing
// the flattened fields only when the message cannot give them back saves
// about a tenth more, and `ventapp serve` runs the garbage collector at
// GOGC=400. Numbers of structured lines are exact tokens by default;
// NumericFields makes them numeric fields that answer range queries, for
// about 40% more CPU: in layout 3 stepped fields of 8 terms (the float's
// sortable bits, newNumberField) searched by rangeQuery, before that
// bleve's numeric fields of 16 terms. BENCHMARKS.md has the measurements.
//
// # Layouts
//
// The index records its layout in the internal key "ventapp.index.schema".
// Layout 3 (fewer stepped terms, job documents) is made for new indexes.
// An index of layout 2 (line and time as 8 stepped terms, times in
// nanoseconds, the job-level fields in every line) or layout 1 (bleve's
// numeric and date-time fields for line and time), made by earlier
// versions, is still opened, written and searched in its own layout, so an
// upgrade needs no re-indexing. An old index moves to layout 3 only by
// starting a new one (stop the daemon and move DATA_DIR/index aside);
// ventapp has no command that re-indexes the raw logs.
//
// # Commit, flush and durability
//
// Add builds the document in the caller's goroutine and appends it to a
// pending list. A background loop commits every FlushInterval, or sooner
// when BatchSize documents are pending; Add blocks while 8 batches are
// waiting. Flush commits synchronously. A failed batch is dropped and
// counted (Stats.DocsDropped, Stats.LastError). After a crash the lines of
// the last moments may be missing from the index; the raw logs still hold
// them.
//
// # Raw logs
//
// With Options.LogDir set, every line (blank ones too, not truncated) is
// appended to LogDir/YYYY/MM/DD/<container>.log, the date taken from
// Line.Time in UTC, as
//
//	<RFC 3339 time with nanoseconds, UTC> <stream> <text>
//
// where text escapes backslash, \n, \r and \t, writes other control bytes
// and invalid UTF-8 as \xNN and C1 controls as \u00NN, so one record is one
// line. Files are opened on first use, buffered, flushed every
// FlushInterval and by Flush, closed by EndJob, and at most MaxOpenLogs are
// open at once (the least recently written is closed first). A job running
// over midnight writes to two files, as syslog-ng did. DeleteJob leaves raw
// logs alone.
//
// # On disk
//
// The index directory is a scorch index. Its internal key
// "ventapp.index.schema" holds the layout ("1", "2" or "3"); Open refuses an
// index with another value, and any directory that is not empty and not
// such an index, with ErrOpen naming the directory. Changing a field name,
// analyzer or option above means a new layout in mapping.go.
package index
