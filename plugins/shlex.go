package plugins

import (
	"fmt"
	"strings"
)

// shellSplit splits s into words the way a POSIX shell (and Python's
// shlex.split, which docker-py used for string commands) would, without
// any expansion: blanks separate words, single quotes keep everything
// literally, double quotes keep everything except that a backslash escapes
// ", \, $, ` and newline, and outside quotes a backslash escapes the next
// character. "#" has no special meaning. An unclosed quote or a trailing
// backslash is an error.
func shellSplit(s string) ([]string, error) {
	var (
		words  []string
		cur    strings.Builder
		inWord bool
	)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}

		case c == '\\':
			if i+1 >= len(s) {
				return nil, fmt.Errorf("command %q ends with a backslash", s)
			}
			i++
			if s[i] != '\n' {
				cur.WriteByte(s[i])
			}
			inWord = true

		case c == '\'':
			end := strings.IndexByte(s[i+1:], '\'')
			if end < 0 {
				return nil, fmt.Errorf("command %q has an unclosed single quote", s)
			}
			cur.WriteString(s[i+1 : i+1+end])
			i += end + 1
			inWord = true

		case c == '"':
			n, err := doubleQuoted(s, i+1, &cur)
			if err != nil {
				return nil, err
			}
			i = n
			inWord = true

		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// doubleQuoted copies the double-quoted text starting at s[i] into cur and
// returns the index of the closing quote.
func doubleQuoted(s string, i int, cur *strings.Builder) (int, error) {
	for ; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			return i, nil
		case c == '\\' && i+1 < len(s) && strings.IndexByte("\"\\$`\n", s[i+1]) >= 0:
			i++
			if s[i] != '\n' {
				cur.WriteByte(s[i])
			}
		default:
			cur.WriteByte(c)
		}
	}
	return 0, fmt.Errorf("command %q has an unclosed double quote", s)
}
