package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// A command's -h names its arguments and purpose before its flags, exits
// 0 and reaches no daemon. A subcommand's -h gives that subcommand's part
// of the usage; a command made of subcommands lists them on stdout.
func TestCommandHelp(t *testing.T) {
	tests := []struct {
		args      []string
		usage     string // the first line
		toStdout  bool
		wantFlags bool
	}{
		{[]string{"process", "-h"}, "usage: ventapp process [--tools a,b] [--json] PATH...", false, true},
		{[]string{"jobs", "--help"}, "usage: ventapp jobs [--json] [--state STATE] [--tool TOOL] [--file TEXT] [--limit N]",
			false, true},
		{[]string{"search", "-h"}, "usage: ventapp search [--json] [--limit N] [--offset N] [--by-time] QUERY", false, true},
		{[]string{"job", "show", "-h"}, "usage: ventapp job show ID [--json]", false, true},
		{[]string{"status", "-h"}, "usage: ventapp status [--json]", false, true},
		{[]string{"images", "list", "-h"}, "usage: ventapp images list [--json]", false, true},
		{[]string{"plugins", "-h"}, "usage: ventapp plugins add PATH|URL", true, false},
		{[]string{"tap", "help"}, "usage: ventapp tap create --nic NIC", true, false},
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
			help, other := errOut.String(), out.String()
			if tt.toStdout {
				help, other = other, help
			}
			if other != "" {
				t.Errorf("help also wrote to the other stream: %q", other)
			}
			first, _, _ := strings.Cut(help, "\n")
			if !strings.HasPrefix(first, tt.usage) || (!tt.toStdout && first != tt.usage) {
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
