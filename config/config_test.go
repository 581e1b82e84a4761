package config

import (
	"bufio"
	"bytes"
	"errors"
	"log/slog"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// lines joins its arguments as lines, so that a test's line numbers are its
// argument positions.
func lines(ls ...string) []byte {
	return []byte(strings.Join(ls, "\n") + "\n")
}

func dur(s string) Duration {
	d, err := time.ParseDuration(s)
	if err != nil {
		panic(err)
	}
	return Duration(d)
}

func ptr[T any](v T) *T { return &v }

func TestDefaultValidates(t *testing.T) {
	if err := Default().Validate(); err != nil {
		t.Fatalf("defaults do not validate:\n%v", err)
	}
	if _, err := Parse("t.yaml", lines("listen: [tls:0.0.0.0:5061]")); err != nil {
		t.Errorf("tls listener without certificate files (self-signed): %v", err)
	}
	for name, src := range map[string]string{
		"empty":         "",
		"comments only": "# nothing here\n",
		"null document": "~\n",
		"empty mapping": "{}\n",
		"null sections": "registrar:\nproxy: ~\n",
		"trailing ---":  "---\n{}\n---\n# end\n",
	} {
		cfg, err := Parse("t.yaml", []byte(src))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !reflect.DeepEqual(cfg, Default()) {
			t.Errorf("%s: got %+v, want the defaults", name, cfg)
		}
	}
}

func TestDefaultIsACopy(t *testing.T) {
	a := Default()
	a.Listen[0].Port = 1
	a.DomainOverrides["x"] = RegistrarOverride{}
	b := Default()
	if b.Listen[0].Port != 5060 || len(b.DomainOverrides) != 0 {
		t.Fatal("Default shares state between calls")
	}
}

// schemaKeys lists the dotted names of every leaf key (see Keys); lists and
// maps count as leaves.
func schemaKeys() []string {
	var names []string
	for _, k := range Keys() {
		names = append(names, k.Name)
	}
	return names
}

// fieldAt returns the field of v at a dotted key.
func fieldAt(v reflect.Value, key string) reflect.Value {
	for name := range strings.SplitSeq(key, ".") {
		found := false
		for i := range v.NumField() {
			if yamlName(v.Type().Field(i)) == name {
				v, found = v.Field(i), true
				break
			}
		}
		if !found {
			return reflect.Value{}
		}
	}
	return v
}

// TestDefaultsSetEveryKey keeps defaults.yaml the one place defaults live: a
// key missing from it would silently default to Go's zero value.
func TestDefaultsSetEveryKey(t *testing.T) {
	var doc yaml.Node
	if err := yaml.Unmarshal(defaultsYAML, &doc); err != nil {
		t.Fatal(err)
	}
	d := newDecoder()
	d.decode(doc.Content[0], reflect.ValueOf(new(Config)).Elem(), "")
	for _, k := range schemaKeys() {
		if _, ok := d.pos[k]; !ok {
			t.Errorf("defaults.yaml does not set %s", k)
		}
	}
}

func fullConfig() *Config {
	return &Config{
		Listen: []Listener{
			{Proto: ProtoUDP, Host: "192.0.2.10", Port: 5070},
			{Proto: ProtoTCP, Host: "2001:db8::1", Port: 5070},
			{Proto: ProtoTLS, Host: "0.0.0.0", Port: 5061, Advertise: "203.0.113.5:5061"},
			{Proto: ProtoUDP, Host: "10.0.0.2", Port: 5060, Advertise: "sip.example.com:5060"},
		},
		Domains:         []string{"example.com", "Example.org", "192.0.2.10"},
		Aliases:         []string{"pbx.example.com", "192.0.2.11"},
		DataDir:         "/var/lib/parley",
		Mode:            ModeStateless,
		LogLevel:        LogDebug,
		LogFormat:       LogJSON,
		Trace:           true,
		ServerHeader:    "Parley 0.1",
		ShutdownTimeout: dur("10s"),
		Registrar: RegistrarConfig{
			DefaultExpires:  dur("1800s"),
			MinExpires:      dur("120s"),
			MaxExpires:      dur("7200s"),
			BelowMin:        BelowMinRaise,
			MaxContacts:     0,
			OverMaxContacts: OverMaxReplaceOldest,
			FlowTimer:       dur("30s"),
		},
		Proxy: ProxyConfig{Forking: ForkingSerial, RecordRoute: false, TimerC: dur("200s"), Relay: RelayOpen},
		Transaction: TransactionConfig{
			T1: dur("250ms"), T2: dur("2s"), T4: dur("3s"), MaxTransactions: 5000, MaxInFlight: 2000,
		},
		TCP: TCPConfig{
			IdleTimeout: dur("60s"), MaxConnections: 500, MaxConnectionsPerIP: 20, MaxBuffer: 131072,
			MessageTimeout: dur("5s"),
		},
		TLS: TLSConfig{
			CertFile: "/etc/parley/cert.pem", KeyFile: "/etc/parley/key.pem", ClientAuth: ClientAuthRequest,
			HandshakeTimeout: dur("3s"),
		},
		WebSocket: WebSocketConfig{
			AllowedOrigins: []string{"https://phone.example.com", "http://127.0.0.1:8000"},
			PingInterval:   Duration(20 * time.Second), HandshakeTimeout: Duration(4 * time.Second), MaxRequestBytes: 8192,
		},
		Limits: LimitsConfig{MaxMessageSize: 32768, MaxMemory: 536870912, Calls: CallLimitsConfig{
			PerUser: 2, PerDomain: 50, PerTrunk: 30,
			Users: map[string]int{"alice@example.com": 4}, Domains: map[string]int{"example.org": 10},
			Trunks: map[string]int{"provider": 8}, RetryAfter: dur("60s"),
		}},
		DomainOverrides: map[string]RegistrarOverride{
			"example.com": {MinExpires: ptr(dur("30s"))},
			"example.org": { // merged from the registrar block with <<: *reg
				DefaultExpires:  ptr(dur("1800s")),
				MinExpires:      ptr(dur("120s")),
				MaxExpires:      ptr(dur("7200s")),
				BelowMin:        ptr(BelowMinRaise),
				MaxContacts:     ptr(3),
				OverMaxContacts: ptr(OverMaxReplaceOldest),
				FlowTimer:       ptr(dur("30s")),
			},
		},
		Admin: AdminConfig{
			Listen: "[::]:9090", Token: "0123456789abcdef-token", CaptureMessages: 500, CaptureBytes: 1048576,
		},
		HEP: HEPConfig{Address: "homer.example.com:9060", AgentID: 2001, Password: "homer-key"},
		AuthOverrides: map[string]AuthOverride{
			"example.org": {Methods: []string{"REGISTER"}, AllowUnauthenticatedToLocal: ptr(true)},
		},
		Storage: StorageConfig{Engine: EnginePostgres, DSN: "postgres://parley@127.0.0.1/parley", Location: EngineRedis, RedisURL: "redis://127.0.0.1:6379/2", RedisPrefix: "acme-prod:"},
		Auth: AuthConfig{
			Enabled: true, Methods: []string{"REGISTER", "INVITE"}, Algorithms: []string{"SHA-256", "MD5"}, AllowUnauthenticatedToLocal: false,
			NonceTTL: Duration(120 * time.Second), MaxFailures: 5,
			FailureWindow: Duration(300 * time.Second), BlockFor: Duration(time.Hour),
		},
		Security: SecurityConfig{
			Rate: 50, Burst: 80, BanAfter: 0, BanFor: 0, MaxSources: 5000,
			Trusted: []string{"192.0.2.0/24", "2001:db8::7"}, TrustedSkipAuth: true,
			DropUserAgents: []string{"badscanner"},
		},
		CDR:     CDRConfig{Enabled: true, Node: "edge-1"},
		Cluster: ClusterConfig{Node: "node-1", Address: "192.0.2.10:5070", TakeoverAfter: dur("45s")},
		Gateways: []GatewayConfig{
			{Name: "provider", Address: "sip:sip.provider.example:5060", Transport: "udp", Username: "4930123456",
				Password: "trunk-secret", Registrar: "sip:reg.provider.example",
				Expires: dur("600s"), ContactUser: "office", IdentityHeader: "pai", IdentityUser: "4930123456", Sources: []string{"198.51.100.0/28", "2001:db8:5::1"}},
			{Name: "backup", Address: "192.0.2.50:5080"},
		},
		Routes: []RouteConfig{
			{Name: "emergency", Regex: MustRegexp("^(11[02])$"), Replace: "$1", Gateways: []string{"provider", "backup"}, B2BUA: true},
			{Name: "national", Prefix: "0", Domain: "example.com", CountryCode: "49", NationalPrefix: "0",
				InternationalPrefix: "00", Gateways: []string{"provider"}},
			{Name: "extensions", Prefix: "2", Strip: 1, Local: true},
		},
		DIDs: map[string]string{"+4930123456": "alice", "+4930123457": "bob@example.com"},
		Messages: MessagesConfig{
			Store: false, MaxSize: 2000, MaxCount: 20, MaxBytes: 40000, MaxAge: Duration(24 * time.Hour),
		},
		Presence: PresenceConfig{Enabled: false, MinExpires: dur("30s"), MaxExpires: dur("7200s"),
			DefaultExpires: dur("600s"), NotifyThrottle: dur("250ms")},
		B2BUA: B2BUAConfig{PassHeaders: []string{"P-Asserted-Identity", "X-Account"}, PassXHeaders: true,
			SessionExpires: dur("600s"), MinSE: dur("120s"), MaxCallDuration: dur("4h"), Inbound: true},
	}
}

func TestLoadFull(t *testing.T) {
	got, err := Load("testdata/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := fullConfig()
	gv, wv := reflect.ValueOf(got).Elem(), reflect.ValueOf(want).Elem()
	for i := range gv.NumField() {
		if !reflect.DeepEqual(gv.Field(i).Interface(), wv.Field(i).Interface()) {
			t.Errorf("%s:\n got %+v\nwant %+v", gv.Type().Field(i).Name, gv.Field(i).Interface(), wv.Field(i).Interface())
		}
	}
	// Every key must differ from its default, or the file does not show
	// that the key is decoded at all.
	def := reflect.ValueOf(Default()).Elem()
	for _, k := range schemaKeys() {
		if reflect.DeepEqual(fieldAt(gv, k).Interface(), fieldAt(def, k).Interface()) {
			t.Errorf("testdata/full.yaml leaves %s at its default", k)
		}
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load("testdata/no-such-file.yaml")
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("got %v, want a not-exist error", err)
	}
}

// TestParseErrors checks that each problem is reported at the right line
// and key: the whole point of the package's error handling.
func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		src  []byte
		line int
		key  string // "" for YAML syntax errors
		msg  string // a substring of the problem
		n    int    // number of errors; 0 means 1
	}{
		// Unknown keys.
		{"unknown top-level key", lines("listn: []"), 1, "listn", "unknown key (did you mean listen?)", 0},
		{"unknown nested key", lines("registrar:", "  max_expires: 7200s", "  min_expire: 30s"), 3, "registrar.min_expire", "did you mean min_expires?", 0},
		{"unknown key lists valid ones", lines("tls:", "  certificate: x"), 2, "tls.certificate", "valid keys: cert_file, key_file, client_auth", 0},
		{"unknown key in override", lines("domain_overrides:", "  example.com:", "    max_contact: 3"), 3, "domain_overrides.example.com.max_contact", "unknown key", 0},
		{"unknown key in listener", lines("listen:", "  - udp:0.0.0.0:5060", "  - adress: tcp:0.0.0.0:5060"), 3, "listen[1].adress", "did you mean address?", 0},
		{"merge of a scalar", lines("registrar:", "  <<: 5"), 2, "registrar", "a merge (<<) needs a mapping or a list of mappings, got 5", 0},
		{"duplicate key", lines("mode: stateful", "trace: true", "mode: stateless"), 3, "mode", "duplicate key; first set on line 1", 0},

		// Wrong types.
		{"string for int", lines("registrar:", "  max_contacts: ten"), 2, "registrar.max_contacts", `must be a whole number, got "ten"`, 0},
		{"float for int", lines("limits:", "  max_message_size: 1.5"), 2, "limits.max_message_size", "must be a whole number, got 1.5", 0},
		{"quoted int", lines("transaction:", `  max_transactions: "5"`), 2, "transaction.max_transactions", `must be a whole number, got "5" (remove the quotes)`, 0},
		{"quoted bool", lines("proxy:", `  record_route: 'false'`), 2, "proxy.record_route", `must be true or false, got "false" (remove the quotes)`, 0},
		{"int overflow", lines("tcp:", "  max_buffer: 99999999999999999999"), 2, "tcp.max_buffer", "must be a whole number", 0},
		{"string for bool", lines("", "trace: yes"), 2, "trace", `must be true or false, got "yes"`, 0},
		{"bool for string", lines("server_header: true"), 1, "server_header", "must be a string, got true (quote it", 0},
		{"number for string", lines("data_dir: 2024"), 1, "data_dir", "must be a string, got 2024 (quote it", 0},
		{"list for mapping", lines("registrar: [1, 2]"), 1, "registrar", "must be a mapping of keys, got a list", 0},
		{"scalar for list", lines("domains: example.com"), 1, "domains", `must be a list, got "example.com"`, 0},
		{"mapping for string in list", lines("domains:", "  - a.example", "  - {b: c}"), 3, "domains[1]", "must be a string, got a mapping", 0},
		{"empty list item", lines("listen:", "  - udp:0.0.0.0:5060", "  -"), 3, "listen[1]", "empty list item", 0},
		{"top level not a mapping", lines("- a"), 1, "", "must be a mapping of keys, got a list", 0},
		{"override not a mapping", lines("domain_overrides: [a]"), 1, "domain_overrides", "must be a mapping, got a list", 0},

		// Call records.
		{"cdr node too long", lines("cdr:", "  node: "+strings.Repeat("n", 65)), 2, "cdr.node", "must be at most 64 characters, got 65", 0},
		{"messages max_size zero", lines("messages:", "  max_size: 0"), 2, "messages.max_size", "must be at least 1, got 0", 0},
		{"messages quota below one message", lines("messages:", "  max_size: 100", "  max_bytes: 99"), 3, "messages.max_bytes", "must be at least messages.max_size (100), or the largest message could never be stored, got 99", 0},
		{"messages max_age too short", lines("messages:", "  max_age: 30s"), 2, "messages.max_age", "must be at least 60s, got 30s", 0},
		{"presence min above default", lines("presence:", "  min_expires: 7200s"), 2, "presence.min_expires", "must not exceed presence.default_expires (3600s), got 7200s", 0},
		{"presence expires not whole seconds", lines("presence:", "  max_expires: 1500ms"), 2, "presence.max_expires", "must be whole seconds, as SIP Expires counts seconds; got 1500ms", 0},
		{"presence throttle too long", lines("presence:", "  notify_throttle: 2m"), 2, "presence.notify_throttle", "must be between 0s and 60s, got 120s", 0},
		{"cdr node with a tab", lines("cdr:", `  node: "a\tb"`), 2, "cdr.node", "must not contain control characters", 0},

		// Durations.
		{"bad duration", lines("registrar:", "  default_expires: 3600s", "  min_expires: abc"), 3, "registrar.min_expires", `must be a duration like 60s, got "abc"`, 0},
		{"duration without unit", lines("transaction:", "  t1: 500"), 2, "transaction.t1", "must be a duration with a unit, like 60s or 500ms, got 500", 0},
		{"duration as list", lines("shutdown_timeout: [1s]"), 1, "shutdown_timeout", "must be a duration like 60s, got a list", 0},
		{"bad duration in override", lines("domain_overrides:", "  example.com:", "    max_expires: 1 day"), 3, "domain_overrides.example.com.max_expires", `got "1 day"`, 0},

		// Enums.
		{"bad mode", lines("mode: proxy"), 1, "mode", `must be one of stateful, stateless, b2bua; got "proxy"`, 0},
		{"b2bua passes Via", lines("b2bua:", "  pass_headers: [P-Asserted-Identity, Via]"), 2, "b2bua.pass_headers[1]", "Via belongs to its leg", 0},
		{"b2bua header name with colon", lines("b2bua:", "  pass_headers: [\"X-A: b\"]"), 2, "b2bua.pass_headers[0]", "is not a header name", 0},
		{"bad log level", lines("log_level: verbose"), 1, "log_level", `must be one of debug, info, warn, error; got "verbose"`, 0},
		{"bad log format", lines("log_format: logfmt"), 1, "log_format", `must be one of text, json; got "logfmt"`, 0},
		{"bad below_min", lines("registrar:", "  below_min: rais"), 2, "registrar.below_min", `must be one of reject, raise; got "rais"`, 0},
		{"bad over_max_contacts", lines("registrar:", "  over_max_contacts: replace"), 2, "registrar.over_max_contacts", "reject, replace-oldest", 0},
		{"negative flow_timer", lines("registrar:", "  flow_timer: -30s"), 2, "registrar.flow_timer", "must not be negative, got -30s", 0},
		{"flow_timer in milliseconds", lines("registrar:", "  flow_timer: 1500ms"), 2, "registrar.flow_timer", "must be whole seconds", 0},
		{"bad forking", lines("proxy:", "  forking: sequential"), 2, "proxy.forking", "parallel, serial, auto", 0},
		{"bad relay", lines("proxy:", "  relay: closed"), 2, "proxy.relay", `must be one of domains, open; got "closed"`, 0},
		{"bad client_auth", lines("tls:", "  client_auth: optional"), 2, "tls.client_auth", "none, request, require", 0},
		{"bad enum in override", lines("domain_overrides:", "  example.com:", "    below_min: never"), 3, "domain_overrides.example.com.below_min", "reject, raise", 0},

		// Listeners.
		{"bad storage engine", lines("storage:", "  engine: mysql"), 2, "storage.engine", "sqlite, postgres, memory", 0},
		{"postgres without dsn", lines("storage:", "  engine: postgres"), 2, "storage.engine", "postgres needs storage.dsn", 0},
		{"mysql dsn", lines("storage:", "  engine: postgres", "  dsn: mysql://parley@127.0.0.1/parley"), 3, "storage.dsn", "must be a PostgreSQL URL starting with postgres://", 0},
		{"postgres dsn not a url", lines("storage:", "  engine: postgres", "  dsn: postgres://parley@127.0.0.1:port/parley"), 3, "storage.dsn", "must be a URL like postgres://", 0},
		{"bad location", lines("storage:", "  location: cassandra"), 2, "storage.location", `must be redis, or left out to keep registrations in storage.engine's store (sqlite); got "cassandra"`, 0},
		{"redis without url", lines("storage:", "  location: redis"), 2, "storage.location", "redis needs storage.redis_url", 0},
		{"redis url without redis", lines("storage:", "  redis_url: redis://127.0.0.1:6379/0"), 2, "storage.redis_url", "only used with storage.location redis", 0},
		{"redis url scheme", lines("storage:", "  location: redis", "  redis_url: http://127.0.0.1:6379/0"), 3, "storage.redis_url", "must start with redis:// or rediss://", 0},
		{"redis url database", lines("storage:", "  location: redis", "  redis_url: redis://127.0.0.1:6379/zero"), 3, "storage.redis_url", "path must be a database number", 0},
		{"redis url port", lines("storage:", "  location: redis", "  redis_url: redis://127.0.0.1:99999/0"), 3, "storage.redis_url", "port must be between 1 and 65535", 0},
		{"redis url password kept out", lines("storage:", "  location: redis", "  redis_url: redis://u:s3cret@127.0.0.1:6379/x"), 3, "storage.redis_url", `got "redis://u:xxxxx@127.0.0.1:6379/x"`, 0},
		{"redis url host", lines("storage:", "  location: redis", "  redis_url: redis:///0"), 3, "storage.redis_url", "must name a host", 0},
		{"redis prefix brace", lines("storage:", "  location: redis", "  redis_url: redis://127.0.0.1:6379/0", "  redis_prefix: 'a{b}:'"), 4, "storage.redis_prefix", "may not hold { or }", 0},
		{"redis prefix long", lines("storage:", "  location: redis", "  redis_url: redis://127.0.0.1:6379/0", "  redis_prefix: "+strings.Repeat("p", 65)), 4, "storage.redis_prefix", "at most 64 bytes", 0},
		{"redis prefix without redis", lines("storage:", "  redis_prefix: 'acme:'"), 2, "storage.redis_prefix", "only used with storage.location redis", 0},
		{"auth on memory", lines("storage:", "  engine: memory", "auth:", "  enabled: true"), 4, "auth.enabled", "needs a subscriber database", 0},
		{"ACK challenged", lines("auth:", "  methods: [INVITE, ACK]"), 2, "auth.methods[1]", "ACK cannot be challenged", 0},
		{"unknown algorithm", lines("auth:", "  algorithms: [SHA-512]"), 2, "auth.algorithms[0]", "must be SHA-256 or MD5", 0},
		{"ACK in an auth override", lines("auth_overrides:", "  example.com:", "    methods: [ACK]"), 3, "auth_overrides.example.com.methods[0]", "ACK cannot be challenged", 0},
		{"lower-case method", lines("auth:", "  methods: [invite]"), 2, "auth.methods[0]", "must be a method name in capitals", 0},
		{"no failures allowed", lines("auth:", "  max_failures: 0"), 2, "auth.max_failures", "", 0},
		{"bad origin", lines("websocket:", "  allowed_origins: [https://a.example/path]"), 2, "websocket.allowed_origins[0]", `must be an origin like https://app.example.com (scheme, host and port only); got "https://a.example/path"`, 0},
		{"zero ping interval", lines("websocket:", "  ping_interval: 0s"), 2, "websocket.ping_interval", "must be positive", 0},
		{"bad protocol", lines("listen:", "  - udp:0.0.0.0:5060", "  - sctp:0.0.0.0:5060"), 3, "listen[1]", `protocol must be one of udp, tcp, tls, ws, wss; got "sctp"`, 0},
		{"port out of range", lines("listen: [udp:0.0.0.0:70000]"), 1, "listen[0]", `port must be between 1 and 65535, got "70000"`, 0},
		{"port zero", lines("listen: [udp:0.0.0.0:0]"), 1, "listen[0]", "port must be between 1 and 65535", 0},
		{"unbracketed IPv6", lines("listen: ['udp:::1:5060']"), 1, "listen[0]", "IPv6 addresses need brackets", 0},
		{"no port", lines("listen: [udp:0.0.0.0]"), 1, "listen[0]", "must be HOST:PORT", 0},
		{"listener as a URL", lines("listen: ['wss://0.0.0.0:8443/']"), 1, "listen[0]", `must be PROTO:HOST:PORT without "//", like wss:0.0.0.0:8443`, 0},
		{"no protocol", lines("listen: [0.0.0.0]"), 1, "listen[0]", "must look like udp:0.0.0.0:5060", 0},
		{"empty host", lines("listen: ['udp::5060']"), 1, "listen[0]", "host is missing", 0},
		{"bad host", lines("listen: ['udp:300.1.1.1:5060']"), 1, "listen[0]", "neither an IP address nor a host name", 0},
		{"listener mapping without address", lines("listen:", "  - advertise: 203.0.113.5"), 2, "listen[0]", "needs an address", 0},
		{"bad address in mapping", lines("listen:", "  - address: udp:0.0.0.0:5060", "    advertise: 203.0.113.5", "  - address: tcp:0.0.0.0", "    advertise: 203.0.113.5"), 4, "listen[1].address", "must be HOST:PORT", 0},
		{"bad advertise", lines("listen:", "  - address: udp:0.0.0.0:5060", "    advertise: 203.0.113.5:99999"), 3, "listen[0].advertise", "port must be between 1 and 65535", 0},
		{"listener as number", lines("listen: [5060]"), 1, "listen[0]", "must be a string like udp:0.0.0.0:5060 or a mapping", 0},
		{"no listeners", lines("mode: stateful", "listen: []"), 2, "listen", "at least one listener", 0},
		{"duplicate listener", lines("listen:", "  - udp:0.0.0.0:5060", "  - udp:0.0.0.0:5060"), 3, "listen[1]", "already listed as listen[0]", 0},
		{"cert without key", lines("tls:", "  cert_file: c.pem"), 2, "tls.cert_file", "needs tls.key_file beside it", 0},
		{"key without cert", lines("tls:", "  key_file: k.pem"), 2, "tls.key_file", "needs tls.cert_file beside it", 0},
		{"cert with key emptied", lines("tls:", "  cert_file: c.pem", "  key_file: ''"), 3, "tls.key_file", "must be set when tls.cert_file is", 0},
		{"key with cert emptied", lines("tls:", "  cert_file: ''", "  key_file: k.pem"), 2, "tls.cert_file", "must be set when tls.key_file is", 0},

		// Rules between keys, reported where the file set them.
		{"min above max", lines("registrar:", "  min_expires: 7200s", "  max_expires: 3600s"), 2, "registrar.min_expires", "must not exceed registrar.max_expires (3600s), got 7200s", 0},
		{"max below default min", lines("registrar:", "  max_expires: 30s"), 2, "registrar.max_expires", "must be at least registrar.min_expires (60s), got 30s", 0},
		{"min above default", lines("registrar:", "  min_expires: 4000s"), 2, "registrar.min_expires", "must not exceed registrar.default_expires (3600s), got 4000s", 0},
		{"default above max", lines("registrar:", "", "  default_expires: 100000s"), 3, "registrar.default_expires", "must not exceed registrar.max_expires (86400s)", 0},
		{"expires not positive", lines("registrar:", "  min_expires: 0s"), 2, "registrar.min_expires", "must be positive, got 0s", 0},
		{"expires fractional", lines("registrar:", "  min_expires: 90500ms"), 2, "registrar.min_expires", "must be whole seconds", 0},
		{"negative max_contacts", lines("registrar:", "  max_contacts: -1"), 2, "registrar.max_contacts", "must be 0 (no limit) or more, got -1", 0},
		{"t1 not below t2", lines("transaction:", "  t2: 500ms"), 2, "transaction.t2", "must be more than transaction.t1 (500ms), got 500ms", 0},
		{"t1 above t2", lines("transaction:", "  t1: 5s", "  t2: 4s"), 2, "transaction.t1", "must be less than transaction.t2 (4s), got 5s", 0},
		{"max_transactions zero", lines("transaction:", "  max_transactions: 0"), 2, "transaction.max_transactions", "must be at least 1, got 0", 0},
		{"negative timer", lines("proxy:", "  timer_c: -1s"), 2, "proxy.timer_c", "must be positive, got -1s", 0},
		{"buffer below message size", lines("limits:", "  max_message_size: 100000"), 2, "limits.max_message_size", "must not exceed tcp.max_buffer (65536)", 0},
		{"empty data_dir", lines(`data_dir: ""`), 1, "data_dir", "must not be empty", 0},
		{"bad domain", lines("domains: [example.com, 'bad domain']"), 1, "domains[1]", `"bad domain" is not a domain name`, 0},
		{"duplicate domain", lines("domains: [example.com, EXAMPLE.com]"), 1, "domains[1]", "already listed as domains[0]", 0},
		{"alias with a port", lines("aliases: [pbx.example.com, 'pbx:5060']"), 1, "aliases[1]", `"pbx:5060" is not a host name or IP address`, 0},

		// Domain overrides.
		{"override outside domains", lines("domains: [example.com]", "domain_overrides:", "  example.org:", "    max_contacts: 1"), 3, "domain_overrides.example.org", "not in domains, so this override would never apply", 0},
		{"override min above global max", lines("domain_overrides:", "  example.com:", "    min_expires: 100000s"), 3, "domain_overrides.example.com.min_expires", "must not exceed registrar.max_expires (86400s), got 100000s", 0},
		{"override blamed before global key", lines("registrar:", "  min_expires: 60s", "domain_overrides:", "  example.com:", "    max_expires: 30s"), 5, "domain_overrides.example.com.max_expires", "must be at least registrar.min_expires (60s), got 30s", 0},
		{"override clashing with override", lines("domain_overrides:", "  example.com:", "    min_expires: 100s", "    default_expires: 90s"), 3, "domain_overrides.example.com.min_expires", "must not exceed domain_overrides.example.com.default_expires (90s), got 100s", 0},

		// YAML itself.
		{"syntax error", lines("registrar:", "  min_expires: 60s", " max_expires: 3600s"), 3, "", "did not find expected key", 0},
		{"unclosed flow list", lines("mode: stateful", "trace: true", "domains: [a.example", "data_dir: x"), 3, "", "did not find expected ',' or ']'", 0},
		// An unclosed construct on line 1 is reported where the parser noticed.
		{"unclosed flow mapping on line 1", lines("registrar: {min_expires: 60s", "", "trace: true"), 3, "", "did not find expected ',' or '}'", 0},
		{"mapping value in wrong place", lines("mode: stateful", "trace: true", "  data_dir: x"), 3, "", "mapping values are not allowed", 0},
		{"undefined tag handle", lines("mode: stateful", "trace: !e!x true"), 2, "", "found undefined tag handle", 0},
		{"tab indentation", lines("registrar:", "\tmin_expires: 60s"), 2, "", "found character that cannot start any token: a tab; YAML indents with spaces only", 0},
		{"regex in double quotes", lines("routes:", "  - name: ext", `    regex: "^(2\d\d)$"`, "    local: true"), 3, "", "write a regex in single quotes", 0},
		{"second document", lines("mode: stateful", "---", "mode: stateless"), 2, "", "one YAML document", 0},
		{"second document after an empty one", lines("mode: stateful", "---", "---", "mode: stateless"), 3, "", "one YAML document", 0},
		{"syntax error in second document", lines("mode: stateful", "---", "a: [b"), 3, "", "did not find expected", 0},

		// Several problems are all reported, in line order.
		{"several problems", lines("mode: x", "registrar:", "  min_expires: abc", "  below_min: y", "log_level: z"), 1, "mode", `got "x"`, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse("t.yaml", tt.src)
			if err == nil {
				t.Fatalf("no error; config %+v", cfg)
			}
			if cfg != nil {
				t.Errorf("config returned with an error")
			}
			var errs Errors
			if !errors.As(err, &errs) || len(errs) == 0 {
				t.Fatalf("error %T %v is not a non-empty Errors", err, err)
			}
			n := tt.n
			if n == 0 {
				n = 1
			}
			if len(errs) != n {
				t.Errorf("got %d errors, want %d:\n%v", len(errs), n, err)
			}
			e := errs[0]
			prefix := "t.yaml:" + strconv.Itoa(tt.line) + ": "
			if tt.key != "" {
				prefix += tt.key + ": "
			}
			if !strings.HasPrefix(e.Error(), prefix) || !strings.Contains(e.Msg, tt.msg) {
				t.Errorf("got  %q\nwant %q + ...%q...", e.Error(), prefix, tt.msg)
			}
			if e.File != "t.yaml" || e.Line != tt.line || e.Key != tt.key {
				t.Errorf("fields: got %q %d %q, want t.yaml %d %q", e.File, e.Line, e.Key, tt.line, tt.key)
			}
			for i := 1; i < len(errs); i++ {
				if errs[i].Line < errs[i-1].Line {
					t.Errorf("errors not in line order:\n%v", err)
				}
			}
			var one *Error
			if !errors.As(err, &one) || one != e {
				t.Errorf("errors.As does not find the first *Error")
			}
		})
	}
}

