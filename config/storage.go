package config

import (
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// StorageConfig says where subscribers and registrations are kept.
type StorageConfig struct {
	// Engine is sqlite (a file in data_dir: registrations survive a
	// restart and a crash), postgres (a database several nodes can
	// share), or memory (nothing survives; no subscribers, so no auth).
	Engine Engine `yaml:"engine" reload:"restart"`
	// DSN is the PostgreSQL connection string, for engine postgres.
	DSN string `yaml:"dsn" reload:"restart"`
	// Location is where registrations are kept when not in the
	// engine's own store: redis, which several nodes can share. Empty
	// (the default) is the engine's own store.
	Location Engine `yaml:"location" reload:"restart"`
	// RedisURL is redis://HOST:PORT/DB (rediss:// for TLS, user and
	// password before the host), for location redis; ?master_set=NAME
	// makes HOST:PORT a Sentinel, and addr=HOST:PORT adds Sentinels or
	// Redis Cluster seeds.
	RedisURL string `yaml:"redis_url" reload:"restart"`
	// RedisPrefix starts every key Parley keeps in Redis, so that
	// several deployments (or a staging and a production cluster) can
	// share one Redis or Redis Cluster. Every node of one cluster must
	// use the same prefix: a node with another one sees none of their
	// bindings. It may not hold braces, which would change the keys'
	// hash tags and so their Redis Cluster slots.
	RedisPrefix string `yaml:"redis_prefix" reload:"restart"`
}

// DefaultRedisPrefix is storage.redis_prefix's default.
const DefaultRedisPrefix = "parley:"

// LocationEngine is the engine that keeps registrations.
func (s StorageConfig) LocationEngine() Engine {
	if s.Location == "" {
		return s.Engine
	}
	return s.Location
}

// Engine names a storage engine.
type Engine string

// The storage engines.
const (
	EngineSQLite   Engine = "sqlite"
	EnginePostgres Engine = "postgres"
	EngineMemory   Engine = "memory"
	EngineRedis    Engine = "redis" // registrations only
)

// AuthConfig is digest authentication (RFC 3261 §22).
type AuthConfig struct {
	// Enabled demands credentials of subscribers (parley user add) for
	// the methods listed. Off, anyone may register and call.
	Enabled bool `yaml:"enabled" reload:"live"`
	// Methods are challenged; ACK and CANCEL never can be.
	Methods []string `yaml:"methods" reload:"live"`
	// Algorithms are offered in this order and only they are accepted.
	// The default is MD5 alone: baresip 1.0 and other libre-based phones
	// give up on a 401 that offers anything else, wherever it stands.
	// [SHA-256, MD5] is RFC 8760's advice for fleets whose phones all
	// take the first algorithm they support.
	Algorithms []string `yaml:"algorithms" reload:"live"`
	// AllowUnauthenticatedToLocal lets requests from other domains reach
	// our users without credentials: how other providers' callers call in.
	AllowUnauthenticatedToLocal bool `yaml:"allow_unauthenticated_to_local" reload:"live"`
	// NonceTTL is how long a challenge's nonce stays valid.
	NonceTTL Duration `yaml:"nonce_ttl" reload:"live"`
	// MaxFailures within FailureWindow from one address block it for
	// BlockFor: password guessing stops there.
	MaxFailures   int      `yaml:"max_failures" reload:"live"`
	FailureWindow Duration `yaml:"failure_window" reload:"live"`
	BlockFor      Duration `yaml:"block_for" reload:"live"`
}

// storage checks the storage block.
func (ch *checker) storage(s StorageConfig, a AuthConfig) {
	checkEnum(ch, "storage.engine", s.Engine, EngineSQLite, EnginePostgres, EngineMemory)
	if s.Engine == EnginePostgres && s.DSN == "" {
		ch.either(
			alt{"storage.dsn", "must be set for storage.engine postgres, like postgres://parley@127.0.0.1/parley"},
			alt{"storage.engine", "postgres needs storage.dsn, like postgres://parley@127.0.0.1/parley"},
		)
	}
	if s.Engine != EnginePostgres && s.DSN != "" {
		ch.add("storage.dsn", "is only used with storage.engine postgres, which is %q here", s.Engine)
	}
	if s.Engine == EnginePostgres && s.DSN != "" {
		if msg := checkPostgresDSN(s.DSN); msg != "" {
			ch.add("storage.dsn", "%s", msg)
		}
	}
	ch.location(s)
	if a.Enabled && s.Engine == EngineMemory {
		ch.either(
			alt{"auth.enabled", "needs a subscriber database: storage.engine sqlite or postgres, not memory"},
			alt{"storage.engine", "memory keeps no subscribers, so auth.enabled cannot be true"},
		)
	}
}

// location checks where registrations go.
func (ch *checker) location(s StorageConfig) {
	if s.Location != "" && s.Location != EngineRedis && s.Location != s.Engine {
		ch.add("storage.location", "must be redis, or left out to keep registrations in storage.engine's store (%s); got %q", s.Engine, string(s.Location))
	}
	switch {
	case s.Location == EngineRedis && s.RedisURL == "":
		ch.either(
			alt{"storage.redis_url", "must be set for storage.location redis, like redis://127.0.0.1:6379/0"},
			alt{"storage.location", "redis needs storage.redis_url, like redis://127.0.0.1:6379/0"},
		)
	case s.Location != EngineRedis && s.RedisURL != "":
		ch.add("storage.redis_url", "is only used with storage.location redis, which is not set")
	case s.RedisURL != "":
		if msg := checkRedisURL(s.RedisURL); msg != "" {
			ch.add("storage.redis_url", "%s, like redis://127.0.0.1:6379/0; got %q", msg, redacted(s.RedisURL))
		}
	}
	switch {
	case s.Location != EngineRedis && s.RedisPrefix != DefaultRedisPrefix:
		ch.add("storage.redis_prefix", "is only used with storage.location redis, which is not set")
	case strings.ContainsAny(s.RedisPrefix, "{}"):
		ch.add("storage.redis_prefix", "may not hold { or }, which would change the keys' Redis Cluster hash tags; got %q", s.RedisPrefix)
	case len(s.RedisPrefix) > 64:
		ch.add("storage.redis_prefix", "must be at most 64 bytes, it starts every key; got %d", len(s.RedisPrefix))
	}
}

// redacted is a URL fit for an error message: its password, if it has
// one and it parses, replaced by xxxxx.
func redacted(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		if i := strings.LastIndexByte(raw, '@'); i >= 0 {
			return "…" + raw[i:] // whatever came before the host may be a password
		}
		return raw
	}
	return u.Redacted()
}

