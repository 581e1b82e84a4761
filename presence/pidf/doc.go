// Package pidf holds the Presence Information Data Format (RFC 3863) with
// the data model's person (RFC 4479) and the common rich presence
// activities (RPID, RFC 4480): the model a presence server composes, the
// parser for what phones publish and the builder for what it notifies.
//
// Parsing is tolerant because phones publish loosely: elements are matched
// by local name in whatever namespace prefix the phone chose (or none),
// unknown elements and attributes are skipped, a person may come before the
// tuples (baresip), a basic status other than open or closed (baresip's
// "unknown") means none, and timestamps may lack a zone. What a presence
// server must act on is checked: the root is <presence> with an entity,
// tuples carry an id. Building is strict: Marshal writes
// only documents that validate against the RFC schemas, which the tests
// check with xmllint against testdata/schema.
package pidf
