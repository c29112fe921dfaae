package builder

import (
	"errors"
	"slices"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

var testPlatform = ocispec.Platform{OS: "linux", Architecture: "amd64"}

// translate runs the instruction-translation layer on text: parse, the
// FROM stage, then every instruction against an empty base config. It
// returns the steps and the final config.
func translate(text string, buildArgs map[string]string) ([]step, ocispec.ImageConfig, error) {
	df, err := parseDockerfile("Dockerfile", []byte(text))
	if err != nil {
		return nil, ocispec.ImageConfig{}, err
	}
	stages, err := splitStages(df, buildArgs, testPlatform)
	if err != nil {
		return nil, ocispec.ImageConfig{}, err
	}
	st := stages[len(stages)-1]
	ev := newEvaluator(df, st, nil, buildArgs)
	var steps []step
	for _, inst := range st.insts {
		s, err := ev.apply(inst)
		if err != nil {
			return steps, ev.config.ImageConfig, err
		}
		steps = append(steps, s)
	}
	return steps, ev.config.ImageConfig, nil
}

func TestTranslateCopy(t *testing.T) {
	tests := []struct {
		name    string
		text    string
		sources []string
		dest    string
		workdir string
		owner   [2]int
		err     error
	}{
		{"plain", "FROM scratch\nCOPY a b /dst/\n", []string{"a", "b"}, "/dst/", "/", [2]int{}, nil},
		{"json and vars", "FROM scratch\nARG D=/opt\nWORKDIR /w\nCOPY [\"$D.txt\", \"${D}/x\"]\n",
			[]string{"/opt.txt"}, "/opt/x", "/w", [2]int{}, nil},
		{"chown from arg", "FROM scratch\nARG U=5\nCOPY --chown=$U:6 a .\n", []string{"a"}, ".", "/",
			[2]int{5, 6}, nil},
		{"several sources need a slash", "FROM scratch\nCOPY a b /dst\n", nil, "", "", [2]int{}, ErrSyntax},
		{"one word", "FROM scratch\nCOPY a\n", nil, "", "", [2]int{}, ErrSyntax},
		{"unknown flag", "FROM scratch\nCOPY --bogus a b\n", nil, "", "", [2]int{}, ErrSyntax},
		{"heredoc", "FROM scratch\nCOPY <<EOF /x\nhi\nEOF\n", nil, "", "", [2]int{}, ErrUnsupported},
		{"bad chmod", "FROM scratch\nCOPY --chmod=9 a b\n", nil, "", "", [2]int{}, ErrSyntax},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			steps, _, err := translate(tt.text, nil)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("err = %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			op := steps[len(steps)-1].copy
			if op == nil || !slices.Equal(op.sources, tt.sources) || op.dest != tt.dest ||
				op.workdir != tt.workdir || [2]int{op.uid, op.gid} != tt.owner {
				t.Fatalf("copy = %+v", op)
			}
		})
	}
}

func TestTranslateErrorsNameLine(t *testing.T) {
	tests := []struct {
		text string
		want string
	}{
		{"FROM scratch\nSHELL /bin/bash -c\n",
			"Dockerfile:2: syntax error: SHELL needs a JSON array, e.g. [\"/bin/bash\", \"-c\"]"},
		{"FROM scratch\n\nSTOPSIGNAL 99\n", "Dockerfile:3: syntax error: STOPSIGNAL 99: out of range"},
		{"FROM scratch\nONBUILD FROM x\n", "Dockerfile:2: syntax error: ONBUILD FROM is not allowed"},
		{"FROM scratch\nRUN --mount=type=cache,target=/x true\n",
			"Dockerfile:2: RUN --mount is not supported by this builder yet"},
		{"FROM scratch\nADD https://example.com/a.tgz /x/\n",
			"Dockerfile:2: ADD https://example.com/a.tgz: remote URLs are not supported on an offline " +
				"appliance; download the file into the build context"},
		{"FROM scratch\nHEALTHCHECK --interval=0s CMD true\n",
			"Dockerfile:2: syntax error: HEALTHCHECK --interval=0s: duration \"0s\" is below 1ms"},
		{"FROM scratch AS a\nFROM scratch AS A\n",
			"Dockerfile:2: syntax error: stage name \"a\" is already used on line 1"},
		{"# comment\nFROM scratch\nEXPOSE 70000\n",
			"Dockerfile:3: syntax error: EXPOSE \"70000\": invalid port \"70000\""},
		{"FROM --platform=linux/arm64 scratch\n",
			"Dockerfile:1: FROM --platform=linux/arm64 is not supported by this builder yet"},
		{"FROM scratch\nWORKDIR\n", "Dockerfile:2: syntax error: WORKDIR takes exactly one argument"},
	}
	for _, tt := range tests {
		_, _, err := translate(tt.text, nil)
		if err == nil || err.Error() != tt.want {
			t.Errorf("%q: err = %v, want %q", tt.text, err, tt.want)
		}
	}
}