// checkRedisURL returns what is wrong with a Redis URL, or "".
func checkRedisURL(raw string) string {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return "must be a URL"
	case u.Scheme != "redis" && u.Scheme != "rediss":
		return "must start with redis:// or rediss://"
	case u.Hostname() == "":
		return "must name a host"
	case u.Fragment != "":
		return "takes no fragment"
	}
	if msg := checkRedisQuery(u.RawQuery); msg != "" {
		return msg
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return "port must be between 1 and 65535"
		}
	}
	if db := strings.TrimPrefix(u.Path, "/"); db != "" {
		if n, err := strconv.Atoi(db); err != nil || n < 0 {
			return "path must be a database number"
		}
	}
	return ""
}

// checkPostgresDSN checks what can be told of a PostgreSQL connection
// string without connecting: a URL must be one PostgreSQL's driver reads,
// so that a mysql:// DSN copied from another server's config fails here,
// naming the key, rather than when serve first opens the database. The
// keyword form (host=... dbname=...) is passed on as it is.
func checkPostgresDSN(dsn string) string {
	scheme, _, isURL := strings.Cut(dsn, "://")
	if !isURL {
		return ""
	}
	if scheme != "postgres" && scheme != "postgresql" {
		return fmt.Sprintf("must be a PostgreSQL URL starting with postgres:// (or keyword=value pairs like host=127.0.0.1 dbname=parley); got a %s:// URL", scheme)
	}
	if _, err := url.Parse(dsn); err != nil {
		return "must be a URL like postgres://parley@127.0.0.1/parley"
	}
	return ""
}