func TestValidateWithoutFile(t *testing.T) {
	c := Default()
	c.Registrar.MinExpires = dur("100000s")
	c.Listen = append(c.Listen, Listener{Proto: "sctp", Host: "0.0.0.0", Port: 5060})
	err := c.Validate()
	want := "listen[3]: protocol must be one of udp, tcp, tls, ws, wss; got \"sctp\"\n" +
		"registrar.min_expires: must not exceed registrar.max_expires (86400s), got 100000s"
	if err == nil || err.Error() != want {
		t.Fatalf("got\n%v\nwant\n%s", err, want)
	}
}

func TestLogLevelSlog(t *testing.T) {
	for l, want := range map[LogLevel]slog.Level{
		LogDebug: slog.LevelDebug, LogInfo: slog.LevelInfo, LogWarn: slog.LevelWarn, LogError: slog.LevelError, "": slog.LevelInfo,
	} {
		if got := l.Slog(); got != want {
			t.Errorf("%q.Slog() = %v, want %v", l, got, want)
		}
	}
}

func TestRegistrarFor(t *testing.T) {
	c, err := Parse("t.yaml", lines(
		"registrar:",
		"  min_expires: 120s",
		"  max_contacts: 5",
		"domain_overrides:",
		"  example.com:",
		"    min_expires: 30s",
		"    below_min: raise",
		"  example.org: {}",
	))
	if err != nil {
		t.Fatal(err)
	}
	global := RegistrarConfig{
		DefaultExpires: dur("3600s"), MinExpires: dur("120s"), MaxExpires: dur("86400s"),
		BelowMin: BelowMinReject, MaxContacts: 5, OverMaxContacts: OverMaxReject,
	}
	withOverride := global
	withOverride.MinExpires = dur("30s")
	withOverride.BelowMin = BelowMinRaise
	for _, tt := range []struct {
		domain string
		want   RegistrarConfig
	}{
		{"example.com", withOverride},
		{"EXAMPLE.com", withOverride},
		{"example.org", global},
		{"example.net", global},
		{"", global},
	} {
		if got := c.RegistrarFor(tt.domain); got != tt.want {
			t.Errorf("RegistrarFor(%q) = %+v, want %+v", tt.domain, got, tt.want)
		}
	}
	if c.Registrar != global {
		t.Errorf("RegistrarFor changed the global block: %+v", c.Registrar)
	}
	var zero Config
	if got := zero.RegistrarFor("example.com"); got != (RegistrarConfig{}) {
		t.Errorf("zero Config: got %+v", got)
	}
}

