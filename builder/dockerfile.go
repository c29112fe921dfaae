package builder

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

// instruction is one Dockerfile instruction as the parser left it: keyword,
// flags and arguments, with variables not yet expanded.
type instruction struct {
	line     int      // first line of the instruction, counted from 1
	n        int      // position in the Dockerfile, counted from 1
	cmd      string   // lower-case keyword, e.g. "copy"
	flags    []string // flags as written, e.g. "--chown=1:1"
	args     []string // arguments; key, value pairs for ENV and LABEL
	json     bool     // arguments were given in the exec (JSON) form
	heredoc  bool     // the instruction carries a here-document
	original string   // the instruction text, continuation lines joined
	sub      string   // for ONBUILD: the trigger instruction's text
}

// dockerfile is a parsed Dockerfile.
type dockerfile struct {
	name   string // name used in messages, e.g. "Dockerfile"
	escape rune   // escape character from the escape= directive
	insts  []instruction
}

// supported lists the instructions this builder carries out.
var supported = map[string]bool{
	"from": true, "copy": true, "env": true, "workdir": true, "label": true,
	"entrypoint": true, "cmd": true, "arg": true, "expose": true,
	"user": true, "volume": true, "maintainer": true, "run": true, "add": true,
	"shell": true, "stopsignal": true, "healthcheck": true, "onbuild": true,
}

// parseDockerfile parses data, named name in messages, and checks that every
// instruction is one this builder can carry out.
func parseDockerfile(name string, data []byte) (*dockerfile, error) {
	res, err := parser.Parse(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%s:%d: %w: %s", name, errorLine(err), ErrSyntax, errorText(err))
	}

	df := &dockerfile{name: name, escape: res.EscapeToken}
	for _, n := range res.AST.Children {
		inst, err := df.instruction(n)
		if err != nil {
			return nil, err
		}
		inst.n = len(df.insts) + 1
		df.insts = append(df.insts, inst)
	}
	return df, nil
}

// instruction converts one parser node and checks its keyword.
func (df *dockerfile) instruction(n *parser.Node) (instruction, error) {
	inst := instruction{
		line:     n.StartLine,
		cmd:      strings.ToLower(n.Value),
		flags:    n.Flags,
		json:     n.Attributes["json"],
		heredoc:  len(n.Heredocs) > 0,
		original: strings.TrimSpace(n.Original),
	}
	keyword := strings.ToUpper(n.Value)

	if !supported[inst.cmd] {
		return inst, df.errorf(inst.line, "%w: unknown instruction %s", ErrSyntax, keyword)
	}
	if inst.cmd == "onbuild" {
		if n.Next == nil || len(n.Next.Children) == 0 {
			return inst, df.errorf(inst.line, "%w: ONBUILD needs an instruction", ErrSyntax)
		}
		inst.sub = strings.TrimSpace(n.Next.Children[0].Original)
		return inst, nil
	}

	for a := n.Next; a != nil; a = a.Next {
		// ENV and LABEL come as key, value, separator triples.
		if inst.cmd == "env" || inst.cmd == "label" {
			if a.Next == nil {
				return inst, df.errorf(inst.line, "%w: %s has a key without a value", ErrSyntax, keyword)
			}
			inst.args = append(inst.args, a.Value, a.Next.Value)
			a = a.Next.Next
			if a == nil {
				break
			}
			continue
		}
		inst.args = append(inst.args, a.Value)
	}
	return inst, nil
}

// errorf formats an error prefixed with the Dockerfile name and line.
func (df *dockerfile) errorf(line int, format string, args ...any) error {
	return fmt.Errorf("%s:%d: "+format, append([]any{df.name, line}, args...)...)
}

// errorLine returns the first line a parser error points at, or 0.
func errorLine(err error) int {
	var le *parser.LocationError
	if errors.As(err, &le) && len(le.Locations) > 0 && len(le.Locations[0]) > 0 {
		return le.Locations[0][0].Start.Line
	}
	return 0
}

// errorText returns the message of a parser error without its location
// wrapper.
func errorText(err error) string {
	var le *parser.LocationError
	if errors.As(err, &le) && le.Unwrap() != nil {
		return le.Unwrap().Error()
	}
	return err.Error()
}
