package plugins

import (
	"errors"
	"fmt"
)

// Sentinel errors. Callers test for them with errors.Is.
var (
	// ErrNotFound is returned by Registry methods when no plugin has the
	// requested name.
	ErrNotFound = errors.New("plugin not found")

	// ErrExists is returned by Registry.Add when a plugin with the same
	// name is already registered.
	ErrExists = errors.New("plugin already exists")

	// ErrTemplate is returned when a template file is missing or is not
	// valid template syntax. Syntax errors are *TemplateError values.
	ErrTemplate = errors.New("bad template")

	// ErrSetting is returned when a template value cannot be used, for
	// example a non-numeric instances. Such errors are *SettingError values.
	ErrSetting = errors.New("bad setting")

	// ErrNoDockerfile is returned by LoadDir for a folder without a
	// Dockerfile.
	ErrNoDockerfile = errors.New("no Dockerfile")
)

// TemplateError is a syntax error in a template file.
type TemplateError struct {
	// File names the template (the name given to ParseTemplate).
	File string

	// Line is the 1-based line number of the problem.
	Line int

	// Problem says what is wrong.
	Problem string
}

// Error returns "file:line: problem".
func (e *TemplateError) Error() string {
	return fmt.Sprintf("template %s:%d: %s", e.File, e.Line, e.Problem)
}

// Unwrap returns ErrTemplate.
func (e *TemplateError) Unwrap() error { return ErrTemplate }

// SettingError is a template value that ventapp cannot use.
type SettingError struct {
	// File names the template.
	File string

	// Line is the 1-based line of the key, or 0 when the key is absent.
	Line int

	// Section and Key locate the value.
	Section, Key string

	// Value is the raw value from the template.
	Value string

	// Problem says what is wrong with it.
	Problem string
}

// Error names the file, line, section, key and value, then the problem.
func (e *SettingError) Error() string {
	return fmt.Sprintf("template %s:%d: [%s] %s = %q: %s",
		e.File, e.Line, e.Section, e.Key, e.Value, e.Problem)
}

// Unwrap returns ErrSetting.
func (e *SettingError) Unwrap() error { return ErrSetting }