// checkRedisQuery checks the query of a Redis URL: only what names more
// servers is passed on, master_set (the Sentinel name of the primary,
// the host then being a Sentinel) and addr (more Sentinels, or more
// seed nodes of a Redis Cluster, as HOST:PORT).
func checkRedisQuery(raw string) string {
	q, err := url.ParseQuery(raw)
	if err != nil {
		return "query must be key=value pairs"
	}
	for key, vals := range q {
		switch key {
		case "master_set":
			if len(vals) != 1 || vals[0] == "" {
				return "master_set must be given once, the Sentinel name of the primary"
			}
		case "addr":
			for _, v := range vals {
				if _, err := splitAddr(v, 1); err != nil {
					return fmt.Sprintf("addr %q: %v", v, err)
				}
			}
		default:
			return fmt.Sprintf("query key %q is not one of master_set, addr", key)
		}
	}
	return ""
}

// cdr checks the cdr block: the node name goes into every record and
// the CSV export, so it is kept short and printable.
func (ch *checker) cdr(c CDRConfig) {
	switch {
	case len(c.Node) > 64:
		ch.add("cdr.node", "must be at most 64 characters, got %d", len(c.Node))
	case strings.ContainsFunc(c.Node, func(r rune) bool { return r < ' ' || r == 0x7f }):
		ch.add("cdr.node", "must not contain control characters, got %q", c.Node)
	}
}

// auth checks the auth block.
func (ch *checker) auth(a AuthConfig) {
	ch.methods("auth.methods", a.Methods)
	if len(a.Algorithms) == 0 {
		ch.add("auth.algorithms", "must name at least one of SHA-256, MD5")
	}
	seen := map[string]bool{}
	for i, alg := range a.Algorithms {
		key := "auth.algorithms[" + strconv.Itoa(i) + "]"
		switch {
		case alg != "SHA-256" && alg != "MD5":
			ch.add(key, "must be SHA-256 or MD5, got %q", alg)
		case seen[alg]:
			ch.add(key, "%s is listed twice", alg)
		}
		seen[alg] = true
	}
	positive(ch, "auth.nonce_ttl", a.NonceTTL)
	positive(ch, "auth.failure_window", a.FailureWindow)
	positive(ch, "auth.block_for", a.BlockFor)
	atLeast(ch, "auth.max_failures", a.MaxFailures, 1)
}

// methods checks a list of methods to challenge.
func (ch *checker) methods(key string, methods []string) {
	for i, m := range methods {
		key := key + "[" + strconv.Itoa(i) + "]"
		switch {
		case m == "ACK" || m == "CANCEL":
			ch.add(key, "%s cannot be challenged (RFC 3261 §22.1)", m)
		case m == "" || strings.ToUpper(m) != m || strings.ContainsAny(m, " \t,"):
			ch.add(key, "must be a method name in capitals, like INVITE; got %q", m)
		}
	}
}

// AuthOverride is one domain's auth policy, for a tenant that needs its
// own (say, no calls in from other providers). Keys it leaves out keep
// the auth block's values.
type AuthOverride struct {
	// Methods replaces auth.methods for requests from this domain.
	Methods []string `yaml:"methods,omitempty"`
	// AllowUnauthenticatedToLocal replaces the auth block's value.
	AllowUnauthenticatedToLocal *bool `yaml:"allow_unauthenticated_to_local,omitempty"`
}

// authOverrides checks each domain's auth override like the auth block.
func (ch *checker) authOverrides(c *Config, domains map[string]int) {
	for _, dom := range ch.overrideDomains("auth_overrides", mapKeys(c.AuthOverrides), domains) {
		ch.methods("auth_overrides."+dom+".methods", c.AuthOverrides[dom].Methods)
	}
}

// overrideDomains checks the keys of a per-domain override map (section)
// and returns, sorted, those that are domain names: a key that is not in
// domains (when that is set) is reported, as it would never apply.
func (ch *checker) overrideDomains(section string, keys []string, domains map[string]int) []string {
	sort.Strings(keys)
	var valid []string
	for _, dom := range keys {
		prefix := section + "." + dom
		if !validDomain(dom) {
			ch.add(prefix, "%q is not a domain name or IP address", dom)
			continue
		}
		if _, ok := domains[strings.ToLower(dom)]; len(domains) > 0 && !ok {
			ch.add(prefix, "%s is not in domains, so this override would never apply", dom)
		}
		valid = append(valid, dom)
	}
	return valid
}

// mapKeys returns the keys of a string-keyed map.
func mapKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	return keys
}