func TestParseListener(t *testing.T) {
	tests := []struct {
		in      string
		want    Listener
		wantErr string
	}{
		{"udp:0.0.0.0:5060", Listener{Proto: ProtoUDP, Host: "0.0.0.0", Port: 5060}, ""},
		{"tls:sip.example.com:5061", Listener{Proto: ProtoTLS, Host: "sip.example.com", Port: 5061}, ""},
		{"tcp:[::]:5060", Listener{Proto: ProtoTCP, Host: "::", Port: 5060}, ""},
		{"udp:[fe80::1%eth0]:5060", Listener{Proto: ProtoUDP, Host: "fe80::1%eth0", Port: 5060}, ""},
		{"udp:localhost:1", Listener{Proto: ProtoUDP, Host: "localhost", Port: 1}, ""},
		{"UDP:0.0.0.0:5060", Listener{}, "protocol must be one of"},
		{"ws:0.0.0.0:80", Listener{Proto: ProtoWS, Host: "0.0.0.0", Port: 80}, ""},
		{"wss:[::]:8443", Listener{Proto: ProtoWSS, Host: "::", Port: 8443}, ""},
		{"WSS:0.0.0.0:443", Listener{}, "protocol must be one of"},
		{"udp:::1:5060", Listener{}, "IPv6 addresses need brackets"},
		{"udp:0.0.0.0:sip", Listener{}, "port must be between 1 and 65535"},
		{"udp:0.0.0.0:65536", Listener{}, "port must be between 1 and 65535"},
		{"udp:-bad-:5060", Listener{}, "neither an IP address nor a host name"},
		{"udp:a!b:5060", Listener{}, "neither an IP address nor a host name"},
		{"udp", Listener{}, "must look like"},
		{"", Listener{}, "must look like"},
	}
	for _, tt := range tests {
		got, err := ParseListener(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), strconv.Quote(tt.in)) {
				t.Errorf("ParseListener(%q): got error %v, want one quoting the input and containing %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseListener(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
			continue
		}
		if back, err := ParseListener(got.String()); err != nil || back != got {
			t.Errorf("String() of %q does not parse back: %q", tt.in, got.String())
		}
	}
}

