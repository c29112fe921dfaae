package plugins

import (
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestParseRepoURL(t *testing.T) {
	cases := []struct {
		raw       string
		url       string
		scheme    string
		id        string
		canonical string
		creds     Credentials
	}{
		{"https://github.com/CyberReboot/vent-plugins", "https://github.com/CyberReboot/vent-plugins",
			"https", "cyberreboot/vent-plugins", "https://github.com/cyberreboot/vent-plugins", Credentials{}},
		{"https://github.com/CyberReboot/vent-plugins.git/", "https://github.com/CyberReboot/vent-plugins.git/",
			"https", "cyberreboot/vent-plugins", "https://github.com/cyberreboot/vent-plugins", Credentials{}},
		{"https://u:p%40ss@git.example.org:8443/a/b/Org/Repo.git", "https://git.example.org:8443/a/b/Org/Repo.git",
			"https", "org/repo", "https://git.example.org:8443/a/b/org/repo", Credentials{"u", "p@ss"}},
		{"HTTP://host/o/r", "http://host/o/r", "http", "o/r", "http://host/o/r", Credentials{}},
		{"git://127.0.0.1:9418/org/tools", "git://127.0.0.1:9418/org/tools", "git", "org/tools",
			"git://127.0.0.1:9418/org/tools", Credentials{}},
		{"ssh://git@github.com:22/org/repo.git", "ssh://git@github.com:22/org/repo.git", "ssh", "org/repo",
			"ssh://github.com:22/org/repo", Credentials{Username: "git"}},
		{"git@github.com:CyberReboot/vent-plugins.git", "git@github.com:CyberReboot/vent-plugins.git", "ssh",
			"cyberreboot/vent-plugins", "ssh://github.com/cyberreboot/vent-plugins", Credentials{Username: "git"}},
		{"file:///srv/git/org/repo_x", "file:///srv/git/org/repo_x", "file", "org/repo_x",
			"file:///srv/git/org/repo_x", Credentials{}},
		{"/srv/git/Org/Repo", "/srv/git/Org/Repo", "file", "org/repo", "/srv/git/org/repo", Credentials{}},
	}
	for _, tc := range cases {
		t.Run(tc.raw, func(t *testing.T) {
			r, err := ParseRepoURL(tc.raw)
			if err != nil {
				t.Fatal(err)
			}
			if r.URL != tc.url || r.Scheme != tc.scheme || r.ID() != tc.id || r.Canonical() != tc.canonical ||
				r.creds != tc.creds {
				t.Errorf("got url %q scheme %q id %q canonical %q creds %v", r.URL, r.Scheme, r.ID(),
					r.Canonical(), r.creds)
			}
		})
	}
}

func TestParseRepoURLRefused(t *testing.T) {
	for _, raw := range []string{
		"", " https://h/o/r", "ftp://h/o/r", "https:///o/r", "https://h/r", "https://h/o/r?x=1",
		"https://h/o/r#frag", "https://h/o/..", "https://h/../r", "https://h/o/%2e%2e", "https://h/o/a..b",
		"https://h/o/.git", "https://h/o/r%00", "https://h/o/r\\x", "file://otherhost/o/r",
		"file://u:p@/o/r", "relative/o/r", "https://h/o/r space", "https://h/o/./", "https://h/o/ä",
		"https://u:p@h/%zz/r",
	} {
		t.Run(raw, func(t *testing.T) {
			r, err := ParseRepoURL(raw)
			if !errors.Is(err, ErrRepoURL) {
				t.Fatalf("ParseRepoURL(%q) = %+v, %v; want ErrRepoURL", raw, r, err)
			}
			if strings.Contains(raw, "u:p@") && strings.Contains(err.Error(), "u:p@") {
				t.Errorf("error shows the credentials: %v", err)
			}
		})
	}
}

func TestScrubber(t *testing.T) {
	s := newScrubber(Credentials{Username: "alice", Password: "p@ss/w rd"})
	for _, msg := range []string{
		"Get \"https://alice:p%40ss%2Fw%20rd@host/x\": refused",
		"auth p@ss/w rd failed",
		"url https://alice:p%40ss%2Fw+rd@host",
		"https://anyone:anything@host/x",
	} {
		got := s.text(msg)
		if strings.Contains(got, "p@ss") || strings.Contains(got, "p%40ss") || strings.Contains(got, "anything") {
			t.Errorf("text(%q) = %q", msg, got)
		}
		if s.clean(msg) {
			t.Errorf("clean(%q) = true", msg)
		}
	}
	if !s.clean("nothing secret here") {
		t.Error("a clean message is reported dirty")
	}
}

func FuzzParseRepoURL(f *testing.F) {
	for _, seed := range []string{
		"https://github.com/CyberReboot/vent-plugins", "git@github.com:o/r.git", "file:///a/b/c",
		"https://u:p@h/o/r.git", "https://h/%2e%2e/x", "/x/y", "ssh://h/o/..", "git://h:1/a/b/",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		r, err := ParseRepoURL(raw)
		if err != nil {
			if !errors.Is(err, ErrRepoURL) {
				t.Fatalf("error %v does not wrap ErrRepoURL", err)
			}
			if u, perr := url.Parse(raw); perr == nil && u.User != nil {
				if p, ok := u.User.Password(); ok && len(p) > 3 && strings.Contains(err.Error(), p) {
					t.Fatalf("error %v holds the password %q", err, p)
				}
			}
			return
		}

		for _, part := range []string{r.Org, r.Name} {
			if part == "" || part == "." || strings.Contains(part, "..") || part != strings.ToLower(part) ||
				strings.ContainsAny(part, "/\\\x00") {
				t.Fatalf("ParseRepoURL(%q) gives the bad part %q", raw, part)
			}
		}
		base := filepath.Join("/data", "plugins")
		if d := r.Dir("/data"); filepath.Dir(filepath.Dir(d)) != base {
			t.Fatalf("ParseRepoURL(%q) clones into %q, outside %s", raw, d, base)
		}
		if u, err := url.Parse(r.URL); err == nil && u.User != nil {
			if _, ok := u.User.Password(); ok {
				t.Fatalf("ParseRepoURL(%q).URL = %q keeps a password", raw, r.URL)
			}
		}
		if strings.HasSuffix(r.Canonical(), ".git") || r.Canonical() != strings.ToLower(r.Canonical()) {
			t.Fatalf("Canonical(%q) = %q", raw, r.Canonical())
		}
		if again, err := ParseRepoURL(r.URL); err != nil || again.ID() != r.ID() {
			t.Fatalf("ParseRepoURL(%q) = %+v, %v; first parse of %q gave %s", r.URL, again, err, raw, r.ID())
		}
	})
}

// itoa formats an int.
func itoa(i int) string { return strconv.Itoa(i) }

// urlEscape escapes s for the user information of a URL.
func urlEscape(s string) string { return url.QueryEscape(s) }

// sprintf is fmt.Sprintf.
func sprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }
