package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"strings"
	"testing"
)

// TestSubcommandArgs: each plugins and tap subcommand takes only its own
// flags and arguments, and a mistake is a usage error given before any
// daemon is asked (none runs here).
func TestSubcommandArgs(t *testing.T) {
	tests := []struct {
		args []string
		want string // in the error
	}{
		{[]string{"plugins", "list", "--branch", "main"}, "flag provided but not defined: -branch"},
		{[]string{"plugins", "logs", "web", "--json"}, "flag provided but not defined: -json"},
		{[]string{"plugins", "build", "-o", "x"}, "flag provided but not defined: -o"},
		{[]string{"plugins", "list", "extra"}, `plugins list takes no arguments, got ["extra"]`},
		{[]string{"plugins", "services", "web"}, "plugins services takes no arguments"},
		{[]string{"plugins", "frob"}, `unknown subcommand "frob"`},
		{[]string{"tap", "create", "--id", "a", "extra"}, `tap create takes only flags, got ["extra"]`},
		{[]string{"tap", "create", "--nic", "eth1", "--id", "a", "--metadata", "[1]"}, "--metadata must be a JSON object"},
		{[]string{"tap", "update", "lab1", "--metadata", "null"}, "--metadata must be a JSON object"},
		{[]string{"tap", "update", "lab1"}, "tap update takes one id and --metadata JSON"},
		{[]string{"tap", "stop"}, "tap stop needs at least one tap id"},
		{[]string{"tap", "list", "lab1"}, `tap list takes no arguments, got ["lab1"]`},
		{[]string{"tap", "nics", "--nic", "eth0"}, "flag provided but not defined: -nic"},
		{[]string{"tap", "create"}, "tap create needs --nic and --id"},
		{[]string{"tap", "create", "--nic", "eth1"}, "tap create needs --nic and --id"},
		{[]string{"tap", "start", "--json", "lab1"}, "flag provided but not defined: -json"},
		{[]string{"tap", "delete", "lab1", ""}, "empty tap id"},
		{[]string{"tap", "update", "", "--metadata", "{}"}, "empty tap id"},
		{[]string{"plugins", "start", ""}, "empty tool name"},
		{[]string{"plugins", "logs", ""}, "empty tool name"},
		{[]string{"plugins", "build", "web", ""}, "empty tool name"},
		{[]string{"plugins", "add", ""}, "empty folder or URL"},
		{[]string{"plugins", "add", "--branch", "dev", "."}, "are for a git URL, not a folder"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			_, err := runSubcommand(t, tt.args)
			if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want a usage error saying %q", err, tt.want)
			}
		})
	}
}

// TestSubcommandHelp: -h on a subcommand lists its own flags only.
func TestSubcommandHelp(t *testing.T) {
	tests := []struct {
		args          []string
		want, notWant []string
	}{
		{[]string{"plugins", "logs", "-h"}, []string{"usage: ventapp plugins logs TOOL [-f]\n", "-f"},
			[]string{"-branch", "-json", "-o "}},
		{[]string{"plugins", "stop", "-h"}, []string{"usage: ventapp plugins stop TOOL...\n", "-json"}, []string{"-f"}},
		{[]string{"plugins", "add", "-h"}, []string{"-branch", "-credentials-stdin", "-json"}, []string{"-f\n"}},
		{[]string{"tap", "list", "-h"}, []string{"-json"}, []string{"-nic", "-metadata"}},
		{[]string{"tap", "update", "-h"}, []string{"usage: ventapp tap update ID --metadata JSON\n", "-metadata"},
			[]string{"-nic", "-interval"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			help, err := runSubcommand(t, tt.args)
			if !errors.Is(err, flag.ErrHelp) {
				t.Fatalf("got %v, want flag.ErrHelp", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(help, w) {
					t.Errorf("help lacks %q:\n%s", w, help)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(help, w) {
					t.Errorf("help shows %q, another subcommand's flag:\n%s", w, help)
				}
			}
		})
	}
}

// runSubcommand runs `plugins ...` or `tap ...` with no daemon and returns
// what it wrote (help goes to stdout) and its error.
func runSubcommand(t *testing.T, args []string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	env := &cliEnv{stdout: &out, stderr: &out, dataDir: t.TempDir()}
	cmd := map[string]func(context.Context, *cliEnv, []string) error{"plugins": cmdPlugins, "tap": cmdTap}[args[0]]
	err := cmd(context.Background(), env, args[1:])
	return out.String(), err
}
