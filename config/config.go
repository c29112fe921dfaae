// Package config reads ventapp's configuration file, vent.cfg.
//
// The file is INI, read with gopkg.in/ini.v1. It keeps the keys of vent's
// own vent.cfg ([main] files is the drop folder) and adds sections for
// ventapp (containerd, jobs, drop, api, index). Defaults are embedded in the
// binary (default.cfg), so no file is needed to start. Keys the program does
// not know are kept and reported as warnings, never treated as errors.
package config

import (
	_ "embed"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"gopkg.in/ini.v1"
)

//go:embed default.cfg
var defaultFile []byte

// Default paths used by the packaged install.
const (
	SystemConfigPath = "/etc/ventapp/vent.cfg"
	SystemDataDir    = "/var/lib/ventapp"
	ConfigFileName   = "vent.cfg"
)

// Errors returned by Load.
var (
	// ErrSyntax means the file is not valid INI.
	ErrSyntax = errors.New("config syntax error")

	// ErrValue means a known key has a value of the wrong kind.
	ErrValue = errors.New("bad config value")
)

// Config is the resolved configuration of one ventapp instance.
type Config struct {
	// Path is the file that was read, or "" when only defaults apply.
	Path string

	// Files is the drop folder ([main] files).
	Files string

	// ServicesURI replaces 0.0.0.0 in shown service addresses ([main] services_uri).
	ServicesURI string

	// DataDir holds the job database, index, logs and plugin sources.
	DataDir string

	// LogLevel is debug, info, warn or error.
	LogLevel string

	// ContainerdAddress is the containerd gRPC socket.
	ContainerdAddress string

	// ContainerdNamespace is the containerd namespace ventapp owns.
	ContainerdNamespace string

	// ContainerdFIFODir is where task stdio FIFOs go; "" keeps
	// containerd's default (/run/containerd/fifo).
	ContainerdFIFODir string

	// Workers is the number of plugin containers that may run at once.
	Workers int

	// JobTimeout kills a plugin container that runs longer.
	JobTimeout time.Duration

	// MaxAttempts bounds retries after infrastructure failures.
	MaxAttempts int

	// RetryBackoff is the first retry delay; it doubles per attempt.
	RetryBackoff time.Duration

	// ShutdownGrace is how long running jobs may go on after a stop is
	// asked for before they are killed and re-queued.
	ShutdownGrace time.Duration

	// QuietPeriod is how long a file written in place must be still.
	QuietPeriod time.Duration

	// RescanInterval is the period of the full drop-folder rescan.
	RescanInterval time.Duration

	// Socket is the absolute path of the API's Unix socket.
	Socket string

	// IndexBatchSize and IndexFlushInterval control index commits.
	IndexBatchSize     int
	IndexFlushInterval time.Duration

	// IndexNumericFields indexes numbers in plugin output as numbers, so
	// range queries (fields.bytes:>1000) work, at about 40% more CPU per
	// line; off, numbers are exact-match terms.
	IndexNumericFields bool

	// MaxLinesPerJob caps the output lines of one job that are indexed and
	// logged; the rest are counted and reported, so a runaway plugin cannot
	// fill the disk.
	MaxLinesPerJob int

	// VentTapAPI is the TCP address of the listener that answers vent's
	// network_tap (ncontrol) routes; "" keeps it off.
	VentTapAPI string

	// TapNetns is the network namespace (a path such as /run/netns/sensor)
	// whose NICs taps capture and list; "" means the daemon's own.
	TapNetns string

	// WebListen is the TCP address of the optional web/API listener; ""
	// keeps it off. It requires the token in WebTokenFile.
	WebListen    string
	WebTokenFile string
	WebTLSCert   string
	WebTLSKey    string

	// WebMaxUpload bounds one file uploaded through the drop form, in bytes.
	WebMaxUpload int64

	// GPUCountForeignMemory subtracts memory that processes outside ventapp
	// use from a device's capacity ([gpu] count_foreign_memory).
	GPUCountForeignMemory bool

	// GPUMaxWait fails a GPU job that waited this long for a device.
	GPUMaxWait time.Duration

	// GPUStarveAfter is how long a GPU job may be passed over by smaller
	// jobs before a device is held for it.
	GPUStarveAfter time.Duration

	// UseExistingImages skips building when the image already exists.
	UseExistingImages bool

	// Warnings lists keys and sections that were kept but not understood.
	Warnings []string

	// Ignored names the lines LoadLenient ignored for syntax errors (they
	// are in Warnings too); Load fails on them instead.
	Ignored []string

	// File is the merged INI document: defaults overlaid with the file.
	// Sections ventapp does not read ([network-mapping], …) stay here.
	File *ini.File
}

