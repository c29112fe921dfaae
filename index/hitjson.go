package index

import (
	"encoding/json"
	"unicode/utf8"
)

// File names on Linux are bytes; JSON strings are UTF-8 and encoding/json
// replaces the bytes that are not. A hit whose file name is not UTF-8
// therefore also carries the name's bytes (file_bytes, base64 in JSON),
// and decoding restores the name from them.

type hitJSON Hit

type hitWire struct {
	hitJSON
	FileBytes []byte `json:"file_bytes,omitempty"`
}

// MarshalJSON encodes the hit, adding file_bytes when File is not valid
// UTF-8.
func (h Hit) MarshalJSON() ([]byte, error) {
	w := hitWire{hitJSON: hitJSON(h)}
	if !utf8.ValidString(h.File) {
		w.FileBytes = []byte(h.File)
	}
	return json.Marshal(w)
}

// UnmarshalJSON decodes a hit, restoring File from file_bytes when present.
func (h *Hit) UnmarshalJSON(data []byte) error {
	var w hitWire
	if err := json.Unmarshal(data, &w); err != nil {
		return err
	}
	*h = Hit(w.hitJSON)
	if w.FileBytes != nil {
		h.File = string(w.FileBytes)
	}
	return nil
}
