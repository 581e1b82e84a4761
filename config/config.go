// Package config holds Parley's YAML configuration: the schema, the defaults
// (in defaults.yaml, embedded), strict decoding and validation.
//
// A config file is overlaid on the defaults, so it names only what it changes.
// Decoding is strict because a misspelt key that is silently ignored leaves a
// server running with a setting the operator believes is changed; every
// problem is reported as FILE:LINE: KEY: problem so it can be fixed without
// hunting.
package config

import (
	"bytes"
	_ "embed"
	"errors"
	"io"
	"log/slog"
	"os"
	"reflect"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Config is the whole of Parley's configuration. Fields are plain exported
// values so that the command line can override them directly before calling
// Validate. Every key's `reload` tag says whether a reload applies it
// (live) or keeps it until a restart (restart); see ForReload.
type Config struct {
	// Listen is the sockets to open. A server that listens nowhere is
	// useless, so Validate requires at least one.
	Listen []Listener `yaml:"listen" reload:"restart"`
	// Domains is the domains this server is responsible for (registers
	// bindings, routes to them and relays for them). Empty means the
	// server's own names and addresses, which suits a server reached by IP
	// address without making it everyone's registrar and relay.
	Domains []string `yaml:"domains" reload:"live"`
	// Aliases are more names (or addresses) of this server, beside its
	// listen addresses, the machine's host name and, on loopback,
	// localhost: a Request-URI naming one of them is addressed to Parley
	// itself, as desk phones that take an IP or a name as "registrar" send.
	Aliases []string `yaml:"aliases" reload:"live"`
	// DataDir holds persistent state (the location database); relative paths
	// are taken from the working directory.
	DataDir string `yaml:"data_dir" reload:"restart"`
	// Mode chooses between a transaction-stateful proxy (needed for forking,
	// Timer C and failover) and a cheaper stateless one.
	Mode Mode `yaml:"mode" reload:"restart"`
	// LogLevel is the least severe log record written.
	LogLevel LogLevel `yaml:"log_level" reload:"live"`
	// LogFormat is how log lines are written: logfmt-style text for people
	// and fail2ban, or one JSON object per line for log collectors.
	LogFormat LogFormat `yaml:"log_format" reload:"restart"`
	// Trace logs every SIP message in full; off by default because it is
	// large and carries personal data.
	Trace bool `yaml:"trace" reload:"live"`
	// ServerHeader is sent as Server (responses) and User-Agent (requests
	// Parley originates). Empty sends none, which avoids advertising a
	// version to scanners.
	ServerHeader string `yaml:"server_header" reload:"live"`
	// ShutdownTimeout bounds how long a graceful stop waits for transactions
	// in flight. The default, 32s, is Timer B/F (64*T1) so that a client
	// transaction started just before the stop can still time out properly.
	ShutdownTimeout Duration `yaml:"shutdown_timeout" reload:"live"`
	// Registrar is the REGISTER policy for every domain without an override.
	Registrar RegistrarConfig `yaml:"registrar"`
	// Proxy shapes how requests are relayed to their targets.
	Proxy ProxyConfig `yaml:"proxy"`
	// Transaction holds the RFC 3261 timers and the transaction table bound.
	Transaction TransactionConfig `yaml:"transaction"`
	// TCP bounds the resources stream connections may hold, since each one
	// is memory an attacker can ask for.
	TCP TCPConfig `yaml:"tcp"`
	// TLS configures tls listeners.
	TLS TLSConfig `yaml:"tls"`
	// WebSocket configures ws and wss listeners (web phones).
	WebSocket WebSocketConfig `yaml:"websocket"`
	// Limits bounds what a single message may cost.
	Limits LimitsConfig `yaml:"limits"`
	// DomainOverrides lets one tenant have a different registrar policy
	// without a second server. Keys are domain names; use RegistrarFor
	// rather than reading this directly, so the merge rule lives in one place.
	DomainOverrides map[string]RegistrarOverride `yaml:"domain_overrides" reload:"live"`
	// Storage is where subscribers and registrations are kept.
	Storage StorageConfig `yaml:"storage"`
	// Auth is digest authentication of subscribers.
	Auth AuthConfig `yaml:"auth"`
	// AuthOverrides gives a domain its own auth policy; keys are domain
	// names, values an auth block of methods and
	// allow_unauthenticated_to_local.
	AuthOverrides map[string]AuthOverride `yaml:"auth_overrides" reload:"live"`
	// Admin is the HTTP listener for metrics, health checks, the JSON admin
	// API and the web console.
	Admin AdminConfig `yaml:"admin"`
	// HEP exports every SIP message to a Homer collector, for sites that
	// already keep their call history there.
	HEP HEPConfig `yaml:"hep"`
	// Security is the per-source defence against floods and scanners:
	// rate limits, bans, trusted networks and the scanner filter.
	Security SecurityConfig `yaml:"security"`
	// CDR is the call detail records: one per call, kept with the
	// storage engine's data.
	CDR CDRConfig `yaml:"cdr"`
	// Gateways are the ways to the phone network, and the provider
	// accounts Parley registers to (see trunks.go).
	Gateways []GatewayConfig `yaml:"gateways" reload:"restart"`
	// Routes is the dial plan: tried in order, the first match wins.
	Routes []RouteConfig `yaml:"routes" reload:"live"`
	// DIDs maps the numbers a gateway's inbound calls are for to local
	// users (alice, or alice@example.com).
	DIDs map[string]string `yaml:"dids" reload:"live"`
	// Presence is the presence server: subscriptions, publications and
	// their NOTIFYs for the served domains' users.
	Presence PresenceConfig `yaml:"presence"`
	// Messages is the store of MESSAGEs for users who are offline
	// (RFC 3428), delivered when they next register.
	Messages MessagesConfig `yaml:"messages"`
	// B2BUA is what crosses between the two legs of a call in B2BUA mode,
	// and its call control: session timers and the maximum call duration.
	B2BUA B2BUAConfig `yaml:"b2bua"`
	// Cluster makes this server one node of several sharing a location
	// store.
	Cluster ClusterConfig `yaml:"cluster"`
}

// MessagesConfig bounds the offline message store. Every key is live:
// the message stage and the deliverer read them per request.
type MessagesConfig struct {
	// Store keeps a MESSAGE for a subscriber with no phone registered
	// (202 Accepted). Off, such a MESSAGE gets 404 or 480 as any request
	// does; messages already stored are still delivered.
	Store bool `yaml:"store" reload:"live"`
	// MaxSize is the largest body stored, in bytes (413 past it).
	MaxSize int `yaml:"max_size" reload:"live"`
	// MaxCount is how many messages one user may have waiting (480 past it).
	MaxCount int `yaml:"max_count" reload:"live"`
	// MaxBytes is the body bytes one user may have waiting (480 past it).
	MaxBytes int `yaml:"max_bytes" reload:"live"`
	// MaxAge is how long a message waits; older ones are dropped unread.
	MaxAge Duration `yaml:"max_age" reload:"live"`
}

// B2BUAConfig says which headers cross from one leg of a B2BUA call to
// the other (nothing else of one leg reaches the other but the body), and
// how long calls may last.
type B2BUAConfig struct {
	// PassHeaders names the headers copied across, in any case.
	PassHeaders []string `yaml:"pass_headers" reload:"restart"`
	// PassXHeaders copies every X- header across too.
	PassXHeaders bool `yaml:"pass_x_headers" reload:"restart"`
	// SessionExpires is the session interval Parley asks for on both legs
	// and the longest it accepts from a phone; a phone that stops
	// refreshing is hung up within it. 0 turns session timers off.
	SessionExpires Duration `yaml:"session_expires" reload:"live"`
	// MinSE is the shortest session interval accepted: a caller asking
	// for less gets 422 with this Min-SE. RFC 4028 sets the floor at 90s.
	MinSE Duration `yaml:"min_se" reload:"live"`
	// MaxCallDuration hangs up (BYE on both legs) a call that lasts
	// longer; 0 is no limit. Off by default because session timers
	// already end the calls of vanished phones, and a cap on live calls
	// is a site's billing or fraud policy, not a protocol need.
	MaxCallDuration Duration `yaml:"max_call_duration" reload:"live"`
	// Inbound takes the calls gateways send to DIDs through the B2BUA
	// in mode stateful too, so that the phone network sees nothing of
	// the office's and the record names the trunk.
	Inbound bool `yaml:"inbound" reload:"restart"`
}

// CDRConfig turns call detail records on and names the node in them.
type CDRConfig struct {
	// Enabled writes a record of every call. Calls are tracked from the
	// messages Parley relays, so this keeps the observer running even
	// with the admin listener and HEP off.
	Enabled bool `yaml:"enabled" reload:"restart"`
	// Node names this server in its records, so that servers sharing a
	// PostgreSQL database can be told apart; empty is cluster.node, or
	// without one the host name.
	Node string `yaml:"node" reload:"restart"`
}

// AdminConfig is the admin HTTP listener. It is on by default but bound to
// loopback, where only local users reach it; anywhere else it needs a
// token, because its API shows who is registered and can remove bindings.
type AdminConfig struct {
	// Listen is HOST:PORT for the listener; empty turns it off, and with
	// it the message capture behind the console.
	Listen string `yaml:"listen" reload:"restart"`
	// Token is the bearer token every API request must carry
	// (Authorization: Bearer TOKEN). Required when Listen is not a
	// loopback address.
	Token string `yaml:"token" reload:"restart"`
	// CaptureMessages bounds the ring of recent SIP messages the console
	// draws call ladders from; 0 keeps none.
	CaptureMessages int `yaml:"capture_messages" reload:"restart"`
	// CaptureBytes bounds the same ring by the bytes of message text it
	// holds, so that large messages cannot make it grow past a budget.
	CaptureBytes int `yaml:"capture_bytes" reload:"restart"`
}

// HEPConfig is the HEP v3 (Homer) exporter.
type HEPConfig struct {
	// Address is the collector's HOST:PORT (UDP); empty turns export off.
	Address string `yaml:"address" reload:"restart"`
	// AgentID is the capture agent ID Homer files the messages under, so
	// that several servers feeding one collector can be told apart.
	AgentID int `yaml:"agent_id" reload:"restart"`
	// Password is the collector's authentication key, sent in every
	// packet; empty sends none.
	Password string `yaml:"password" reload:"restart"`
}

// RegistrarConfig is the REGISTER policy (RFC 3261 §10.3).
type RegistrarConfig struct {
	// DefaultExpires is granted when a REGISTER asks for no particular
	// lifetime.
	DefaultExpires Duration `yaml:"default_expires" reload:"live"`
	// MinExpires is the shortest lifetime granted; short lifetimes make
	// clients refresh often, which costs the server.
	MinExpires Duration `yaml:"min_expires" reload:"live"`
	// MaxExpires caps lifetimes so that bindings of vanished devices expire.
	MaxExpires Duration `yaml:"max_expires" reload:"live"`
	// BelowMin says what to do with a lifetime under MinExpires.
	BelowMin BelowMin `yaml:"below_min" reload:"live"`
	// MaxContacts bounds bindings per address of record so one account cannot
	// make every call fork to hundreds of targets; 0 means no bound.
	MaxContacts int `yaml:"max_contacts" reload:"live"`
	// OverMaxContacts says what to do with a REGISTER that would exceed
	// MaxContacts.
	OverMaxContacts OverMaxContacts `yaml:"over_max_contacts" reload:"live"`
	// FlowTimer is the Flow-Timer of the 200 to a REGISTER that makes a
	// SIP Outbound flow (RFC 5626 §4.4): how often the phone pings
	// its flow. 0 lets Parley choose by transport (25 s over UDP, where
	// NATs forget quiet mappings, 120 s over connections).
	FlowTimer Duration `yaml:"flow_timer" reload:"live"`
}

// RegistrarOverride is a per-domain registrar block. Its fields are pointers
// so that a key left out of the file (nil) keeps the global value rather
// than overriding it with a zero.
type RegistrarOverride struct {
	// DefaultExpires overrides RegistrarConfig.DefaultExpires when set.
	DefaultExpires *Duration `yaml:"default_expires,omitempty"`
	// MinExpires overrides RegistrarConfig.MinExpires when set.
	MinExpires *Duration `yaml:"min_expires,omitempty"`
	// MaxExpires overrides RegistrarConfig.MaxExpires when set.
	MaxExpires *Duration `yaml:"max_expires,omitempty"`
	// BelowMin overrides RegistrarConfig.BelowMin when set.
	BelowMin *BelowMin `yaml:"below_min,omitempty"`
	// MaxContacts overrides RegistrarConfig.MaxContacts when set.
	MaxContacts *int `yaml:"max_contacts,omitempty"`
	// OverMaxContacts overrides RegistrarConfig.OverMaxContacts when set.
	OverMaxContacts *OverMaxContacts `yaml:"over_max_contacts,omitempty"`
	// FlowTimer overrides RegistrarConfig.FlowTimer when set.
	FlowTimer *Duration `yaml:"flow_timer,omitempty"`
}

// ProxyConfig shapes relaying (RFC 3261 §16).
type ProxyConfig struct {
	// Forking chooses how a request goes to several contacts.
	Forking Forking `yaml:"forking" reload:"live"`
	// RecordRoute keeps Parley in the path of in-dialog requests, which a
	// proxy needs for NAT traversal, accounting and policy; turn it off only
	// for a pure location service.
	RecordRoute bool `yaml:"record_route" reload:"live"`
	// TimerC bounds how long an INVITE branch may ring after a provisional
	// response, so that a branch whose callee vanished does not hold the
	// call forever. RFC 3261 §16.6 step 11 asks for more than 3 minutes.
	TimerC Duration `yaml:"timer_c" reload:"live"`
	// Relay says whom Parley forwards for. domains (the default) forwards
	// only requests from or to a served domain, or from a trusted network,
	// and refuses the rest with 403 Relaying Denied, so that a server
	// without passwords is not an open relay for anyone's calls; open
	// forwards everything, for a server that is meant to be a relay. A
	// reload applies it at once.
	Relay Relay `yaml:"relay" reload:"live"`
}

// TransactionConfig holds RFC 3261 §17 timers. They are configurable because
// links with long round trips (satellite, some mobile) need a larger T1.
type TransactionConfig struct {
	// T1 is the round-trip estimate that retransmission intervals double
	// from.
	T1 Duration `yaml:"t1" reload:"restart"`
	// T2 caps the retransmission interval of non-INVITE requests and INVITE
	// responses.
	T2 Duration `yaml:"t2" reload:"restart"`
	// T4 is how long the network may keep a message alive; it sets how long
	// completed transactions linger to absorb retransmissions.
	T4 Duration `yaml:"t4" reload:"restart"`
	// MaxTransactions bounds every live transaction, those in flight and
	// those lingering after their final response to absorb
	// retransmissions (32 s on UDP), so that what a burst leaves behind
	// is bounded too; past it new requests get 503 Too Many Transactions
	// with Retry-After.
	MaxTransactions int `yaml:"max_transactions" reload:"restart"`
	// MaxInFlight bounds the transactions still without a final
	// response, which hold their request and routing state, so that a
	// flood cannot pile up work; past it new requests get 503 Too Many
	// Requests In Progress with Retry-After.
	MaxInFlight int `yaml:"max_in_flight" reload:"restart"`
}

// TCPConfig bounds stream connections (TCP and TLS).
type TCPConfig struct {
	// IdleTimeout closes connections that carry nothing, reclaiming their
	// memory and file descriptors.
	IdleTimeout Duration `yaml:"idle_timeout" reload:"restart"`
	// MaxConnections bounds open connections, keeping clear of the process
	// file-descriptor limit.
	MaxConnections int `yaml:"max_connections" reload:"restart"`
	// MaxConnectionsPerIP stops one host from taking every connection slot.
	MaxConnectionsPerIP int `yaml:"max_connections_per_ip" reload:"restart"`
	// MaxBuffer is the bytes read but not yet framed into a message that one
	// connection may hold; it must fit a whole message of
	// LimitsConfig.MaxMessageSize.
	MaxBuffer int `yaml:"max_buffer" reload:"restart"`
	// MessageTimeout bounds how long one message may take to arrive once
	// its first byte has, so that a peer trickling a header a byte at a
	// time (slowloris) is cut off even below MaxBuffer.
	MessageTimeout Duration `yaml:"message_timeout" reload:"restart"`
}

// TLSConfig configures tls listeners. Paths are read when the listener
// starts, not by Validate, so that a config can be checked on another host.
type TLSConfig struct {
	// CertFile is a PEM certificate chain, leaf first. It may be left empty
	// with KeyFile, even with a tls listener, because the transport then
	// makes a self-signed certificate: enough to try TLS out.
	CertFile string `yaml:"cert_file" reload:"live"`
	// KeyFile is the PEM private key for CertFile.
	KeyFile string `yaml:"key_file" reload:"live"`
	// ClientAuth says whether peers must present certificates, which is how
	// trunks between servers authenticate each other (RFC 5922).
	ClientAuth ClientAuth `yaml:"client_auth" reload:"restart"`
	// HandshakeTimeout bounds an incoming TLS handshake, so that peers
	// that open connections and never finish the handshake cannot hold
	// the connection slots real clients need.
	HandshakeTimeout Duration `yaml:"handshake_timeout" reload:"restart"`
}

// LimitsConfig bounds what one message may cost.
type LimitsConfig struct {
	// MaxMessageSize is the largest message accepted, in bytes; it bounds
	// the memory a single message can make the server spend.
	MaxMessageSize int `yaml:"max_message_size" reload:"restart"`
	// Calls bounds concurrent calls through the B2BUA per user, domain
	// and trunk.
	Calls CallLimitsConfig `yaml:"calls"`
	// MaxMemory is the Go runtime's soft memory limit in bytes: near it
	// the collector works harder and hands freed memory back to the
	// system sooner, so that a burst does not leave its peak resident.
	// 0 derives it from the bounds, at most 448 MiB, plus a budget for
	// the state held (bindings, calls, subscriptions, connections), and
	// moves it with that state (see package memlimit). Past 6/8 of the
	// bounds' part plus the state budget in live heap, new requests get
	// 503. A value set here is the whole budget and stays as set.
	MaxMemory int64 `yaml:"max_memory" reload:"restart"`
}

// Mode is a proxy mode; the type exists so that callers compare against the
// constants rather than string literals that may be misspelt.
type Mode string

// Modes.
const (
	ModeStateful  Mode = "stateful"
	ModeStateless Mode = "stateless"
	// ModeB2BUA holds every call as two dialogs (package b2bua), on top of
	// the stateful proxy that still serves everything else.
	ModeB2BUA Mode = "b2bua"
)

// LogLevel names a log/slog level in the words operators use.
type LogLevel string

// Log levels.
const (
	LogDebug LogLevel = "debug"
	LogInfo  LogLevel = "info"
	LogWarn  LogLevel = "warn"
	LogError LogLevel = "error"
)

// Slog returns the slog level so that the server need not repeat the
// mapping; an unknown level (one Validate would reject) maps to info.
func (l LogLevel) Slog() slog.Level {
	switch l {
	case LogDebug:
		return slog.LevelDebug
	case LogWarn:
		return slog.LevelWarn
	case LogError:
		return slog.LevelError
	}
	return slog.LevelInfo
}

// LogFormat names how log lines are written.
type LogFormat string

// Log formats.
const (
	LogText LogFormat = "text"
	LogJSON LogFormat = "json"
)

// BelowMin is the registrar's answer to a lifetime shorter than min_expires.
type BelowMin string

// Below-min policies. Reject is RFC 3261 §10.3 step 7 (423 Interval Too
// Brief, with Min-Expires); raise is kinder to clients that do not retry
// after a 423.
const (
	BelowMinReject BelowMin = "reject"
	BelowMinRaise  BelowMin = "raise"
)

// OverMaxContacts is the registrar's answer to a REGISTER that would exceed
// max_contacts.
type OverMaxContacts string

// Over-max policies. Reject answers 503; replace-oldest drops the binding
// refreshed longest ago, which suits devices that re-register with a new
// Contact after every reboot.
const (
	OverMaxReject        OverMaxContacts = "reject"
	OverMaxReplaceOldest OverMaxContacts = "replace-oldest"
)

// Forking is how a request reaches several contacts of one address of
// record (RFC 3261 §16.6).
type Forking string

// Forking modes. Auto forks in series when the contacts carry different q
// values, since q is the user's statement of which device to try first
// (RFC 3261 §16.6), and in parallel otherwise.
const (
	ForkingParallel Forking = "parallel"
	ForkingSerial   Forking = "serial"
	ForkingAuto     Forking = "auto"
)

// Relay is whom the proxy forwards for.
type Relay string

// Relay policies.
const (
	RelayDomains Relay = "domains"
	RelayOpen    Relay = "open"
)

// ClientAuth is how a tls listener treats client certificates.
type ClientAuth string

// Client-auth policies: none asks for no certificate, request asks for one
// and verifies it when given, require refuses peers without a valid one.
const (
	ClientAuthNone    ClientAuth = "none"
	ClientAuthRequest ClientAuth = "request"
	ClientAuthRequire ClientAuth = "require"
)

//go:embed defaults.yaml
var defaultsYAML []byte

// Default returns a fresh copy of the built-in defaults, which callers may
// modify freely. It panics if the embedded defaults.yaml is broken, which
// the package's tests rule out.
func Default() *Config {
	c := new(Config)
	var doc yaml.Node
	if err := yaml.Unmarshal(defaultsYAML, &doc); err != nil {
		panic("config: defaults.yaml: " + err.Error())
	}
	d := newDecoder()
	d.decode(doc.Content[0], reflect.ValueOf(c).Elem(), "")
	if len(d.errs) > 0 {
		panic("config: defaults.yaml: " + d.errs.Error())
	}
	return c
}

// Load reads the config file at path, overlays it on the defaults and
// validates the result. Errors name path as given, so they point where the
// operator looks.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// Parse is Load for a config already in memory; name is used only in error
// messages. An empty document yields the defaults. On error the result is
// nil and the error is an Errors listing every problem found, in line order.
func Parse(name string, data []byte) (*Config, error) {
	cfg := Default()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	err := dec.Decode(&doc)
	if errors.Is(err, io.EOF) {
		return cfg, nil
	}
	if err != nil {
		return nil, Errors{syntaxError(name, data, err)}
	}
	// A trailing, empty "---" is harmless; a second document is not,
	// since it would be silently ignored.
	for {
		var extra yaml.Node
		err := dec.Decode(&extra)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, Errors{syntaxError(name, data, err)}
		}
		if len(extra.Content) > 0 && !isNull(extra.Content[0]) {
			return nil, Errors{{File: name, Line: extra.Line,
				Msg: "a config file holds one YAML document; remove the second one (after ---)"}}
		}
	}
	if len(doc.Content) == 0 { // only comments
		return cfg, nil
	}

	d := newDecoder()
	d.decode(doc.Content[0], reflect.ValueOf(cfg).Elem(), "")
	// Validate even after decoding errors, so one run reports every
	// problem; rules touching a key that failed to decode are skipped, as
	// they would judge a value the file never meant.
	ch := cfg.check()
	ch.skip(d.errs)
	errs := append(d.errs, ch.resolve(name, d.pos)...).inFile(name)
	if len(errs) > 0 {
		return nil, errs
	}
	return cfg, nil
}

