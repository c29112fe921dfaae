package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// A command's -h names its arguments and purpose before its flags, on
// stdout, exits 0 and reaches no daemon. A subcommand's -h gives that
// subcommand's part of the usage; a command made of subcommands lists them.
func TestCommandHelp(t *testing.T) {
	tests := []struct {
		args      []string
		usage     string // the first line
		wantFlags bool
	}{
		{[]string{"process", "-h"}, "usage: ventapp process [--tools a,b] [--json] PATH...", true},
		{[]string{"jobs", "--help"}, "usage: ventapp jobs [--json] [--state STATE] [--tool TOOL] [--file TEXT] [--limit N]",
			true},
		{[]string{"help", "jobs"}, "usage: ventapp jobs [--json] [--state STATE] [--tool TOOL] [--file TEXT] [--limit N]",
			true},
		{[]string{"search", "-h"}, "usage: ventapp search [--json] [--limit N] [--offset N] [--by-time] QUERY", true},
		{[]string{"job", "show", "-h"}, "usage: ventapp job show ID [--json]", true},
		{[]string{"status", "-h"}, "usage: ventapp status [--json]", true},
		{[]string{"drop", "-h"}, "usage: ventapp drop FILE...", false},
		{[]string{"help", "config"}, "usage: ventapp config default", false},
		{[]string{"images", "list", "-h"}, "usage: ventapp images list [--json]", true},
		{[]string{"plugins", "-h"}, "usage: ventapp plugins SUBCOMMAND ...", false},
		{[]string{"help", "plugins"}, "usage: ventapp plugins SUBCOMMAND ...", false},
		{[]string{"tap", "help"}, "usage: ventapp tap SUBCOMMAND ...", false},
		{[]string{"plugins", "help", "logs"}, "usage: ventapp plugins logs TOOL [-f]", true},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out, errOut bytes.Buffer
			env := &cliEnv{stdout: &out, stderr: &errOut}
			code := run(context.Background(), env, append([]string{"--data-dir", t.TempDir()}, tt.args...))
			if code != 0 {
				t.Fatalf("exit %d; stderr %q", code, errOut.String())
			}
			var c command
			for _, cc := range commands() {
				if cc.name == tt.args[0] {
					c = cc
				}
			}
			help := out.String()
			if errOut.Len() > 0 {
				t.Errorf("help also wrote to stderr: %q", errOut.String())
			}
			if first, _, _ := strings.Cut(help, "\n"); first != tt.usage {
				t.Errorf("first line %q, want %q", first, tt.usage)
			}
			if !strings.Contains(help, c.short+".") {
				t.Errorf("help lacks %q:\n%s", c.short, help)
			}
			if strings.Contains(help, "\nflags:\n") != tt.wantFlags {
				t.Errorf("help lists flags: %v, want %v:\n%s", !tt.wantFlags, tt.wantFlags, help)
			}
		})
	}
}

// A usage mistake is reported once, on stderr, with the usage of the
// subcommand it was made in, and exits 2.
func TestUsageErrorOnce(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"plugins", "build", "web", "--json"},
			"ventapp plugins build: flag provided but not defined: -json\nusage: ventapp plugins build TOOL...\n"},
		{[]string{"jobs", "--bogus"}, "ventapp jobs: flag provided but not defined: -bogus\n" +
			"usage: ventapp jobs [--json] [--state STATE] [--tool TOOL] [--file TEXT] [--limit N]\n"},
		{[]string{"tap", "update", "lab1"},
			"ventapp tap update: takes one id and --metadata JSON\nusage: ventapp tap update ID --metadata JSON\n"},
		{[]string{"drop"}, "ventapp drop: name at least one file\nusage: ventapp drop FILE...\n"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out, errOut bytes.Buffer
			env := &cliEnv{stdout: &out, stderr: &errOut}
			code := run(context.Background(), env, append([]string{"--data-dir", t.TempDir()}, tt.args...))
			if code != 2 || errOut.String() != tt.want || out.Len() > 0 {
				t.Errorf("exit %d, stderr %q, stdout %q; want 2, %q, nothing", code, errOut.String(), out.String(), tt.want)
			}
		})
	}
}