// known lists every section and key ventapp understands, plus vent's own
// sections that are accepted without a warning even where ventapp does not
// act on them.
var known = map[string][]string{
	"main":                 {"files", "services_uri", "startup_file", "plugin_config_file"},
	"ventapp":              {"data_dir", "log_level"},
	"containerd":           {"address", "namespace", "fifo_dir"},
	"jobs":                 {"workers", "timeout", "max_attempts", "retry_backoff", "shutdown_grace"},
	"drop":                 {"quiet_period", "rescan_interval"},
	"api":                  {"socket"},
	"index":                {"batch_size", "flush_interval", "max_lines_per_job", "numeric_fields"},
	"build-options":        {"use_existing_images"},
	"taps":                 {"vent_api", "netns"},
	"web":                  {"listen", "token_file", "tls_cert", "tls_key", "max_upload_mb"},
	"network-mapping":      nil, // any key: vent's NIC names
	"nvidia-docker-plugin": {"port", "host"},
	"gpu":                  {"count_foreign_memory", "max_wait", "starve_after"},
	"external-services":    nil,
	"groups":               {"start_order"},
}

// Locate returns the config file and data dir to use, following the same
// rules for the daemon and for client commands so both find one socket:
//
//   - an explicit configPath wins; it must exist;
//   - else dataDir/vent.cfg when dataDir is given and that file exists;
//   - else SystemConfigPath when no dataDir was given and it exists;
//   - else no file (embedded defaults).
//
// The data dir is dataDir when given, else whatever the config says.
func Locate(configPath, dataDir string) (string, error) {
	if configPath != "" {
		if _, err := os.Stat(configPath); err != nil {
			return "", fmt.Errorf("config file %s: %w", configPath, err)
		}
		return configPath, nil
	}
	if dataDir != "" {
		p := filepath.Join(dataDir, ConfigFileName)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		return "", nil
	}
	if _, err := os.Stat(SystemConfigPath); err == nil {
		return SystemConfigPath, nil
	}
	return "", nil
}

// Load reads the config at path (or only the defaults when path is "") and
// applies dataDir when it is not empty. Relative paths in the file are
// taken relative to the file's folder.
func Load(path, dataDir string) (*Config, error) {
	return load(path, dataDir, false)
}

// LoadLenient is Load for client commands, which only need to find the
// daemon: a key with a bad value, and a line with a syntax error, are
// reported in Warnings instead of failing (see neutralise), so an operator
// can still reach a daemon whose config file was edited wrongly since it
// started.
func LoadLenient(path, dataDir string) (*Config, error) {
	return load(path, dataDir, true)
}

func load(path, dataDir string, lenient bool) (*Config, error) {
	f, err := ini.LoadSources(ini.LoadOptions{AllowBooleanKeys: false}, defaultFile)
	if err != nil {
		return nil, fmt.Errorf("embedded defaults: %w", err)
	}

	var user *ini.File
	var syntaxWarns []string
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("config file %s: %w", path, err)
		}
		if err := checkSyntax(path, data); err != nil {
			if !lenient {
				return nil, err
			}
			data, syntaxWarns = neutralise(path, data)
		}
		user, err = ini.LoadSources(ini.LoadOptions{}, data)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrSyntax, path, err)
		}
		overlay(f, user)
	}

	c := &Config{Path: path, File: f, Ignored: syntaxWarns, Warnings: syntaxWarns}
	if user != nil {
		c.Warnings = append(c.Warnings, unknownKeys(path, user)...)
	}
	if err := c.fill(dataDir); err != nil {
		if !lenient || !errors.Is(err, ErrValue) {
			return nil, err
		}
		c.Warnings = append(c.Warnings, err.Error())
	}
	return c, nil
}

// checkSyntax reports the first line that is not a section header, a
// key/value pair, a comment or blank, naming the file and line.
func checkSyntax(path string, data []byte) error {
	for i, line := range strings.Split(string(data), "\n") {
		switch s := strings.TrimSpace(line); lineSyntax(s) {
		case badHeader:
			return fmt.Errorf("%w: %s:%d: malformed section header %q", ErrSyntax, path, i+1, s)
		case notKeyValue:
			return fmt.Errorf("%w: %s:%d: expected key = value, got %q", ErrSyntax, path, i+1, s)
		}
	}
	return nil
}

// Kinds of config lines, as lineSyntax sorts them.
const (
	lineOK = iota
	badHeader
	notKeyValue
)

