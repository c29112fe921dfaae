package plugins

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseTemplateKeepsEverything(t *testing.T) {
	text := "\ufeff# leading comment\r\n" +
		"[info]\r\n" +
		"name = pcap stats\r\n" +
		"groups = pcap\r\n" +
		"\r\n" +
		"; semicolon comment\r\n" +
		"[settings]\r\n" +
		"ext_types = pcap # not a comment\r\n" +
		"empty =\r\n" +
		"[docker]\r\n" +
		"environment = [\"rabbit=true\", 'A=b=c']\r\n" +
		"command = \"quoted stays quoted\"\r\n" +
		"path = C:\\dir\\\r\n" +
		"[custom]\r\n" +
		"x = 1\r\n" +
		"[info]\r\n" +
		"name = renamed\r"

	tpl, err := ParseTemplate("t/vent.template", []byte(text))
	if err != nil {
		t.Fatal(err)
	}

	got, want := tpl.Sections(), []string{"info", "settings", "docker", "custom"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Sections() = %q, want %q", got, want)
	}
	got, want = tpl.Keys("docker"), []string{"environment", "command", "path"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Keys(docker) = %q, want %q", got, want)
	}

	gets := []struct{ section, key, want string }{
		{"info", "name", "renamed"},
		{"settings", "ext_types", "pcap # not a comment"},
		{"settings", "empty", ""},
		{"docker", "environment", `["rabbit=true", 'A=b=c']`},
		{"docker", "command", `"quoted stays quoted"`},
		{"docker", "path", `C:\dir\`},
		{"custom", "x", "1"},
	}
	for _, g := range gets {
		v, ok := tpl.Get(g.section, g.key)
		if !ok || v != g.want {
			t.Errorf("Get(%s, %s) = %q, %v; want %q", g.section, g.key, v, ok, g.want)
		}
	}
	if _, ok := tpl.Get("settings", "missing"); ok {
		t.Error("Get of a missing key reported ok")
	}
	if _, ok := tpl.Get("missing", "x"); ok {
		t.Error("Get of a missing section reported ok")
	}
	if got := tpl.Line("docker", "command"); got != 12 {
		t.Errorf("Line(docker, command) = %d, want 12", got)
	}

	warnings := strings.Join(tpl.Warnings(), "\n")
	for _, want := range []string{
		"t/vent.template:14: section [custom] is not used by ventapp",
		"t/vent.template:16: section [info] already started on line 2",
		"t/vent.template:17: [info] name was already set on line 3",
	} {
		if !strings.Contains(warnings, want) {
			t.Errorf("warnings lack %q; got:\n%s", want, warnings)
		}
	}

	again, err := ParseTemplate("again", []byte(tpl.String()))
	if err != nil {
		t.Fatalf("re-parse of String(): %v\n%s", err, tpl.String())
	}
	if !sameTemplate(tpl, again) {
		t.Errorf("re-parse differs:\n%s\nvs\n%s", tpl, again)
	}
}

func TestParseTemplateSyntaxErrors(t *testing.T) {
	tests := []struct {
		name string
		text string
		line int
		msg  string
	}{
		{"no equals", "[info]\nname = x\nthis line is junk\n", 3, "is not a [section]"},
		{"key before section", "\n\nname = x\n", 3, "before any [section]"},
		{"unclosed section", "[info]\nname = x\n[settings\n", 3, "must end with ']'"},
		{"text after section", "[info] # c\n", 1, "must end with ']'"},
		{"empty section", "[ ]\n", 1, "has no name"},
		{"empty key", "[info]\n = x\n", 2, "no key before"},
		{"quoted key", "[info]\n\"a\" = x\n", 2, "quoted key"},
		{"dash key", "[info]\n- = x\n", 2, "not a valid key"},
		{"triple quote", "[docker]\ncommand = \"\"\"a\nb\"\"\"\n", 2, `may not start with """`},
		{"back-tick", "[docker]\nuser = `id -u`\n", 2, "back-tick"},
		{"bad utf-8", "[info]\nname = \xff\n", 2, "not valid UTF-8"},
		{"cr line end", "[info]\rjunk\r", 2, "is not a [section]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseTemplate("p/vent.template", []byte(tt.text))
			if !errors.Is(err, ErrTemplate) {
				t.Fatalf("err = %v, want ErrTemplate", err)
			}
			var te *TemplateError
			if !errors.As(err, &te) {
				t.Fatalf("err = %T, want *TemplateError", err)
			}
			if te.File != "p/vent.template" || te.Line != tt.line || !strings.Contains(te.Problem, tt.msg) {
				t.Errorf("err = %v, want line %d containing %q", err, tt.line, tt.msg)
			}
		})
	}
}

func TestParseTemplateTooLarge(t *testing.T) {
	data := []byte("[info]\nname = " + strings.Repeat("x", MaxTemplateSize) + "\n")
	if _, err := ParseTemplate("big", data); !errors.Is(err, ErrTemplate) {
		t.Errorf("err = %v, want ErrTemplate", err)
	}
}

func TestTemplateEmptyAndCommentOnly(t *testing.T) {
	for _, text := range []string{"", "\n\n", "# only\n; comments\n"} {
		tpl, err := ParseTemplate("e", []byte(text))
		if err != nil {
			t.Fatalf("%q: %v", text, err)
		}
		if len(tpl.Sections()) != 0 || tpl.String() != "" {
			t.Errorf("%q: got sections %q, text %q", text, tpl.Sections(), tpl.String())
		}
	}
}

// sameTemplate reports whether a and b have the same sections, keys and
// values in the same order.
func sameTemplate(a, b *Template) bool {
	if !reflect.DeepEqual(a.Sections(), b.Sections()) {
		return false
	}
	for _, s := range a.Sections() {
		if !reflect.DeepEqual(a.Keys(s), b.Keys(s)) {
			return false
		}
		for _, k := range a.Keys(s) {
			va, _ := a.Get(s, k)
			vb, _ := b.Get(s, k)
			if va != vb {
				return false
			}
		}
	}
	return true
}

func FuzzParseTemplate(f *testing.F) {
	for _, tc := range realTemplates {
		f.Add([]byte(tc.text))
	}
	f.Add([]byte("[a]\nb = c\n[a]\nb = d\n"))
	f.Add([]byte("[x]]\nk = 'v'\n; c\n# d\n"))
	f.Add([]byte("[docker]\nvolumes = {'/a': {'bind': '/b', 'mode': 'ro'}}\nmem_limit = 1.5g\n" +
		"command = ['a', \"b c\"]\nenvironment = {'K': None}\n[gpu]\nenabled = yes\ndevice = 1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		tpl, err := ParseTemplate("fuzz", data)
		if err != nil {
			if !errors.Is(err, ErrTemplate) {
				t.Fatalf("error %v does not wrap ErrTemplate", err)
			}
			return
		}
		// Deriving settings must not panic either; errors are fine.
		if _, err := ParseSettings(tpl, "fuzz"); err != nil && !errors.Is(err, ErrSetting) {
			t.Fatalf("ParseSettings error %v does not wrap ErrSetting", err)
		}

		again, err := ParseTemplate("fuzz-again", []byte(tpl.String()))
		if err != nil {
			t.Fatalf("re-parse failed: %v\ninput %q\nwritten %q", err, data, tpl.String())
		}
		if !sameTemplate(tpl, again) {
			t.Fatalf("re-parse differs\ninput %q\nwritten %q\nagain %q", data, tpl.String(), again.String())
		}
	})
}

func BenchmarkParseTemplateAndSettings(b *testing.B) {
	data := []byte(realTemplate(b, "rq_worker"))
	b.ReportAllocs()
	for b.Loop() {
		tpl, err := ParseTemplate("rq_worker/vent.template", data)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := ParseSettings(tpl, "rq_worker"); err != nil {
			b.Fatal(err)
		}
	}
}
