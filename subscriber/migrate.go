package subscriber

// component names this package's rows in schema_migrations. The table is
// keyed by component so that other packages storing in the same database
// (the location store shares parley.db) keep their own version numbers.
const component = "subscriber"

// migrations are the schema changes in order; version n is migrations[n-1].
// They are append-only: a released entry is never edited, a change is a
// new entry. The SQL is the common subset of SQLite and PostgreSQL. Times
// are integer microseconds since 1970 because the two engines share no
// timestamp type that round-trips identically.
var migrations = []string{
	`CREATE TABLE subscribers (
		username   TEXT   NOT NULL,
		domain     TEXT   NOT NULL,
		ha1_md5    TEXT   NOT NULL,
		ha1_sha256 TEXT   NOT NULL,
		created_us BIGINT NOT NULL,
		PRIMARY KEY (domain, username)
	)`,
	// The version counter lets a server caching subscribers notice, with
	// one cheap read, a change made by another process (parley user).
	`CREATE TABLE subscriber_version (
		id      INTEGER NOT NULL PRIMARY KEY,
		version BIGINT  NOT NULL
	)`,
	`INSERT INTO subscriber_version (id, version) VALUES (1, 0)`,
}
