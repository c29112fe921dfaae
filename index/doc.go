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
//	job_id, tool, stream, file_sha256, container  keyword (not analysed)
//	file                                          text (standard analyzer)
//	message                                       text (standard analyzer), the line
//	line                                          number
//	time                                          date-time (RFC 3339)
//	truncated                                     keyword "true" on cut lines
//	fields.<dotted key>                           values of a structured line
//
// message always holds the line text, JSON lines included, so full-text
// search finds every line. Text is made valid UTF-8 (invalid bytes become
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
// MaxParseBytes are not parsed. The flattened values are also stored as one
// JSON value and come back in Hit.Fields.
//
// Bare words and phrases search message (the mapping's default field;
// there is no _all field). Examples: tool:pcap-summary,
// job_id:000000000042, fields.type:dns, +fields.query:www.tcpdump.org,
// tcpdump, "listening on eth0", line:>100, time:>"2024-03-10T00:00:00Z".
// The standard analyzer keeps host names and addresses such as
// www.tcpdump.org or 10.0.0.1 as one token, so the word tcpdump does not
// match www.tcpdump.org; *tcpdump* or /.*tcpdump.*/ does.
//
// # Why this mapping (measured)
//
// Documents are built directly (bleve's IndexAdvanced), not through the
// reflective mapper, so each field gets exactly the options it needs:
// message and file are stored with term positions (phrase queries and
// highlighting need both); string fields.* values are indexed with
// positions but not stored (they come back through the one stored JSON
// value); keywords are not analysed; there is no _all field. Batches are
// committed with scorch's unsafe_batch (a batch returns once searchable;
// the persister writes it out in the background, and Close waits for it),
// by up to min(GOMAXPROCS, 4) concurrent committers.
//
// CPU cost per line, 30,000 generated plugin lines (bench_test.go's mix:
// JSON, Python dicts, tcpdump-style text), batches of 1,000, on the 2-core
// development VM while other builds ran (so ±15%):
//
//	numbers as numeric fields, strings with positions   ~445-480 µs
//	same, string fields.* without positions             ~445 µs (no gain)
//	numbers as exact tokens (the default)               ~295-355 µs
//	  ... and no time/line fields                       ~160-190 µs
//	  ... and no fields.* at all                        ~135 µs
//	"lean": message indexed only, nothing stored,
//	  no positions, no fields.*                         ~225 µs (phrases fail)
//
// Every number in bleve is indexed as 16 prefix-coded terms, which is why
// numeric fields cost most; positions on strings cost little. So the
// default keeps phrases on message and string fields and indexes numbers of
// structured lines as exact tokens; NumericFields buys range queries on
// them for about 40% more CPU. line and time stay numeric and date-time.
// BenchmarkIndexLines reports lines/s and cpu-µs/line (with raw logs, two
// concurrent committers); at a quiet moment on that VM it gave about 8,300
// lines/s and 225 µs per line with the default, 5,300 lines/s and 330-360
// µs with NumericFields. That is short of 20,000 lines/s: the cost is in
// bleve's segment building (about 45%), merging (15%) and GC, per term and
// per field. The index takes about 1.4 KB of disk per line of this mix
// (stored message and fields, positions, 16 terms per number).
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
// "ventapp.index.schema" holds the schema version ("1"); Open refuses an
// index with another version, and any directory that is not empty and not
// such an index, with ErrOpen naming the directory. Changing a field name,
// analyzer or option above means bumping schemaVersion (mapping.go) and
// re-indexing, for which the raw logs are the source.
package index