// lineSyntax sorts one trimmed config line: blank, a comment, a section
// header or a key are lineOK.
func lineSyntax(s string) int {
	switch {
	case s == "", s[0] == '#', s[0] == ';':
	case s[0] == '[':
		if !strings.HasSuffix(s, "]") || len(s) < 3 {
			return badHeader
		}
	case !strings.ContainsAny(s, "=:"):
		return notKeyValue
	}
	return lineOK
}

// neutralise makes a file with syntax errors readable for LoadLenient: a
// line that is not a key, comment or section becomes a comment, and a
// malformed section header becomes a section of its own that ventapp does
// not read, so the keys under it go nowhere. It returns the new text and a
// warning for each line changed.
func neutralise(path string, data []byte) ([]byte, []string) {
	lines := strings.Split(string(data), "\n")
	var warns []string
	for i, line := range lines {
		switch s := strings.TrimSpace(line); lineSyntax(s) {
		case badHeader:
			lines[i] = fmt.Sprintf("[ventapp-ignored-line-%d]", i+1)
			warns = append(warns, fmt.Sprintf("%s:%d: malformed section header %q: "+
				"it and its keys are ignored", path, i+1, s))
		case notKeyValue:
			lines[i] = "# " + line
			warns = append(warns, fmt.Sprintf("%s:%d: not key = value, ignored: %q", path, i+1, s))
		}
	}
	return []byte(strings.Join(lines, "\n")), warns
}

// overlay copies every key of src into dst, creating sections as needed.
func overlay(dst, src *ini.File) {
	for _, s := range src.Sections() {
		ds := dst.Section(s.Name())
		for _, k := range s.Keys() {
			ds.Key(k.Name()).SetValue(k.Value())
		}
	}
}