func TestArgScopes(t *testing.T) {
	text := "ARG V=global\nARG ONLY=g\nFROM scratch\nARG V\nARG LOCAL=${V}-l\nENV V=env\n" +
		"LABEL v=$V local=$LOCAL only=[$ONLY] given=$GIVEN\nARG GIVEN=default\nLABEL given=$GIVEN\n"
	_, cfg, err := translate(text, map[string]string{"GIVEN": "cli"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"v": "env", "local": "global-l", "only": "[]", "given": "cli"}
	if !mapsEqual(cfg.Labels, want) {
		t.Fatalf("Labels = %v, want %v", cfg.Labels, want)
	}
}

func TestRootfsResolve(t *testing.T) {
	r := newRootfs()
	for p, n := range map[string]fsNode{
		"/usr": {kind: kindDir}, "/usr/lib": {kind: kindDir}, "/lib": {kind: kindSymlink, link: "usr/lib"},
		"/abs":  {kind: kindSymlink, link: "/usr"},
		"/up":   {kind: kindSymlink, link: "../../../../etc"},
		"/loop": {kind: kindSymlink, link: "/loop"},
		"/file": {kind: kindFile},
	} {
		r.set(p, n)
	}
	tests := []struct {
		in, want   string
		followLast bool
		err        bool
	}{
		{in: "/lib/x", want: "/usr/lib/x"},
		{in: "/abs/lib", want: "/usr/lib", followLast: true},
		{in: "/abs", want: "/abs"},
		{in: "/up/passwd", want: "/etc/passwd"},
		{in: "/../../lib/../lib/y", want: "/usr/lib/y"},
		{in: "/loop/x", err: true},
		{in: "/file/x", want: "/file/x"},
	}
	for _, tt := range tests {
		got, err := r.resolve(tt.in, tt.followLast)
		if tt.err {
			if !errors.Is(err, ErrDestination) {
				t.Errorf("resolve(%q) err = %v, want ErrDestination", tt.in, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("resolve(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestContextPath(t *testing.T) {
	tests := []struct {
		in, want string
		err      error
	}{
		{"a/b", "a/b", nil}, {"./a/../b", "b", nil}, {"/", ".", nil}, {".", ".", nil},
		{"/etc/x", "etc/x", nil}, {"..", "", ErrOutsideContext}, {"a/../../x", "", ErrOutsideContext},
		{"", "", ErrNotFound},
	}
	for _, tt := range tests {
		got, err := contextPath(tt.in)
		if !errors.Is(err, tt.err) || got != tt.want {
			t.Errorf("contextPath(%q) = %q, %v; want %q, %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func FuzzTranslate(f *testing.F) {
	seeds := []string{
		"FROM scratch\nCOPY a /b\n",
		"ARG X=1\nFROM img:${X}\nENV A=$X B \"c d\"\nLABEL \"k\"=v\nEXPOSE 1-3/udp\n",
		"FROM scratch\nCMD [\"a\"]\nENTRYPOINT echo ${A:-x}\nUSER 1:2\nVOLUME /v\nWORKDIR a\n",
		"# escape=`\nFROM scratch\nCOPY --chown=1:1 --chmod=755 a `\n  b /c/\n",
		"FROM scratch\nRUN x\n",
		"FROM scratch\nCOPY <<EOF /x\nhi\nEOF\n",
		"FROM a AS b\nFROM b\n",
		"FROM scratch\nENV A=${B:?err}\n",
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		steps, _, err := translate(text, map[string]string{"X": "2"})
		if err != nil {
			if !strings.Contains(err.Error(), ":") {
				t.Fatalf("error without a location: %v", err)
			}
			return
		}
		for _, s := range steps {
			if s.copy == nil {
				continue
			}
			for _, src := range s.copy.sources {
				// Source checks must not panic either.
				_, _ = contextPath(src)
			}
			r := newRootfs()
			_, _ = r.resolve(s.copy.dest, true)
		}
	})
}
