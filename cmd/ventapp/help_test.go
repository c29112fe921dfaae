package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// A command's -h names its arguments and purpose before its flags, exits
// 0 and reaches no daemon.
func TestCommandHelp(t *testing.T) {
	for _, args := range [][]string{
		{"process", "-h"}, {"jobs", "--help"}, {"search", "-h"}, {"job", "show", "-h"}, {"status", "-h"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			var out, errOut bytes.Buffer
			env := &cliEnv{stdout: &out, stderr: &errOut}
			code := run(context.Background(), env, append([]string{"--data-dir", t.TempDir()}, args...))
			if code != 0 {
				t.Fatalf("exit %d; stderr %q", code, errOut.String())
			}
			var c command
			for _, cc := range commands() {
				if cc.name == args[0] {
					c = cc
				}
			}
			help := errOut.String()
			for _, want := range []string{"usage: ventapp " + c.name + " " + c.usage, c.short + ".", "-json"} {
				if !strings.Contains(help, want) {
					t.Errorf("help lacks %q:\n%s", want, help)
				}
			}
		})
	}
}