// Validate checks values and the rules between them. The command line calls
// it after overriding fields, so it cannot know file lines: its errors are
// KEY: problem. Parse and Load validate already and add file and line.
func (c *Config) Validate() error {
	if errs := c.check().resolve("", nil); len(errs) > 0 {
		return errs
	}
	return nil
}

// RegistrarFor returns the registrar policy for domain: the global block
// with the domain's override, if any, laid over it. Domain names compare
// case-insensitively, as in SIP URIs (RFC 3261 §19.1.4).
func (c *Config) RegistrarFor(domain string) RegistrarConfig {
	r := c.Registrar
	o, ok := c.DomainOverrides[domain]
	if !ok {
		for k, v := range c.DomainOverrides {
			if strings.EqualFold(k, domain) {
				o, ok = v, true
				break
			}
		}
	}
	if ok {
		o.apply(&r)
	}
	return r
}

func (o RegistrarOverride) apply(r *RegistrarConfig) {
	if o.DefaultExpires != nil {
		r.DefaultExpires = *o.DefaultExpires
	}
	if o.MinExpires != nil {
		r.MinExpires = *o.MinExpires
	}
	if o.MaxExpires != nil {
		r.MaxExpires = *o.MaxExpires
	}
	if o.BelowMin != nil {
		r.BelowMin = *o.BelowMin
	}
	if o.MaxContacts != nil {
		r.MaxContacts = *o.MaxContacts
	}
	if o.OverMaxContacts != nil {
		r.OverMaxContacts = *o.OverMaxContacts
	}
	if o.FlowTimer != nil {
		r.FlowTimer = *o.FlowTimer
	}
}

