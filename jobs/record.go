package jobs

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"
)

// Records in the job and file buckets are stored in a compact binary form
// since schema version 2. Version 1 stored JSON; a JSON record always
// starts with '{', a binary one with recordBinary, so the decoders read
// both and a store that is being migrated may hold a mix.
//
// A binary job record is, in order:
//
//	0x01                       recordBinary
//	uvarint flags              which optional fields follow (flag* bits)
//	string  ID, File, FileSHA256
//	varint  FileSize
//	string  Tool
//	byte    State, its index in allStates
//	uvarint Attempts
//	time    CreatedAt, StartedAt, FinishedAt, NotBefore, each when flagged
//	varint  ExitCode when flagged
//	string  Reason
//	uvarint number of LogTail lines, then each line as a string
//	string  Container
//
// A binary file record is 0x01, then Path (string), Size (varint), SHA256
// (string), ModTime and SeenAt (time). A string is a uvarint length and
// the bytes; a time is a varint of Unix seconds and a uvarint of
// nanoseconds, read back in UTC (the store writes only UTC times).
const recordBinary = 0x01

// Bits of a binary job record's flags.
const (
	flagStarted = 1 << iota
	flagFinished
	flagNotBefore
	flagExitCode
	flagCreated
	flagAll = flagStarted | flagFinished | flagNotBefore | flagExitCode | flagCreated
)

// errRecord is the cause in errors for a binary record that does not parse.
var errRecord = errors.New("malformed binary record")

// encodeJob appends j's binary record to buf.
func encodeJob(buf []byte, j *Job) []byte {
	var flags uint64
	for _, f := range []struct {
		set  bool
		flag uint64
	}{
		{!j.StartedAt.IsZero(), flagStarted},
		{!j.FinishedAt.IsZero(), flagFinished},
		{!j.NotBefore.IsZero(), flagNotBefore},
		{j.ExitCode != nil, flagExitCode},
		{!j.CreatedAt.IsZero(), flagCreated},
	} {
		if f.set {
			flags |= f.flag
		}
	}

	buf = append(buf, recordBinary)
	buf = binary.AppendUvarint(buf, flags)
	buf = appendString(buf, j.ID)
	buf = appendString(buf, j.File)
	buf = appendString(buf, j.FileSHA256)
	buf = binary.AppendVarint(buf, j.FileSize)
	buf = appendString(buf, j.Tool)
	buf = append(buf, byte(j.State.index()))
	buf = binary.AppendUvarint(buf, uint64(j.Attempts))

	for _, tm := range []struct {
		t    time.Time
		flag uint64
	}{
		{j.CreatedAt, flagCreated},
		{j.StartedAt, flagStarted},
		{j.FinishedAt, flagFinished},
		{j.NotBefore, flagNotBefore},
	} {
		if flags&tm.flag != 0 {
			buf = appendTime(buf, tm.t)
		}
	}
	if j.ExitCode != nil {
		buf = binary.AppendVarint(buf, int64(*j.ExitCode))
	}

	buf = appendString(buf, j.Reason)
	buf = binary.AppendUvarint(buf, uint64(len(j.LogTail)))
	for _, line := range j.LogTail {
		buf = appendString(buf, line)
	}
	return appendString(buf, j.Container)
}

// jobSize is about the length of j's binary record, so that encodeJob
// allocates once.
func jobSize(j *Job) int {
	n := 64 + len(j.ID) + len(j.File) + len(j.FileSHA256) + len(j.Tool) + len(j.Reason) + len(j.Container)
	for _, line := range j.LogTail {
		n += len(line) + binary.MaxVarintLen32
	}
	return n
}

