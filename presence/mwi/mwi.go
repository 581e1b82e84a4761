// Package mwi holds message waiting indication: the message-summary event
// package's body (RFC 3842, application/simple-message-summary), which a
// voicemail system sends and desk phones show as a lamp and a count.
//
// Parse is tolerant as phones and voicemail systems are in the field:
// header names in any case, LF or CRLF line ends, blanks around values,
// lines it does not know skipped. Marshal writes the RFC's form with CRLF
// and every count, urgent ones included.
package mwi

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ContentType is the media type of a message-summary body.
const ContentType = "application/simple-message-summary"

// MaxSize bounds a body Parse accepts; real ones are under 200 bytes.
const MaxSize = 8 << 10

// Class is a message context class (RFC 3458), the name of a summary line.
type Class string

// The classes RFC 3842 §5.2 lists.
const (
	Voice      Class = "voice-message"
	Fax        Class = "fax-message"
	Pager      Class = "pager-message"
	Multimedia Class = "multimedia-message"
	Text       Class = "text-message"
	None       Class = "none"
)

var classes = []Class{Voice, Fax, Pager, Multimedia, Text, None}

// Count is one summary line: "Voice-Message: 2/8 (0/2)".
type Count struct {
	Class     Class
	New       uint32
	Old       uint32
	NewUrgent uint32
	OldUrgent uint32
}

// Summary is one message-summary body.
type Summary struct {
	Waiting bool   // Messages-Waiting: yes
	Account string // Message-Account, "" when absent
	Counts  []Count
}

// Errors of Parse.
var (
	ErrTooLarge  = fmt.Errorf("mwi: body larger than %d bytes", MaxSize)
	ErrNoStatus  = errors.New("mwi: no Messages-Waiting line")
	ErrBadStatus = errors.New("mwi: Messages-Waiting is neither yes nor no")
)

// Parse reads a message-summary body.
func Parse(body []byte) (Summary, error) {
	if len(body) > MaxSize {
		return Summary{}, ErrTooLarge
	}
	var s Summary
	status := false
	// A bare CR ends a line too, so that no value can carry one into a
	// body Parley writes.
	text := strings.ReplaceAll(strings.ReplaceAll(string(body), "\r\n", "\n"), "\r", "\n")
	for line := range strings.Lines(text) {
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			if strings.TrimSpace(line) == "" && status {
				break // what follows the blank line is opt-msg-headers
			}
			continue
		}
		name, value = strings.ToLower(strings.TrimSpace(name)), strings.TrimSpace(value)
		switch {
		case name == "messages-waiting":
			switch strings.ToLower(value) {
			case "yes":
				s.Waiting = true
			case "no":
			default:
				return Summary{}, ErrBadStatus
			}
			status = true
		case name == "message-account":
			s.Account = value
		case isClass(name):
			c, err := parseCount(Class(name), value)
			if err != nil {
				return Summary{}, err
			}
			s.Counts = append(s.Counts, c)
		}
	}
	if !status {
		return Summary{}, ErrNoStatus
	}
	return s, nil
}

func isClass(name string) bool {
	for _, c := range classes {
		if string(c) == name {
			return true
		}
	}
	return false
}

// parseCount reads "new/old" with an optional " (urgent-new/urgent-old)".
func parseCount(c Class, v string) (Count, error) {
	count := Count{Class: c}
	main, urgent, hasUrgent := strings.Cut(v, "(")
	var err error
	if count.New, count.Old, err = pair(main); err != nil {
		return Count{}, fmt.Errorf("mwi: %s %q: %w", c, v, err)
	}
	if hasUrgent {
		urgent, ok := strings.CutSuffix(strings.TrimSpace(urgent), ")")
		if !ok {
			return Count{}, fmt.Errorf("mwi: %s %q: unclosed parenthesis", c, v)
		}
		if count.NewUrgent, count.OldUrgent, err = pair(urgent); err != nil {
			return Count{}, fmt.Errorf("mwi: %s %q: %w", c, v, err)
		}
	}
	return count, nil
}

// pair reads "a/b" as two counts.
func pair(s string) (a, b uint32, err error) {
	x, y, ok := strings.Cut(s, "/")
	if !ok {
		return 0, 0, errors.New("want new/old")
	}
	a, err = number(x)
	if err == nil {
		b, err = number(y)
	}
	return a, b, err
}

func number(s string) (uint32, error) {
	n, err := strconv.ParseUint(strings.TrimSpace(s), 10, 32)
	if err != nil {
		return 0, fmt.Errorf("%q is not a count", strings.TrimSpace(s))
	}
	return uint32(n), nil
}

// Marshal writes the body in RFC 3842's form, with CRLF line ends. A
// class outside the RFC's list, or an account with a line break, is
// refused: either would make a body phones misread.
func (s Summary) Marshal() ([]byte, error) {
	if strings.ContainsAny(s.Account, "\r\n") {
		return nil, fmt.Errorf("mwi: account %q holds a line break", s.Account)
	}
	b := []byte("Messages-Waiting: no\r\n")
	if s.Waiting {
		b = []byte("Messages-Waiting: yes\r\n")
	}
	if s.Account != "" {
		b = append(append(append(b, "Message-Account: "...), s.Account...), "\r\n"...)
	}
	for _, c := range s.Counts {
		if !isClass(string(c.Class)) {
			return nil, fmt.Errorf("mwi: class %q is not one of RFC 3842's", c.Class)
		}
		b = append(b, headerName(c.Class)...)
		b = fmt.Appendf(b, ": %d/%d (%d/%d)\r\n", c.New, c.Old, c.NewUrgent, c.OldUrgent)
	}
	return b, nil
}

// headerName writes a class as RFC 3842's examples do: "Voice-Message".
func headerName(c Class) string {
	parts := strings.Split(string(c), "-")
	for i, p := range parts {
		parts[i] = strings.ToUpper(p[:1]) + p[1:]
	}
	return strings.Join(parts, "-")
}
