package pylit

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
)

func TestParseValues(t *testing.T) {
	tests := []struct {
		in   string
		want any
	}{
		// Scalars.
		{"0", int64(0)},
		{"00", int64(0)},
		{"42", int64(42)},
		{"-42", int64(-42)},
		{"+7", int64(7)},
		{"- 3", int64(-3)},
		{"1_000_000", int64(1000000)},
		{"0x1F", int64(31)},
		{"-0xff", int64(-255)},
		{"0x_ff", int64(255)},
		{"0o17", int64(15)},
		{"0b101", int64(5)},
		{"9223372036854775807", int64(math.MaxInt64)},
		{"-9223372036854775808", int64(math.MinInt64)},
		{"1.5", 1.5},
		{".5", 0.5},
		{"1.", 1.0},
		{"-2.5e-3", -0.0025},
		{"1e3", 1000.0},
		{"1_0.2_5", 10.25},
		{"True", true},
		{"False", false},
		{"None", nil},

		// Strings.
		{`'abc'`, "abc"},
		{`"abc"`, "abc"},
		{`'it\'s'`, "it's"},
		{`"say \"hi\""`, `say "hi"`},
		{`'a\tb\nc\\d'`, "a\tb\nc\\d"},
		{`'\x41\101\u00e9\U0001F600'`, "AAé😀"},
		{`'\q'`, `\q`},
		{`'line\
next'`, "linenext"},
		{`r'C:\temp\new'`, `C:\temp\new`},
		{`R"a\"b"`, `a\"b`},
		{`u'unicode'`, "unicode"},
		{`b'bytes\x00\xff'`, "bytes\x00\xff"},
		{`rb'\d+'`, `\d+`},
		{`BR'\d'`, `\d`},
		{`'''triple 'quoted'
text'''`, "triple 'quoted'\ntext"},
		{`"""a""b"""`, `a""b`},
		{`'a' "b" '''c'''`, "abc"},
		{"'a'\n  'b'", "ab"},
		{`'héllo'`, "héllo"},
		{`''`, ""},

		// Containers.
		{"[]", []any{}},
		{"[1, 'a', None,]", []any{int64(1), "a", nil}},
		{"()", []any{}},
		{"(1,)", []any{int64(1)}},
		{"(1)", int64(1)},
		{"((('x')))", "x"},
		{"(1, 2)", []any{int64(1), int64(2)}},
		{"1, 'a'", []any{int64(1), "a"}},
		{"None,", []any{nil}},
		{"'a\\\r\nb'", "ab"},
		{"{1, 2, 1}", []any{int64(1), int64(2), int64(1)}},
		{"{}", map[string]any{}},
		{"{'a': 1, 'b': [2, 3], 'c': {'d': None},}", map[string]any{
			"a": int64(1), "b": []any{int64(2), int64(3)}, "c": map[string]any{"d": nil},
		}},
		{"{1: 'one', 2.5: 'x', True: 't', None: 'n', False: 'f'}", map[string]any{
			"1": "one", "2.5": "x", "True": "t", "None": "n", "False": "f",
		}},
		{"{'k': 1, 'k': 2}", map[string]any{"k": int64(2)}},
		{"[\n  1,  # first\n  2\n]", []any{int64(1), int64(2)}},
		{"  {'x': 1}  # trailing comment\n", map[string]any{"x": int64(1)}},

		// Shapes seen in vent templates and plugin output.
		{`{'ip': '1.2.3.4', 'os': {'name': 'Linux'}}`, map[string]any{
			"ip": "1.2.3.4", "os": map[string]any{"name": "Linux"},
		}},
		{`["rabbit=true", "PYTHONUNBUFFERED=0"]`, []any{"rabbit=true", "PYTHONUNBUFFERED=0"}},
		{`{'/opt/redis': {'bind': '/data', 'mode': 'rw'}}`, map[string]any{
			"/opt/redis": map[string]any{"bind": "/data", "mode": "rw"},
		}},
		{`{'9200/tcp': ('0.0.0.0', None)}`, map[string]any{"9200/tcp": []any{"0.0.0.0", nil}}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := Parse(tt.in)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Parse(%q) = %#v, want %#v", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		in     string
		offset int
		msg    string
	}{
		{"", 0, "empty input"},
		{"   # only a comment", 19, "empty input"},
		{"host", 0, `name "host" is not a literal`},
		{"python3 run.py", 0, `name "python3"`},
		{"[1, 2", 5, "unexpected end of input"},
		{"[1 2]", 3, "',' was expected"},
		{"{'a' 1}", 5, "was expected"},
		{"{'a': 1, 2}", 10, "':' was expected"},
		{"{[1]: 2}", 1, "cannot be a dict key"},
		{"'abc", 0, "not terminated"},
		{"'a\nb'", 2, "newline inside"},
		{`'\x4'`, 1, "truncated escape"},
		{`'\N{DASH}'`, 1, `\N{...}`},
		{`b'é'`, 2, "only ASCII"},
		{`b'\400'`, 2, "does not fit in a byte"},
		{`f'x'`, 0, "f-strings"},
		{`q'x'`, 0, "unknown string prefix"},
		{`'a' b'b'`, 4, "cannot join str and bytes"},
		{"007", 0, "leading zeros"},
		{"1__0", 0, "invalid number"},
		{"1_", 0, "invalid number"},
		{"0x", 0, "invalid number"},
		{"0xg", 0, "invalid number"},
		{"12abc", 0, "invalid number"},
		{"1e", 0, "exponent has no digits"},
		{"1.2.3", 0, "invalid number"},
		{"1j", 0, "complex"},
		{"9223372036854775808", 0, "does not fit in 64 bits"},
		{"0x10000000000000000", 0, "does not fit in 64 bits"},
		{"1e999", 0, "out of range"},
		{"--1", 1, "a sign must be followed by a number"},
		{"-(1)", 1, "a sign must be followed by a number"},
		{"1 2", 2, "after the literal"},
		{"1, 2 3", 5, "after the literal"},
		{"1,,", 2, "a value was expected"},
		{"[1] x", 4, "after the literal"},
		{"...", 0, "a value was expected"},
		{"'\\", 1, "ends with a backslash"},
		{"r'\\'", 0, "not terminated"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			_, err := Parse(tt.in)
			if err == nil {
				t.Fatalf("Parse(%q) succeeded, want error containing %q", tt.in, tt.msg)
			}
			if !errors.Is(err, ErrSyntax) {
				t.Errorf("error %v does not wrap ErrSyntax", err)
			}
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("error %v is not a *SyntaxError", err)
			}
			if se.Offset != tt.offset || !strings.Contains(se.Msg, tt.msg) {
				t.Errorf("Parse(%q) error = offset %d %q, want offset %d containing %q",
					tt.in, se.Offset, se.Msg, tt.offset, tt.msg)
			}
		})
	}
}

