package tui

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// FuzzHighlight checks that any fragment renders as its text without the
// <mark> tags and without control characters.
func FuzzHighlight(f *testing.F) {
	f.Add("query <mark>example.com</mark> &lt;b&gt;")
	f.Add("<mark></mark><mark>")
	f.Add("a\x1b[31mb</mark>&amp;lt;")
	m := New(nil, Options{NoColor: true})
	f.Fuzz(func(t *testing.T, frag string) {
		got := m.highlight("", []string{frag})
		want := sanitize(unescapeHTML(strings.NewReplacer("<mark>", "", "</mark>", "").Replace(frag)))
		if !strings.Contains(frag, "&") && utf8.ValidString(frag) && got != want {
			t.Fatalf("highlight(%q) = %q, want %q", frag, got, want)
		}
		for _, r := range got {
			if unicode.IsControl(r) {
				t.Fatalf("highlight(%q) keeps control character %U", frag, r)
			}
		}
	})
}
