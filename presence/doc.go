// Package presence holds what a presence server (RFC 3856) knows of a
// presentity and how it says it: the event state compositor's store of
// published documents (RFC 3903), with engines in memory, SQLite and
// PostgreSQL, and Compose, which turns the published documents, the
// registrations and the calls of one user into the one PIDF document its
// watchers are notified with.
//
// The bodies live in subpackages: pidf (RFC 3863 with RPID), dialoginfo
// (RFC 4235, busy lamps) and mwi (RFC 3842, message waiting). Nothing here
// sends or receives SIP: the notifier reads these and sends NOTIFYs.
package presence
