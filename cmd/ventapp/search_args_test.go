package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"reflect"
	"strings"
	"testing"
)

// TestSearchArgs: words starting with "-" that are not search's flags
// belong to the query.
func TestSearchArgs(t *testing.T) {
	tests := []struct {
		args         []string
		flags, query []string
	}{
		{[]string{"tcpdump"}, nil, []string{"tcpdump"}},
		{[]string{"-fields.type:flow"}, nil, []string{"-fields.type:flow"}},
		{[]string{"--json", "+tool:x", "-line:>5"}, []string{"--json"}, []string{"+tool:x", "-line:>5"}},
		{[]string{"--limit", "5", "a"}, []string{"--limit", "5"}, []string{"a"}},
		{[]string{"-limit=5", "-x", "b"}, []string{"-limit=5"}, []string{"-x", "b"}},
		{[]string{"a", "--", "--json"}, nil, []string{"a", "--json"}},
		{[]string{"-h"}, []string{"-h"}, nil},
		{[]string{"--limit"}, []string{"--limit"}, nil},
	}
	for _, tc := range tests {
		fs := flag.NewFlagSet("search", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		fs.Bool("json", false, "")
		fs.Int("limit", 20, "")
		flags, query := searchArgs(fs, tc.args)
		if !reflect.DeepEqual(flags, tc.flags) || !reflect.DeepEqual(query, tc.query) {
			t.Errorf("searchArgs(%q) = %q, %q; want %q, %q", tc.args, flags, query, tc.flags, tc.query)
		}
	}
}

func TestJobID(t *testing.T) {
	for in, want := range map[string]string{
		"42": "000000000042", "000000000042": "000000000042", " 7 ": "000000000007",
		"": "", "abc": "", "-1": "", "1234567890123": "", "4 2": "",
	} {
		got, err := jobID(in)
		if want == "" {
			if err == nil {
				t.Errorf("jobID(%q) = %q, want an error", in, got)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("jobID(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

// TestSearchUsage: an empty query and negative paging are the user's
// mistakes, named before any daemon is asked.
func TestSearchUsage(t *testing.T) {
	bad := [][]string{{""}, {" "}, {"--limit", "-1", "a"}, {"--offset=-5", "a"}, {"--limit=0", "a"}}
	for _, args := range bad {
		var out, errOut strings.Builder
		env := &cliEnv{stdout: &out, stderr: &errOut, dataDir: t.TempDir()}
		err := cmdSearch(context.Background(), env, args)
		if !errors.Is(err, errUsage) {
			t.Errorf("search %q: err %v, want a usage error", args, err)
		}
	}
}
