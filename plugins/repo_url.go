package plugins

import (
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// The environment variables CredentialsFromEnv reads.
const (
	EnvGitUsername = "VENTAPP_GIT_USERNAME"
	EnvGitPassword = "VENTAPP_GIT_PASSWORD"
)

// Credentials are a user name and password (or access token) for a plugin
// repository. They are sent to the repository's host only, never logged,
// never stored and scrubbed from error messages. String and LogValue print
// "***" for a set password, so a stray %v or slog attribute leaks nothing.
type Credentials struct {
	Username string
	Password string
}

// CredentialsFromEnv reads the credentials from VENTAPP_GIT_USERNAME and
// VENTAPP_GIT_PASSWORD. Either may be empty; a token-only host takes the
// token as the password.
func CredentialsFromEnv() Credentials {
	return Credentials{Username: os.Getenv(EnvGitUsername), Password: os.Getenv(EnvGitPassword)}
}

// Empty reports whether neither a user name nor a password is set.
func (c Credentials) Empty() bool { return c.Username == "" && c.Password == "" }

// String returns the user name and "***" in place of the password.
func (c Credentials) String() string {
	if c.Password == "" {
		return c.Username
	}
	return c.Username + ":***"
}

// GoString is String, so %#v hides the password too.
func (c Credentials) GoString() string { return "plugins.Credentials{" + c.String() + "}" }

// LogValue hides the password from slog.
func (c Credentials) LogValue() slog.Value { return slog.StringValue(c.String()) }

// RepoURL is a parsed plugin repository URL.
type RepoURL struct {
	// URL is the URL git fetches from, without any password (an ssh user
	// name stays). Its case is kept: file paths are case-sensitive.
	URL string

	// Scheme is "https", "http", "git", "ssh" or "file". An scp-like
	// "user@host:path" is "ssh"; an absolute path is "file".
	Scheme string

	// Host is the host (with port), empty for file URLs.
	Host string

	// Org and Name are the last two components of the URL path,
	// lower-cased, with ".git" removed from Name. The clone lives in
	// <data dir>/plugins/<Org>/<Name>.
	Org, Name string

	// creds are the user name and password found in the URL.
	creds Credentials

	// path is the URL path.
	path string
}

// repoPart is what Org and Name may hold after lower-casing.
var repoPart = regexp.MustCompile(`^[a-z0-9_.-]+$`)

// scpLike matches git's "[user@]host:path" form.
var scpLike = regexp.MustCompile(`^(?:([^@/:]+)@)?([^@/:]+):(.+)$`)

// ParseRepoURL parses a repository URL: http(s)://, git://, ssh://,
// file://, an scp-like "user@host:org/repo.git" or an absolute path. The
// path needs at least two components, the last two becoming Org and Name;
// they may hold only letters, digits, ".", "_" and "-" and never "..", so
// the clone folder cannot leave <data dir>/plugins. Query strings and
// fragments are refused. Errors wrap ErrRepoURL and never hold the
// password.
func ParseRepoURL(raw string) (RepoURL, error) {
	shown := redactRaw(raw)
	fail := func(format string, args ...any) (RepoURL, error) {
		return RepoURL{}, fmt.Errorf("%w: %s: %s", ErrRepoURL, shown, fmt.Sprintf(format, args...))
	}
	if strings.TrimSpace(raw) != raw || raw == "" {
		return fail("empty or surrounded by spaces")
	}
	if strings.ContainsAny(raw, "\x00\n\r\t\\") {
		return fail("holds a control character or a backslash")
	}

	var (
		r     RepoURL
		upath string
	)
	switch m := scpLike.FindStringSubmatch(raw); {
	case strings.Contains(raw, "://"):
		u, err := url.Parse(raw)
		if err != nil {
			return fail("not a valid URL")
		}
		r.Scheme, r.Host, upath = strings.ToLower(u.Scheme), u.Host, u.Path
		if u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
			return fail("a query or fragment is not allowed")
		}
		if u.User != nil {
			r.creds.Username = u.User.Username()
			r.creds.Password, _ = u.User.Password()
		}
		switch r.Scheme {
		case "http", "https", "git", "ssh":
			if u.Hostname() == "" {
				return fail("no host")
			}
		case "file":
			if u.Host != "" && u.Host != "localhost" {
				return fail("a file URL cannot name a host")
			}
			if r.creds != (Credentials{}) {
				return fail("a file URL cannot hold credentials")
			}
		default:
			return fail("scheme %q is not supported (use https, http, git, ssh or file)", u.Scheme)
		}
		u.User = nil
		if r.Scheme == "ssh" && r.creds.Username != "" {
			u.User = url.User(r.creds.Username)
		}
		r.URL = u.String()

	case strings.HasPrefix(raw, "/"):
		r.Scheme, upath, r.URL = "file", raw, raw

	case m != nil:
		r.Scheme, r.Host, upath, r.URL = "ssh", m[2], m[3], raw
		r.creds.Username = m[1]

	default:
		return fail("not a URL, an scp-like user@host:path or an absolute path")
	}

	var parts []string
	for _, p := range strings.Split(upath, "/") {
		if p != "" {
			parts = append(parts, p)
		}
	}
	r.path = upath
	if len(parts) < 2 {
		return fail("the path needs at least <org>/<repo>")
	}
	r.Org = strings.ToLower(parts[len(parts)-2])
	r.Name = strings.TrimSuffix(strings.ToLower(parts[len(parts)-1]), ".git")
	for _, p := range []string{r.Org, r.Name} {
		if !repoPart.MatchString(p) || strings.Contains(p, "..") || p == "." {
			return fail("%q cannot name a clone folder (letters, digits, '.', '_' and '-' only, "+
				"no '..')", p)
		}
	}
	return r, nil
}

