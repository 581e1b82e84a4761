// Package sip reads, edits and writes SIP messages (RFC 3261 §7, §20, §25).
// It does no I/O: transports hand it datagrams or the frames a Framer cuts
// from a stream.
//
// # The model
//
// Parse makes one pass over the bytes: it reads the start line and records,
// for every header line, where its name, its value and the whole line
// (folding and line ending included) lie in the buffer. Header names are
// mapped to a HeaderID (long and compact forms, any case) so that lookups
// compare a byte. Nothing else is parsed: typed values — Vias, From and To,
// CSeq, Max-Forwards, Contacts with q and expires, Routes, Record-Routes,
// Paths, Expires, the Request-URI — are parsed when first asked for and
// cached, and their strings are views of the message's bytes, not copies.
//
// Edits do not re-serialise the message. A line an edit adds or rewrites
// (PrependHeader, SetHeader, PopVia, SetTopVia, SetMaxForwards, …) is
// written whole into a buffer beside the received bytes, and the header
// list points there; every other line is written back exactly as it came.
// An unedited message writes back byte for byte, so a proxy forwards what it
// does not change untouched.
//
// # Errors
//
// Every defect is an *Error carrying the status to answer with and a reason
// phrase naming it: 400 (with the defect: "Malformed CSeq", "Missing Via"),
// 416 for a Request-URI scheme other than sip, sips or tel, 505 for another
// SIP version, 413 and 513 for size limits. Parse reports what breaks the
// message's framing or start line; Validate what Parley must interpret
// before acting on it, and nothing more: the top Via, CSeq, Call-ID,
// Max-Forwards, Route, the Request-URI, From and To present once. Every
// other header is forwarded as written however broken its grammar, and
// FromTag and ToTag read a tag even from a From or To that does not parse
// (docs/ARCHITECTURE.md has the whole table). When Parse fails on a request
// whose headers it could still read, it returns the message with the
// error, and Answerable (or AnswerableAtSource, when only its Via is
// broken) says whether it holds what a response must copy; otherwise the
// message is dropped.
//
// # Memory
//
// Parse allocates one Message. A server that keeps Messages in a sync.Pool
// and uses Limits.ParseInto, Message.Reset and Message.CloneInto parses,
// edits and writes (with AppendTo into a reused buffer) without allocating:
// each Message keeps the memory it grew. Strings obtained from a Message are
// valid until it is Reset or its buffer is reused. The owner of a pooled
// Message ends its life with Release; in checked builds (the race
// detector's, -tags sipcheck) that poisons it, and a later use panics.
//
// # Robustness
//
// The parser never panics, on any input; it is fuzzed (FuzzParse,
// FuzzParseURI, FuzzFramer) and tested against the RFC 4475 and RFC 5118
// torture messages in testdata.
package sip
