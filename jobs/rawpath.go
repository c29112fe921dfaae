package jobs

import (
	"encoding/json"
	"unicode/utf8"
)

// File names on Linux are bytes, not text, but encoding/json replaces
// bytes that are not valid UTF-8. A job or file record whose path is not
// valid UTF-8 therefore also carries the path's bytes (base64 in JSON), and
// decoding restores the exact path from them.

type jobJSON Job

type jobWire struct {
	jobJSON
	FileBytes []byte `json:"file_bytes,omitempty"`
}

// MarshalJSON encodes the job, adding file_bytes when File is not valid
// UTF-8.
func (j Job) MarshalJSON() ([]byte, error) {
	w := jobWire{jobJSON: jobJSON(j)}
	if !utf8.ValidString(j.File) {
		w.FileBytes = []byte(j.File)
	}
	return json.Marshal(w)
}

// UnmarshalJSON decodes a job, restoring File from file_bytes when present.
func (j *Job) UnmarshalJSON(data []byte) error {
	var w jobWire
	if err := json.Unmarshal(data, &w); err != nil {
		return err
	}
	*j = Job(w.jobJSON)
	if w.FileBytes != nil {
		j.File = string(w.FileBytes)
	}
	return nil
}

type recordJSON FileRecord

type recordWire struct {
	recordJSON
	PathBytes []byte `json:"path_bytes,omitempty"`
}

// MarshalJSON encodes the record, adding path_bytes when Path is not
// valid UTF-8.
func (r FileRecord) MarshalJSON() ([]byte, error) {
	w := recordWire{recordJSON: recordJSON(r)}
	if !utf8.ValidString(r.Path) {
		w.PathBytes = []byte(r.Path)
	}
	return json.Marshal(w)
}

// UnmarshalJSON decodes a record, restoring Path from path_bytes when
// present.
func (r *FileRecord) UnmarshalJSON(data []byte) error {
	var w recordWire
	if err := json.Unmarshal(data, &w); err != nil {
		return err
	}
	*r = FileRecord(w.recordJSON)
	if w.PathBytes != nil {
		r.Path = string(w.PathBytes)
	}
	return nil
}
