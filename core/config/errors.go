package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

// ErrHelp is returned by Parse after it printed the help text because -h/--help was given.
// Callers treat it as success (exit status 0).
var ErrHelp = errors.New("help requested")

// ErrNoSections is wrapped by ParseFile and LoadFile when a file holds none of the sections the
// launcher recognises.
var ErrNoSections = errors.New("no recognised section: expected one or more of [scheduler], [object_storage_server], [[worker_manager]], [top], [gui]")

// UsageError marks a mistake on the command line or in an environment variable: an unknown
// flag, a missing argument, a bad value. Callers exit with status 2 for it. Mistakes in a TOML
// file are plain errors naming the file, section and key.
type UsageError struct{ Err error }

// Error returns the one-line message.
func (e UsageError) Error() string { return e.Err.Error() }

// Unwrap gives errors.Is/As access to the cause.
func (e UsageError) Unwrap() error { return e.Err }

func usageErrorf(format string, args ...any) error {
	return UsageError{Err: fmt.Errorf(format, args...)}
}

// Warning is a problem in a TOML file that does not stop the program, such as an unknown key.
// DESIGN.md asks that a misspelt key never pass in silence, so every one becomes a Warning that
// the caller logs once its logger exists.
type Warning struct {
	// File is the path of the TOML file.
	File string
	// Section names the table, e.g. "[scheduler]" or `[[worker_manager]] #2 (type "aws_hpc")`;
	// empty for the top level of the file.
	Section string
	// Key is the key as written in the file.
	Key string
	// Suggestion is the closest valid key (or section), empty when nothing is close.
	Suggestion string
	// Message describes the problem.
	Message string
}

// String renders the warning as one line.
func (w Warning) String() string {
	var b strings.Builder
	b.WriteString(w.File)
	b.WriteString(": ")
	if w.Section != "" {
		b.WriteString(w.Section)
		b.WriteString(" ")
	}
	b.WriteString(w.Message)
	if w.Suggestion != "" {
		fmt.Fprintf(&b, "; did you mean %q?", w.Suggestion)
	}
	return b.String()
}

// shown echoes user input in a message: as typed when printable, quoted otherwise, so that a
// stray newline or control character cannot break the one-line rule.
func shown(s string) string {
	if strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		return strconv.Quote(s)
	}
	return s
}

// oneLine folds a multi-line message (TOML parser errors can carry newlines) into one line,
// because DESIGN.md wants every user error on a single line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
