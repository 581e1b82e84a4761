package sip

import "strconv"

// Error is a defect found in a message. It carries the status a server
// should answer with, so that layers above never have to guess.
type Error struct {
	// Code is the status to answer with: 400, 413, 416, 505 or 513.
	Code int
	// Reason is the reason phrase naming the defect, e.g. "Malformed CSeq".
	Reason string
}

func (e *Error) Error() string {
	return "sip: " + strconv.Itoa(e.Code) + " " + e.Reason
}

// errorf is short for the common 400.
func badRequest(reason string) *Error { return &Error{Code: 400, Reason: reason} }

// Errors that carry no detail beyond their reason are shared to keep the
// error path free of allocations.
var (
	ErrEmpty           = badRequest("Empty Message")
	ErrStartLine       = badRequest("Malformed Start Line")
	ErrHeaderLine      = badRequest("Malformed Header Line")
	ErrNoBody          = badRequest("Missing Header Terminator")
	ErrContentLength   = badRequest("Malformed Content-Length")
	ErrBodyTruncated   = badRequest("Content-Length Exceeds Message")
	ErrVersion         = &Error{Code: 505, Reason: "Version Not Supported"}
	ErrTooLarge        = &Error{Code: 513, Reason: "Message Too Large"}
	ErrTooManyHeaders  = &Error{Code: 513, Reason: "Too Many Headers"}
	ErrLineTooLong     = &Error{Code: 513, Reason: "Header Line Too Long"}
	ErrURI             = badRequest("Malformed Request-URI")
	ErrVia             = badRequest("Malformed Via")
	ErrFrom            = badRequest("Malformed From")
	ErrTo              = badRequest("Malformed To")
	ErrCallID          = badRequest("Malformed Call-ID")
	ErrCSeq            = badRequest("Malformed CSeq")
	ErrMaxForwards     = badRequest("Malformed Max-Forwards")
	ErrContact         = badRequest("Malformed Contact")
	ErrRoute           = badRequest("Malformed Route")
	ErrExpires         = badRequest("Malformed Expires")
	ErrNameAddr        = badRequest("Malformed Address")
	ErrAuth            = badRequest("Malformed Authorization")
	ErrMissingVia      = badRequest("Missing Via")
	ErrMissingFrom     = badRequest("Missing From")
	ErrMissingTo       = badRequest("Missing To")
	ErrMissingCallID   = badRequest("Missing Call-ID")
	ErrMissingCSeq     = badRequest("Missing CSeq")
	ErrDuplicate       = badRequest("Duplicate Header")
	ErrCSeqMethod      = badRequest("CSeq Method Mismatch")
	ErrMissingLength   = badRequest("Missing Content-Length")
	ErrUnsupportedURI  = &Error{Code: 416, Reason: "Unsupported URI Scheme"}
	ErrMissingHeader   = badRequest("Missing Header")
	ErrMalformedHeader = badRequest("Malformed Header")
)
