package config

import (
	"sort"
	"strconv"
	"strings"
)

// Error is one problem with a configuration. Its parts are kept apart, not
// only formatted, so that tools (an editor, check-config's output) can point
// at the line without parsing the message.
type Error struct {
	// File is the name given to Parse or Load; empty from Validate.
	File string
	// Line is 1-based; 0 when unknown (Validate, or a YAML error the parser
	// gave no line for).
	Line int
	// Key is the dotted path of the offending key, with list indexes in
	// brackets: registrar.min_expires, listen[1].advertise. Empty for YAML
	// syntax errors.
	Key string
	// Msg says what is wrong and, where it helps, what is allowed.
	Msg string
}

// Error formats as FILE:LINE: KEY: problem, dropping the parts that are
// unknown, so that editors and terminals can jump to the line.
func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			b.WriteByte(':')
			b.WriteString(strconv.Itoa(e.Line))
		}
		b.WriteString(": ")
	}
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem found, in line order. Reporting them all at once
// spares the operator a fix-and-rerun loop per mistake.
type Errors []*Error

// Error puts one problem on each line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap lets errors.As find the individual *Error values.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// inFile stamps the file name on decoding errors and sorts them by line.
func (es Errors) inFile(name string) Errors {
	for _, e := range es {
		e.File = name
	}
	sort.SliceStable(es, func(i, j int) bool { return es[i].Line < es[j].Line })
	return es
}