// parseJob decodes a job record in either format.
func parseJob(raw []byte) (Job, error) {
	var j Job
	if len(raw) > 0 && raw[0] == '{' {
		err := json.Unmarshal(raw, &j)
		return j, err
	}

	r := reader{buf: raw}
	if r.byte() != recordBinary {
		return Job{}, fmt.Errorf("%w: unknown record format", errRecord)
	}
	flags := r.uvarint()
	if flags&^flagAll != 0 {
		return Job{}, fmt.Errorf("%w: unknown flags %#x", errRecord, flags)
	}
	j.ID = r.string()
	j.File = r.string()
	j.FileSHA256 = r.string()
	j.FileSize = r.varint()
	j.Tool = r.string()
	if st := int(r.byte()); st < len(allStates) {
		j.State = allStates[st]
	} else {
		r.fail("state %d", st)
	}
	if a := r.uvarint(); a <= math.MaxInt32 {
		j.Attempts = int(a)
	} else {
		r.fail("attempts %d", a)
	}

	for _, tm := range []struct {
		t    *time.Time
		flag uint64
	}{
		{&j.CreatedAt, flagCreated},
		{&j.StartedAt, flagStarted},
		{&j.FinishedAt, flagFinished},
		{&j.NotBefore, flagNotBefore},
	} {
		if flags&tm.flag != 0 {
			*tm.t = r.time()
		}
	}
	if flags&flagExitCode != 0 {
		code := int(r.varint())
		j.ExitCode = &code
	}

	j.Reason = r.string()
	if n := r.uvarint(); n <= uint64(len(r.buf)) {
		if n > 0 {
			j.LogTail = make([]string, n)
		}
		for i := range j.LogTail {
			j.LogTail[i] = r.string()
		}
	} else {
		r.fail("%d log lines", n)
	}
	j.Container = r.string()
	return j, r.done()
}

// encodeFile appends rec's binary record to buf.
func encodeFile(buf []byte, rec *FileRecord) []byte {
	buf = append(buf, recordBinary)
	buf = appendString(buf, rec.Path)
	buf = binary.AppendVarint(buf, rec.Size)
	buf = appendString(buf, rec.SHA256)
	buf = appendTime(buf, rec.ModTime)
	return appendTime(buf, rec.SeenAt)
}

// parseFile decodes a file record in either format.
func parseFile(raw []byte) (FileRecord, error) {
	var rec FileRecord
	if len(raw) > 0 && raw[0] == '{' {
		err := json.Unmarshal(raw, &rec)
		return rec, err
	}

	r := reader{buf: raw}
	if r.byte() != recordBinary {
		return FileRecord{}, fmt.Errorf("%w: unknown record format", errRecord)
	}
	rec.Path = r.string()
	rec.Size = r.varint()
	rec.SHA256 = r.string()
	rec.ModTime = r.time()
	rec.SeenAt = r.time()
	return rec, r.done()
}

func appendString(buf []byte, s string) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(s)))
	return append(buf, s...)
}

// appendTime writes tm as Unix seconds and nanoseconds. The zero time
// round-trips too, since it has its own seconds value.
func appendTime(buf []byte, tm time.Time) []byte {
	buf = binary.AppendVarint(buf, tm.Unix())
	return binary.AppendUvarint(buf, uint64(tm.Nanosecond()))
}

// reader takes values off the front of a binary record. The first problem
// sticks: later reads return zero values and done reports it.
type reader struct {
	buf []byte
	err error
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s at %d bytes from the end", errRecord, fmt.Sprintf(format, args...), len(r.buf))
	}
	r.buf = nil
}

func (r *reader) byte() byte {
	if len(r.buf) == 0 {
		r.fail("record ends early")
		return 0
	}
	b := r.buf[0]
	r.buf = r.buf[1:]
	return b
}

func (r *reader) uvarint() uint64 {
	v, n := binary.Uvarint(r.buf)
	if n <= 0 {
		r.fail("bad unsigned number")
		return 0
	}
	r.buf = r.buf[n:]
	return v
}

func (r *reader) varint() int64 {
	v, n := binary.Varint(r.buf)
	if n <= 0 {
		r.fail("bad number")
		return 0
	}
	r.buf = r.buf[n:]
	return v
}

func (r *reader) string() string {
	n := r.uvarint()
	if n > uint64(len(r.buf)) {
		r.fail("string of %d bytes", n)
		return ""
	}
	s := string(r.buf[:n])
	r.buf = r.buf[n:]
	return s
}

// time reads a time written by appendTime. Unix second 0 with no
// nanoseconds is a real instant, so the zero time is recognised by its
// own seconds value instead.
func (r *reader) time() time.Time {
	sec := r.varint()
	nsec := r.uvarint()
	if nsec >= 1e9 {
		r.fail("nanoseconds %d", nsec)
		return time.Time{}
	}
	if sec == zeroUnix && nsec == 0 {
		return time.Time{}
	}
	return time.Unix(sec, int64(nsec)).UTC()
}

// zeroUnix is time.Time{}.Unix(), the seconds appendTime writes for the
// zero time.
var zeroUnix = time.Time{}.Unix()

// done reports the first problem, or bytes left over after the record.
func (r *reader) done() error {
	if r.err == nil && len(r.buf) > 0 {
		return fmt.Errorf("%w: %d bytes after the record", errRecord, len(r.buf))
	}
	return r.err
}