// ID returns "<Org>/<Name>".
func (r RepoURL) ID() string { return r.Org + "/" + r.Name }

// Canonical returns the form vent stored as a tool's repo: the URL without
// credentials, lower-cased, without a trailing "/" or ".git". ssh URLs,
// scp-like ones included, become "ssh://host/path" without the user name.
func (r RepoURL) Canonical() string {
	s := r.URL
	if r.Scheme == "ssh" {
		s = "ssh://" + r.Host + "/" + strings.TrimLeft(r.path, "/")
	}
	s = strings.ToLower(strings.TrimRight(s, "/"))
	return strings.TrimSuffix(s, ".git")
}

// Dir returns the clone folder under dataDir: dataDir/plugins/Org/Name.
func (r RepoURL) Dir(dataDir string) string {
	return filepath.Join(dataDir, "plugins", r.Org, r.Name)
}

// RepoDir returns the clone folder of rawURL under dataDir.
func RepoDir(dataDir, rawURL string) (string, error) {
	r, err := ParseRepoURL(rawURL)
	if err != nil {
		return "", err
	}
	return r.Dir(dataDir), nil
}

// userinfo matches the user information of a URL.
var userinfo = regexp.MustCompile(`(?i)([a-z][a-z0-9+.-]*://)[^/?#\s]*@`)

// redactURL replaces the user information of URLs in s with "***@". It
// is the fallback used when s could not be parsed.
func redactURL(s string) string { return userinfo.ReplaceAllString(s, "${1}***@") }

// redactRaw hides everything between "://" and the last "@" of a URL that
// may not parse, so a password holding "/" or "@" is hidden too.
func redactRaw(raw string) string {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return raw
	}
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		return scheme + "://***@" + rest[at+1:]
	}
	return raw
}

// scrubber removes secrets from text shown to users.
type scrubber []string

// newScrubber collects the password of each set of credentials in every
// form it can take in an URL or error message.
func newScrubber(creds ...Credentials) scrubber {
	var s scrubber
	for _, c := range creds {
		if c.Password == "" {
			continue
		}
		s = append(s, c.Password, url.QueryEscape(c.Password), url.PathEscape(c.Password),
			url.UserPassword(c.Username, c.Password).String())
	}
	return s
}

// text returns msg with user information and every secret replaced.
func (s scrubber) text(msg string) string {
	msg = redactURL(msg)
	for _, secret := range s {
		if secret != "" {
			msg = strings.ReplaceAll(msg, secret, "***")
		}
	}
	return msg
}

// clean reports whether msg holds nothing text would change.
func (s scrubber) clean(msg string) bool { return s.text(msg) == msg }
