package ops

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"time"
)

// FormatVersion is the archive layout this package writes and the newest
// it reads. Format 1 kept the plugin registry as data/plugins.json; format
// 2 keeps it in its bucket of data/jobs.db, so that an older ventapp, which
// would not see the plugins there, refuses the archive instead of
// restoring it without them.
const FormatVersion = 2

// ManifestName is the archive member that holds the Manifest. It is
// always the last member.
const ManifestName = "MANIFEST.json"

// Member prefixes inside the archive.
const (
	dataPrefix    = "data/"
	configMember  = "config/vent.cfg"
	pluginsPrefix = "plugins/"
)

// Manifest describes one backup archive.
type Manifest struct {
	// Format is the archive layout version (FormatVersion when written).
	Format int `json:"format"`

	// Created is when the backup started, in UTC.
	Created time.Time `json:"created"`

	// Version is the ventapp version that wrote the backup.
	Version string `json:"version"`

	// Hostname is the machine the backup was taken on.
	Hostname string `json:"hostname,omitempty"`

	// JobsSchema is the job store's schema_version in the snapshot; 0 when
	// the store had never been initialised.
	JobsSchema int `json:"jobs_schema"`

	// DataDir and ConfigPath are where the state and config came from.
	DataDir    string `json:"data_dir"`
	ConfigPath string `json:"config_path,omitempty"`

	// IndexMethod is "snapshot" when the index was copied with the live
	// index's online copy, "files" when its files were read as they were,
	// and "none" when there was no index.
	IndexMethod string `json:"index_method"`

	// Plugins lists the installed tools and what restoring them needs.
	Plugins []PluginEntry `json:"plugins,omitempty"`

	// Members lists every other member of the archive.
	Members []Member `json:"members"`
}

// Member is one file in the archive.
type Member struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	Mode   int64  `json:"mode"`
	SHA256 string `json:"sha256"`
}

// PluginEntry is one installed tool as the backup saw it.
type PluginEntry struct {
	// Tool is the plugin's name; Image the image it runs as.
	Tool  string `json:"tool"`
	Image string `json:"image"`

	// Built and Digest say whether an image was built and which.
	Built  bool   `json:"built"`
	Digest string `json:"digest,omitempty"`

	// Dir is the tool's source folder on the backed-up machine.
	Dir string `json:"dir"`

	// Source is the archive prefix holding that folder ("plugins/<n>/"),
	// or "" when the folder could not be read at backup time.
	Source string `json:"source,omitempty"`
}

// Verify reads a whole archive from r and checks it: every member must be
// listed in MANIFEST.json with the same size and SHA-256, every listed
// member must be present, names must be relative paths inside the archive,
// and the gzip stream must end cleanly. It returns the manifest, or an
// error wrapping ErrCorrupt (or ErrFormatTooNew) that names the member.
func Verify(r io.Reader) (Manifest, error) {
	var m Manifest
	err := walkArchive(r, func(hdr *tar.Header, body io.Reader) error {
		if hdr.Name != ManifestName {
			return nil
		}
		if err := json.NewDecoder(body).Decode(&m); err != nil {
			return fmt.Errorf("%w: member %s: %v", ErrCorrupt, ManifestName, err)
		}
		return nil
	}, &m)
	if err != nil {
		return Manifest{}, err
	}
	return m, nil
}

// walkArchive reads every member, hashes it, hands it to visit (which may
// read the body; the rest is hashed after it returns) and finally checks
// the hashes against the manifest that visit or a caller filled into *m.
// The manifest member itself is decoded here when visit leaves m empty.
func walkArchive(r io.Reader, visit func(*tar.Header, io.Reader) error, m *Manifest) error {
	gz, err := gzip.NewReader(r)
	if err != nil {
		return fmt.Errorf("%w: not a gzip stream: %v", ErrCorrupt, err)
	}
	tr := tar.NewReader(gz)

	type seen struct {
		size int64
		sum  string
	}
	got := map[string]seen{}
	last := "(start of archive)"
	manifestSeen := false

	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("%w: after member %s: %v", ErrCorrupt, last, err)
		}
		if manifestSeen {
			return fmt.Errorf("%w: member %s follows %s, which must be last", ErrCorrupt, hdr.Name, ManifestName)
		}
		if err := checkName(hdr); err != nil {
			return err
		}
		if _, dup := got[hdr.Name]; dup {
			return fmt.Errorf("%w: member %s appears twice", ErrCorrupt, hdr.Name)
		}
		last = hdr.Name

		h := sha256.New()
		body := io.TeeReader(tr, h)
		if err := visit(hdr, body); err != nil {
			return err
		}
		if _, err := io.Copy(h, tr); err != nil {
			return fmt.Errorf("%w: member %s is cut short: %v", ErrCorrupt, hdr.Name, err)
		}
		if hdr.Name == ManifestName {
			manifestSeen = true
			continue
		}
		got[hdr.Name] = seen{size: hdr.Size, sum: hex.EncodeToString(h.Sum(nil))}
	}

	// The tar end marker comes before gzip's CRC and length; read to the
	// end so a damaged tail is noticed.
	if _, err := io.Copy(io.Discard, gz); err != nil {
		return fmt.Errorf("%w: after member %s: %v", ErrCorrupt, last, err)
	}
	if !manifestSeen {
		return fmt.Errorf("%w: no %s (the archive is truncated after member %s)", ErrCorrupt, ManifestName, last)
	}
	if m.Format > FormatVersion {
		return fmt.Errorf("%w: format %d, this program reads up to %d", ErrFormatTooNew, m.Format, FormatVersion)
	}
	if m.Format < 1 {
		return fmt.Errorf("%w: %s has no format version", ErrCorrupt, ManifestName)
	}

	listed := map[string]bool{}
	for _, mem := range m.Members {
		listed[mem.Name] = true
		g, ok := got[mem.Name]
		switch {
		case !ok:
			return fmt.Errorf("%w: member %s is listed in %s but missing", ErrCorrupt, mem.Name, ManifestName)
		case g.size != mem.Size:
			return fmt.Errorf("%w: member %s has %d bytes, the manifest says %d", ErrCorrupt, mem.Name, g.size, mem.Size)
		case g.sum != mem.SHA256:
			return fmt.Errorf("%w: member %s: SHA-256 %s, the manifest says %s", ErrCorrupt, mem.Name, g.sum, mem.SHA256)
		}
	}
	for name := range got {
		if !listed[name] {
			return fmt.Errorf("%w: member %s is not listed in %s", ErrCorrupt, name, ManifestName)
		}
	}
	return nil
}

// checkName refuses members that are not plain files or that would land
// outside the folder they are extracted into.
func checkName(hdr *tar.Header) error {
	name := hdr.Name
	if hdr.Typeflag != tar.TypeReg {
		return fmt.Errorf("%w: member %s is not a regular file (type %q)", ErrCorrupt, name, hdr.Typeflag)
	}
	if name == "" || path.IsAbs(name) || path.Clean(name) != name || name == ".." ||
		strings.HasPrefix(name, "../") || strings.Contains(name, "\\") {
		return fmt.Errorf("%w: member name %q is not a clean relative path", ErrCorrupt, name)
	}
	if name == ManifestName {
		return nil
	}
	if !strings.HasPrefix(name, dataPrefix) && name != configMember && !strings.HasPrefix(name, pluginsPrefix) {
		return fmt.Errorf("%w: member %s is outside data/, config/ and plugins/", ErrCorrupt, name)
	}
	return nil
}