func TestListenerAdvertise(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"203.0.113.5", "203.0.113.5:5062"},
		{"203.0.113.5:6000", "203.0.113.5:6000"},
		{"sip.example.com", "sip.example.com:5062"},
		{"[2001:db8::5]", "[2001:db8::5]:5062"},
		{"[2001:db8::5]:6000", "[2001:db8::5]:6000"},
	} {
		c, err := Parse("t.yaml", lines("listen:", "  - address: udp:0.0.0.0:5062", "    advertise: '"+tt.in+"'"))
		if err != nil {
			t.Errorf("%s: %v", tt.in, err)
			continue
		}
		if got := c.Listen[0].Advertise; got != tt.want {
			t.Errorf("advertise %s: got %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestDuration(t *testing.T) {
	for _, tt := range []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"},
		{3600 * time.Second, "3600s"},
		{500 * time.Millisecond, "500ms"},
		{1500 * time.Microsecond, "1.5ms"},
		{-2 * time.Second, "-2s"},
	} {
		if got := Duration(tt.d).String(); got != tt.want {
			t.Errorf("Duration(%v).String() = %q, want %q", tt.d, got, tt.want)
		}
		if back, err := time.ParseDuration(Duration(tt.d).String()); err != nil || back != tt.d {
			t.Errorf("%v does not parse back: %v %v", tt.d, back, err)
		}
	}
	// Plain yaml.v3 decoding, for other packages' YAML.
	var v struct {
		D Duration `yaml:"d"`
		L Listener `yaml:"l"`
	}
	if err := yaml.Unmarshal([]byte("d: 1m30s\nl: tcp:127.0.0.1:5060\n"), &v); err != nil {
		t.Fatal(err)
	}
	if v.D.Duration() != 90*time.Second || v.L.Port != 5060 {
		t.Errorf("got %+v", v)
	}
	if err := yaml.Unmarshal([]byte("d: 90\n"), &v); err == nil || !strings.Contains(err.Error(), "with a unit") {
		t.Errorf("bare number: got %v", err)
	}
}

// TestMarshalRoundTrip lets a tool print the effective config (check-config)
// in a form that loads back unchanged.
func TestMarshalRoundTrip(t *testing.T) {
	for name, c := range map[string]*Config{"defaults": Default(), "full": fullConfig()} {
		out, err := yaml.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		back, err := Parse(name, out)
		if err != nil {
			t.Fatalf("%s: marshalled config does not parse:\n%v\n%s", name, err, out)
		}
		if !reflect.DeepEqual(back, c) {
			t.Errorf("%s: round trip changed the config:\n%s", name, out)
		}
	}
}

func TestAliasesAndMerges(t *testing.T) {
	c, err := Parse("t.yaml", lines(
		"x-timers: &t {t1: 1s}",
		"transaction:",
		"  <<: *t",
		"  t2: 8s",
	))
	if err == nil {
		t.Fatalf("x-timers should be an unknown key; got %+v", c)
	}
	c, err = Parse("t.yaml", lines(
		"registrar: &r",
		"  min_expires: 10s",
		"domain_overrides:",
		"  a.example: &short",
		"    max_expires: 600s",
		"    default_expires: 300s",
		"  b.example:",
		"    <<: [*short, *r]",
		"    min_expires: 20s",
		"  c.example: *short",
	))
	if err != nil {
		t.Fatal(err)
	}
	b := c.DomainOverrides["b.example"]
	if *b.MaxExpires != dur("600s") || *b.MinExpires != dur("20s") || *b.DefaultExpires != dur("300s") || b.BelowMin != nil {
		t.Errorf("b.example: %+v", b)
	}
	if *c.DomainOverrides["c.example"].MaxExpires != dur("600s") {
		t.Errorf("c.example: %+v", c.DomainOverrides["c.example"])
	}
	_, err = Parse("t.yaml", lines("domain_overrides:", "  a.example: &a", "    <<: *a"))
	if err == nil {
		t.Error("a mapping merging itself was accepted")
	}
}

// yamlBlocks returns the ```yaml blocks of a markdown file, each padded
// with blank lines so that YAML line numbers are the markdown file's.
func yamlBlocks(t *testing.T, path string) [][]byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var blocks [][]byte
	var cur *bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case cur == nil && strings.TrimSpace(line) == "```yaml":
			cur = bytes.NewBufferString(strings.Repeat("\n", n))
		case cur != nil && strings.TrimSpace(line) == "```":
			blocks = append(blocks, cur.Bytes())
			cur = nil
		case cur != nil:
			cur.WriteString(line + "\n")
		}
	}
	return blocks
}

