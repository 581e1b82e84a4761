// Package sqlstore holds the durable location engines: bindings kept in
// SQLite (modernc.org/sqlite, pure Go) or PostgreSQL (pgx), so that
// registrations survive a restart and a kill -9.
//
// # Shape
//
// A [Store] is a [location.Memory] in front of a database. Reads (Lookup,
// Count, Range) never touch the database: the memory index answers them, and
// it is rebuilt from the database when the store opens. Writes go to both:
// Update computes the AOR's new set under the memory's lock for that AOR,
// queues the set to a single writer goroutine while still holding the lock,
// and returns only once the transaction holding the change has committed.
// The registrar therefore sends 200 OK only for a committed binding.
//
// The writer commits in groups: it takes every change waiting in the queue
// (up to a maximum, 1000 by default) and writes them in one transaction. No
// timer holds a group open: changes pile up while the previous commit is
// syncing, so a lone REGISTER pays one commit and a burst shares them. Each
// change replaces the AOR's rows whole (DELETE of the AOR, INSERT of its
// bindings), so a group keeps only the last change of each AOR; SQLite then
// writes the group in a few multi-row statements, PostgreSQL in one
// pipelined batch. If the database refuses one change's data (PostgreSQL
// will not store invalid UTF-8), the group is retried change by change and
// only that Update fails.
//
// Because changes are queued under the AOR's lock and the writer is one
// goroutine, two Updates of one AOR reach the database in the order memory
// applied them. If a commit fails, every Update in the group returns the
// error and each AOR's memory is reloaded from the database, unless a later
// change of that AOR is still queued (that change will write memory's state
// itself). Memory therefore never claims, for longer than a failed commit
// takes, what the database does not hold.
//
// # Durability
//
// SQLite runs in WAL mode. The default, [SyncFull] (synchronous=FULL),
// fsyncs the WAL at every commit, so an acknowledged binding survives power
// loss and an OS crash, not only a process crash. Group commit makes that
// affordable: one fsync serves a whole group. [SyncNormal] (synchronous=
// NORMAL) skips that fsync; a committed transaction is then in the OS page
// cache and still survives kill -9 of the process, but the last commits
// before a power cut may be lost. PostgreSQL's durability is the server's
// own (synchronous_commit).
//
// # Times on disk
//
// Expiry is stored in whole Unix seconds, rounded up, and Updated in Unix
// microseconds. Rounding the expiry up (and purging rows whose expiry is at
// or before the current second, rounded down) means the database never
// drops a binding that memory still holds live.
//
// A binding's ConnID names a TCP or TLS connection of the process that
// stored it; no connection survives the process, so loading zeroes it.
//
// # Sharing
//
// The store assumes one Parley process owns the bindings table: its memory
// index is the truth for reads. Servers sharing one PostgreSQL database need
// a schema each (search_path in the DSN).
package sqlstore
