// Package b2bua is Parley's back-to-back user agent: every call it takes
// is two dialogs (package dialog), the A leg where Parley is the callee's
// user agent server towards the caller, and the B leg where Parley is the
// caller's user agent client towards the callee, each with its own
// Call-ID, tags, CSeq and Contact. Nothing of one leg's network crosses to
// the other (no Via, Record-Route, Route, Contact, Call-ID or tag); only
// the headers Config.PassHeaders names, and the body, which passes end to
// end unchanged (Config.Body is the seam where media anchoring would
// rewrite it).
//
// A B leg leaves through the outbound service (a Flight per branch, so
// that every response comes back); its destinations are a Plan's, tried
// in order, or the callee's bindings, forked in parallel. Requests inside
// a call reach the B2BUA because they are addressed to Parley's Contact:
// the stage Dialogs, placed before the proxy's own CANCEL and route
// stages, takes them (and the ACKs and CANCELs of its calls) before any
// proxy logic or authentication sees them.
//
// Every event of one call runs through the call's queue, one at a time,
// so a Call's state needs no lock beyond the B2BUA's index of calls.
package b2bua
