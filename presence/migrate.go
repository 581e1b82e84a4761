package presence

// component names this package's rows in schema_migrations.
const component = "presence"

// Schema changes per engine, in order; version n is the n-th. They are
// append-only. Times are integer microseconds since 1970; bodies are
// bytes, since nothing guarantees a published body is valid UTF-8.
var (
	sqliteMigrations = []string{`CREATE TABLE publications (
		etag         TEXT    NOT NULL PRIMARY KEY,
		entity       TEXT    NOT NULL,
		event        TEXT    NOT NULL,
		content_type TEXT    NOT NULL,
		body         BLOB    NOT NULL,
		expires_us   INTEGER NOT NULL,
		modified_us  INTEGER NOT NULL
	);
	CREATE INDEX publications_owner ON publications (entity, event);
	CREATE INDEX publications_expires ON publications (expires_us);`}
	postgresMigrations = []string{`CREATE TABLE publications (
		etag         TEXT   NOT NULL PRIMARY KEY,
		entity       TEXT   NOT NULL,
		event        TEXT   NOT NULL,
		content_type TEXT   NOT NULL,
		body         BYTEA  NOT NULL,
		expires_us   BIGINT NOT NULL,
		modified_us  BIGINT NOT NULL
	);
	CREATE INDEX publications_owner ON publications (entity, event);
	CREATE INDEX publications_expires ON publications (expires_us);`}
)