// syntaxError turns a yaml.v3 parse error ("yaml: line 3: did not find
// expected key") in data into an Error. Syntax errors name no key: the
// parser cannot tell which key it was in.
func syntaxError(name string, data []byte, err error) *Error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if num, tail, ok := strings.Cut(rest, ": "); ok {
			if n, err := strconv.Atoi(num); err == nil && n > 0 {
				line, msg = n, tail
			}
		}
	}
	// yaml.v3 counts lines from 0 in parser errors, unlike scanner errors
	// (go-yaml/yaml#205), and leaves the line out when it is the first.
	// These are its parser errors' messages; a test pins them.
	if strings.HasPrefix(msg, "did not find expected") || strings.HasPrefix(msg, "found undefined tag handle") {
		line++
	}
	if strings.HasPrefix(msg, "found unknown escape character") {
		// Nearly always a regex (routes[N].regex) in double quotes,
		// where YAML reads \d as an escape: say how to write it.
		msg += `: in double quotes a backslash starts an escape; write a regex in single quotes ('^\d+$')`
	}
	if strings.HasPrefix(msg, "found character that cannot start any token") && hasTab(data, line) {
		// An editor's tab: YAML's message names no tab, and a tab
		// looks like the spaces of the lines around it.
		msg += ": a tab; YAML indents with spaces only"
	}
	return &Error{File: name, Line: line, Msg: msg}
}

// hasTab reports whether line (from 1) of data holds a tab.
func hasTab(data []byte, line int) bool {
	for i, l := range bytes.Split(data, []byte("\n")) {
		if i+1 == line {
			return bytes.IndexByte(l, '\t') >= 0
		}
	}
	return false
}