// referenceDoc is where the configuration reference lives: the README,
// so that what a new user reads is what these tests keep true.
const referenceDoc = "../README.md"

func TestReferenceExample(t *testing.T) {
	blocks := yamlBlocks(t, referenceDoc)
	if len(blocks) == 0 {
		t.Fatal(referenceDoc + " has no ```yaml block")
	}
	for _, b := range blocks {
		if _, err := Parse(referenceDoc, b); err != nil {
			t.Error(err)
		}
	}
}

// TestReferenceTable keeps the documented keys and defaults true: every
// key of the schema has a row, every row is a key, and each row's default
// decodes to what Default holds.
func TestReferenceTable(t *testing.T) {
	data, err := os.ReadFile(referenceDoc)
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("^\\| `([^`]+)` \\| `([^`]*)` \\|")
	documented := make(map[string]string)
	inReference := false
	for n, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "## ") {
			inReference = line == "## Configuration reference"
		}
		if !inReference {
			continue
		}
		m := row.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		if _, dup := documented[m[1]]; dup {
			t.Errorf("%s:%d: %s documented twice", referenceDoc, n+1, m[1])
		}
		documented[m[1]] = m[2]
	}
	def := reflect.ValueOf(Default()).Elem()
	for _, k := range schemaKeys() {
		cell, ok := documented[k]
		if !ok {
			t.Errorf("%s has no row for %s", referenceDoc, k)
			continue
		}
		delete(documented, k)
		want := fieldAt(def, k)
		var n yaml.Node
		if err := yaml.Unmarshal([]byte(cell), &n); err != nil {
			t.Errorf("%s: default %q: %v", k, cell, err)
			continue
		}
		got := reflect.New(want.Type()).Elem()
		d := newDecoder()
		if len(n.Content) > 0 {
			d.decode(n.Content[0], got, k)
		}
		if len(d.errs) > 0 || !reflect.DeepEqual(got.Interface(), want.Interface()) {
			t.Errorf("%s: %s default is %s; Default has %v %v", referenceDoc, k, cell, want.Interface(), d.errs)
		}
	}
	for k := range documented {
		t.Errorf("%s documents %s, which is not in the schema", referenceDoc, k)
	}
}

// FuzzParse checks that no input panics and that every error about a key
// says on which line.
func FuzzParse(f *testing.F) {
	full, err := os.ReadFile("testdata/full.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(full)
	f.Add(defaultsYAML)
	f.Add([]byte("registrar: &r {<<: *r}"))
	f.Add([]byte("listen: [{address: 'udp:[::1]:5060', advertise: '[::1]'}]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("f.yaml", data)
		if err != nil {
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("error is %T, not Errors", err)
			}
			for _, e := range errs {
				if !strings.HasPrefix(e.Error(), "f.yaml") {
					t.Fatalf("error without the file name: %q", e.Error())
				}
				if e.Key != "" && e.Line == 0 {
					t.Fatalf("error with a key but no line: %q", e.Error())
				}
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Parse accepted a config that Validate rejects: %v", err)
		}
	})
}
