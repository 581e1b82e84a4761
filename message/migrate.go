package message

// component names this package's rows in schema_migrations.
const component = "message"

// Schema changes per engine, in order; version n is the n-th. They are
// append-only. Times are integer microseconds since 1970; bodies are
// bytes, since nothing guarantees a MESSAGE body is valid UTF-8. size is
// kept beside the body so that a quota check reads no bodies.
var (
	sqliteMigrations = []string{`CREATE TABLE offline_messages (
		id           INTEGER PRIMARY KEY AUTOINCREMENT,
		usr          TEXT    NOT NULL,
		from_hdr     TEXT    NOT NULL,
		to_hdr       TEXT    NOT NULL,
		date_hdr     TEXT    NOT NULL,
		content_type TEXT    NOT NULL,
		body         BLOB    NOT NULL,
		size         INTEGER NOT NULL,
		stored_us    INTEGER NOT NULL
	);
	CREATE INDEX offline_messages_user ON offline_messages (usr, id);
	CREATE INDEX offline_messages_stored ON offline_messages (stored_us);
	CREATE TABLE offline_message_leases (
		usr      TEXT    NOT NULL PRIMARY KEY,
		holder   TEXT    NOT NULL,
		until_us INTEGER NOT NULL
	);`}
	postgresMigrations = []string{`CREATE TABLE offline_messages (
		id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
		usr          TEXT   NOT NULL,
		from_hdr     TEXT   NOT NULL,
		to_hdr       TEXT   NOT NULL,
		date_hdr     TEXT   NOT NULL,
		content_type TEXT   NOT NULL,
		body         BYTEA  NOT NULL,
		size         BIGINT NOT NULL,
		stored_us    BIGINT NOT NULL
	);
	CREATE INDEX offline_messages_user ON offline_messages (usr, id);
	CREATE INDEX offline_messages_stored ON offline_messages (stored_us);
	CREATE TABLE offline_message_leases (
		usr      TEXT   NOT NULL PRIMARY KEY,
		holder   TEXT   NOT NULL,
		until_us BIGINT NOT NULL
	);`}
)
