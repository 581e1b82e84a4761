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

// Error returns the error as "sip: 400 Malformed CSeq".
func (e *Error) Error() string {
	return "sip: " + strconv.Itoa(e.Code) + " " + e.Reason
}

// badRequest is short for the common 400.
func badRequest(reason string) *Error { return &Error{Code: 400, Reason: reason} }

// Errors are shared values, so the error path allocates nothing and callers
// can compare with errors.Is (or ==). Each names the defect in its reason
// phrase, which a server can send as is: "SIP/2.0 400 Malformed CSeq".
var (
	ErrEmpty           = badRequest("Empty Message")                           // nothing but CRLFs
	ErrStartLine       = badRequest("Malformed Start Line")                    // not "Method SP URI SP SIP/x.y" nor a status line
	ErrHeaderLine      = badRequest("Malformed Header Line")                   // a line without "name:" or with a bad name
	ErrNoBody          = badRequest("Missing Header Terminator")               // headers never end
	ErrContentLength   = badRequest("Malformed Content-Length")                // not a number, negative, or given twice
	ErrBodyTruncated   = badRequest("Content-Length Exceeds Message")          // §18.3: the datagram ends before the body does
	ErrVersion         = &Error{Code: 505, Reason: "Version Not Supported"}    // a well-formed version other than SIP/2.0
	ErrTooLarge        = &Error{Code: 513, Reason: "Message Too Large"}        // over Limits.MaxSize
	ErrTooManyHeaders  = &Error{Code: 513, Reason: "Too Many Headers"}         // over Limits.MaxHeaders
	ErrLineTooLong     = &Error{Code: 513, Reason: "Header Line Too Long"}     // over Limits.MaxLineLength
	ErrBodyTooLarge    = &Error{Code: 413, Reason: "Request Entity Too Large"} // a stream message whose Content-Length exceeds Limits.MaxSize
	ErrURI             = badRequest("Malformed Request-URI")                   // also returned by ParseURI for any bad URI
	ErrVia             = badRequest("Malformed Via")
	ErrFrom            = badRequest("Malformed From")
	ErrTo              = badRequest("Malformed To")
	ErrCallID          = badRequest("Malformed Call-ID")
	ErrCSeq            = badRequest("Malformed CSeq")         // not a number below 2**31 and a method token
	ErrMaxForwards     = badRequest("Malformed Max-Forwards") // not a number 0..255
	ErrContact         = badRequest("Malformed Contact")
	ErrRoute           = badRequest("Malformed Route")
	ErrRecordRoute     = badRequest("Malformed Record-Route")
	ErrPath            = badRequest("Malformed Path")
	ErrExpires         = badRequest("Malformed Expires")
	ErrMinExpires      = badRequest("Malformed Min-Expires")
	ErrNameAddr        = badRequest("Malformed Address") // a name-addr or addr-spec that does not parse
	ErrAuth            = badRequest("Malformed Authorization")
	ErrMissingVia      = badRequest("Missing Via")
	ErrMissingFrom     = badRequest("Missing From")
	ErrMissingTo       = badRequest("Missing To")
	ErrMissingCallID   = badRequest("Missing Call-ID")
	ErrMissingCSeq     = badRequest("Missing CSeq")
	ErrMultipleFrom    = badRequest("Multiple From Headers")
	ErrMultipleTo      = badRequest("Multiple To Headers")
	ErrMultipleCallID  = badRequest("Multiple Call-ID Headers")
	ErrMultipleCSeq    = badRequest("Multiple CSeq Headers")
	ErrMultipleMaxFwd  = badRequest("Multiple Max-Forwards Headers")
	ErrDuplicate       = badRequest("Duplicate Header")                      // a header that may appear once appears twice
	ErrCSeqMethod      = badRequest("CSeq Method Mismatch")                  // §8.2: CSeq's method is not the request's
	ErrMissingLength   = badRequest("Missing Content-Length")                // §18.3: mandatory on stream transports
	ErrUnsupportedURI  = &Error{Code: 416, Reason: "Unsupported URI Scheme"} // §8.2.2.1: Request-URI not sip, sips or tel
	ErrMissingHeader   = badRequest("Missing Header")
	ErrMalformedHeader = badRequest("Malformed Header")
)