func unknownKeys(path string, f *ini.File) []string {
	var warns []string
	for _, s := range f.Sections() {
		name := s.Name()
		if name == ini.DefaultSection {
			for _, k := range s.Keys() {
				warns = append(warns, fmt.Sprintf("%s: key %q outside any section is ignored", path, k.Name()))
			}
			continue
		}
		keys, ok := known[name]
		if !ok {
			warns = append(warns, fmt.Sprintf("%s: unknown section [%s] kept but not used", path, name))
			continue
		}
		if keys == nil {
			continue
		}
		for _, k := range s.Keys() {
			if !contains(keys, k.Name()) {
				warns = append(warns, fmt.Sprintf("%s: unknown key %q in [%s] kept but not used", path, k.Name(), name))
			}
		}
	}
	return warns
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (c *Config) fill(dataDir string) error {
	var errs []error
	str := func(sec, key string) string {
		return strings.TrimSpace(c.File.Section(sec).Key(key).String())
	}
	num := func(sec, key string, min int) int {
		v := str(sec, key)
		n, err := strconv.Atoi(v)
		if err != nil || n < min {
			errs = append(errs, fmt.Errorf("%w: [%s] %s = %q: want a whole number >= %d", ErrValue, sec, key, v, min))
		}
		return n
	}
	dur := func(sec, key string) time.Duration {
		v := str(sec, key)
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			errs = append(errs, fmt.Errorf("%w: [%s] %s = %q: want a positive duration such as 30s or 5m", ErrValue, sec, key, v))
		}
		return d
	}
	yes := func(sec, key string) bool {
		v := strings.ToLower(str(sec, key))
		switch v {
		case "yes", "true", "on", "1":
			return true
		case "no", "false", "off", "0", "":
			return false
		}
		errs = append(errs, fmt.Errorf("%w: [%s] %s = %q: want yes or no", ErrValue, sec, key, v))
		return false
	}

	c.Files = c.abs(expandHome(str("main", "files")))
	c.ServicesURI = str("main", "services_uri")
	c.DataDir = c.abs(expandHome(str("ventapp", "data_dir")))
	if dataDir != "" {
		d, err := filepath.Abs(dataDir)
		if err != nil {
			errs = append(errs, fmt.Errorf("data dir %s: %w", dataDir, err))
		}
		c.DataDir = d
	}
	c.LogLevel = strings.ToLower(str("ventapp", "log_level"))
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("%w: [ventapp] log_level = %q: want debug, info, warn or error", ErrValue, c.LogLevel))
	}
	c.ContainerdAddress = str("containerd", "address")
	c.ContainerdNamespace = str("containerd", "namespace")
	c.ContainerdFIFODir = c.abs(str("containerd", "fifo_dir"))
	if c.ContainerdNamespace == "" {
		errs = append(errs, fmt.Errorf("%w: [containerd] namespace is empty", ErrValue))
	}
	c.Workers = num("jobs", "workers", 1)
	c.JobTimeout = dur("jobs", "timeout")
	c.MaxAttempts = num("jobs", "max_attempts", 1)
	c.RetryBackoff = dur("jobs", "retry_backoff")
	c.ShutdownGrace = dur("jobs", "shutdown_grace")
	c.QuietPeriod = dur("drop", "quiet_period")
	c.RescanInterval = dur("drop", "rescan_interval")
	c.IndexBatchSize = num("index", "batch_size", 1)
	c.IndexFlushInterval = dur("index", "flush_interval")
	c.MaxLinesPerJob = num("index", "max_lines_per_job", 1)
	c.IndexNumericFields = yes("index", "numeric_fields")
	c.UseExistingImages = yes("build-options", "use_existing_images")
	c.VentTapAPI = str("taps", "vent_api")
	if ns := str("taps", "netns"); ns != "" {
		if !strings.Contains(ns, "/") {
			ns = "/run/netns/" + ns
		}
		if !filepath.IsAbs(ns) || strings.Contains(ns, "..") {
			errs = append(errs, fmt.Errorf("%w: [taps] netns = %q: want a name under /run/netns or an absolute path",
				ErrValue, ns))
		}
		c.TapNetns = ns
	}
	c.GPUCountForeignMemory = yes("gpu", "count_foreign_memory")
	c.GPUMaxWait = dur("gpu", "max_wait")
	c.GPUStarveAfter = dur("gpu", "starve_after")
	c.WebListen = str("web", "listen")
	c.WebTokenFile = c.abs(str("web", "token_file"))
	c.WebTLSCert = c.abs(str("web", "tls_cert"))
	c.WebTLSKey = c.abs(str("web", "tls_key"))
	c.WebMaxUpload = int64(num("web", "max_upload_mb", 1)) << 20
	if c.WebListen != "" && c.WebTokenFile == "" {
		errs = append(errs, fmt.Errorf("%w: [web] listen is set but token_file is empty: the TCP listener needs a token", ErrValue))
	}
	if (c.WebTLSCert == "") != (c.WebTLSKey == "") {
		errs = append(errs, fmt.Errorf("%w: [web] tls_cert and tls_key go together", ErrValue))
	}

	sock := str("api", "socket")
	if sock == "" {
		sock = "ventapp.sock"
	}
	if !filepath.IsAbs(sock) {
		sock = filepath.Join(c.DataDir, sock)
	}
	c.Socket = sock

	if c.Files == "" {
		errs = append(errs, fmt.Errorf("%w: [main] files (the drop folder) is empty", ErrValue))
	}
	if err := errors.Join(errs...); err != nil {
		if c.Path != "" {
			return fmt.Errorf("config file %s: %w", c.Path, err)
		}
		return err
	}
	return nil
}

// abs makes p absolute, relative to the config file's folder when there is
// one and to the working directory otherwise.
func (c *Config) abs(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	if c.Path != "" {
		return filepath.Join(filepath.Dir(absOr(c.Path)), p)
	}
	return absOr(p)
}

func absOr(p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	return a
}

func expandHome(p string) string {
	if p == "~" || strings.HasPrefix(p, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, strings.TrimPrefix(p, "~"))
		}
	}
	return p
}

// Default returns the embedded defaults as a file's text.
func Default() string { return string(defaultFile) }

// Paths inside the data dir.

// JobsDB is the bbolt file of the job queue.
func (c *Config) JobsDB() string { return filepath.Join(c.DataDir, "jobs.db") }

// IndexDir is the bleve index folder.
func (c *Config) IndexDir() string { return filepath.Join(c.DataDir, "index") }

// LogDir is the root of the raw plugin logs (YYYY/MM/DD/<container>.log).
func (c *Config) LogDir() string { return filepath.Join(c.DataDir, "logs") }

// PluginsFile is where versions before the registry moved into the job
// store's bbolt file (JobsDB) kept the plugin registry as JSON. The engine
// imports it once, when the store has no registry yet, and renames it to
// plugins.json.migrated.
func (c *Config) PluginsFile() string { return filepath.Join(c.DataDir, "plugins.json") }

// StatusFile is vent's status.json, one JSON object per finished job.
func (c *Config) StatusFile() string { return filepath.Join(c.DataDir, "status.json") }

// ManifestFile is vent's plugin_manifest.cfg, rewritten on plugin changes.
func (c *Config) ManifestFile() string { return filepath.Join(c.DataDir, "plugin_manifest.cfg") }
