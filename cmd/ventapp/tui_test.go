package main

import (
	"bytes"
	"context"
	"errors"
	"testing"
)

func TestCmdTUIUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"stray argument", []string{"extra"}},
		{"interval too short", []string{"--interval", "1ms"}},
		{"unknown flag", []string{"--colour"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			env := &cliEnv{stdout: &out, stderr: &errOut}
			err := cmdTUI(context.Background(), env, tt.args)
			if !errors.Is(err, errUsage) {
				t.Fatalf("cmdTUI(%q) = %v, want a usage error", tt.args, err)
			}
		})
	}
}