func TestParseDepthLimit(t *testing.T) {
	ok := strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth)
	if _, err := Parse(ok); err != nil {
		t.Fatalf("%d levels: %v", MaxDepth, err)
	}

	for _, open := range []string{"[", "(", "{'a':"} {
		deep := strings.Repeat(open, 100000)
		_, err := Parse(deep)
		if err == nil || !strings.Contains(err.Error(), "nesting deeper") {
			t.Errorf("100000 levels of %q: got %v, want a nesting error", open, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	seeds := []string{
		`{'ip': '1.2.3.4', 'os': {'name': 'Linux'}}`, `[1, 2.5, -3, 0x1f, True, None]`,
		`('a', b'\x00', r'\d', u"x", '''t''')`, `{1, 2}`, `{}`, `'a' 'b'`, `1_000.5e-3`,
		`"\u00e9\U0001F600\101"`, `# c`, "[\n1,\n]", `{'/h': {'bind': '/c', 'mode': 'ro'}}`,
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := Parse(s)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) || se.Offset < 0 || se.Offset > len(s) {
				t.Fatalf("Parse(%q): bad error %#v", s, err)
			}
			return
		}
		checkTypes(t, s, v)
	})
}

// checkTypes fails unless v holds only the types that Parse documents.
func checkTypes(t *testing.T, in string, v any) {
	switch x := v.(type) {
	case nil, bool, int64, string:
	case float64:
		if math.IsInf(x, 0) {
			t.Fatalf("Parse(%q) gave an infinite float", in)
		}
	case []any:
		for _, e := range x {
			checkTypes(t, in, e)
		}
	case map[string]any:
		for _, e := range x {
			checkTypes(t, in, e)
		}
	default:
		t.Fatalf("Parse(%q) gave a %T", in, v)
	}
}

func BenchmarkParse(b *testing.B) {
	// A p0f-style output line, the shape the index reads most.
	line := `{'10.0.0.1': {'full_os': 'Linux 3.11 and newer', 'short_os': 'Linux', ` +
		`'link': 'Ethernet or modem', 'raw_mtu': '1500', 'mac': '00:11:22:33:44:55'}, ` +
		`'counts': [1, 2, 3, 4.5, -6, 0x10], 'ok': True, 'none': None}`
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(line); err != nil {
			b.Fatal(err)
		}
	}
}
