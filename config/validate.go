package config

import (
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"time"
)

// An issue is one validation problem, told from the side of each key
// involved. A rule between keys (min_expires <= max_expires) is best
// reported at whichever key the file actually set, since that is the line
// the operator changed; resolve picks it.
type issue []alt

type alt struct{ key, msg string }

type checker struct{ issues []issue }

func (ch *checker) add(key, format string, args ...any) {
	ch.issues = append(ch.issues, issue{{key, fmt.Sprintf(format, args...)}})
}

func (ch *checker) either(alts ...alt) {
	ch.issues = append(ch.issues, alts)
}

// check applies every rule. It is separate from Validate so that Parse can
// place the problems on lines.
func (c *Config) check() *checker {
	ch := new(checker)

	if len(c.Listen) == 0 {
		ch.add("listen", "must name at least one listener, like udp:0.0.0.0:5060")
	}
	seen := make(map[string]int)
	for i, l := range c.Listen {
		key := fmt.Sprintf("listen[%d]", i)
		if err := l.validate(); err != nil {
			ch.add(key, "%v", err)
			continue
		}
		if j, dup := seen[l.String()]; dup {
			ch.add(key, "%s is already listed as listen[%d]", l, j)
		}
		seen[l.String()] = i
	}

	domains := make(map[string]int)
	for i, dom := range c.Domains {
		key := fmt.Sprintf("domains[%d]", i)
		if !validDomain(dom) {
			ch.add(key, "%q is not a domain name or IP address", dom)
			continue
		}
		if j, dup := domains[strings.ToLower(dom)]; dup {
			ch.add(key, "%q is already listed as domains[%d]", dom, j)
		}
		domains[strings.ToLower(dom)] = i
	}

	for i, alias := range c.Aliases {
		if !validDomain(alias) {
			ch.add(fmt.Sprintf("aliases[%d]", i), "%q is not a host name or IP address (no port: it names this server on every listener)", alias)
		}
	}

	if c.DataDir == "" {
		ch.add("data_dir", "must not be empty; use . for the working directory")
	}
	checkEnum(ch, "mode", c.Mode, ModeStateful, ModeStateless, ModeB2BUA)
	checkEnum(ch, "log_level", c.LogLevel, LogDebug, LogInfo, LogWarn, LogError)
	checkEnum(ch, "log_format", c.LogFormat, LogText, LogJSON)
	if c.ShutdownTimeout < 0 {
		ch.add("shutdown_timeout", "must not be negative, got %s", c.ShutdownTimeout)
	}

	ch.registrar(c.Registrar, func(name string) string { return "registrar." + name })
	ch.b2bua(c.B2BUA)

	checkEnum(ch, "proxy.forking", c.Proxy.Forking, ForkingParallel, ForkingSerial, ForkingAuto)
	checkEnum(ch, "proxy.relay", c.Proxy.Relay, RelayDomains, RelayOpen)
	positive(ch, "proxy.timer_c", c.Proxy.TimerC)

	t := c.Transaction
	positive(ch, "transaction.t1", t.T1)
	positive(ch, "transaction.t2", t.T2)
	positive(ch, "transaction.t4", t.T4)
	if t.T1 > 0 && t.T2 > 0 && t.T1 >= t.T2 {
		ch.either(
			alt{"transaction.t1", fmt.Sprintf("must be less than transaction.t2 (%s), got %s", t.T2, t.T1)},
			alt{"transaction.t2", fmt.Sprintf("must be more than transaction.t1 (%s), got %s", t.T1, t.T2)},
		)
	}
	atLeast(ch, "transaction.max_transactions", t.MaxTransactions, 1)
	atLeast(ch, "transaction.max_in_flight", t.MaxInFlight, 1)

	positive(ch, "tcp.idle_timeout", c.TCP.IdleTimeout)
	atLeast(ch, "tcp.max_connections", c.TCP.MaxConnections, 1)
	atLeast(ch, "tcp.max_connections_per_ip", c.TCP.MaxConnectionsPerIP, 1)
	atLeast(ch, "limits.max_message_size", c.Limits.MaxMessageSize, 1)
	if c.Limits.MaxMemory != 0 && c.Limits.MaxMemory < 64<<20 {
		ch.add("limits.max_memory", "must be 0 (derived from the bounds) or at least 67108864 (64 MiB), got %d", c.Limits.MaxMemory)
	}
	if c.TCP.MaxBuffer < c.Limits.MaxMessageSize && c.Limits.MaxMessageSize > 0 {
		ch.either(
			alt{"tcp.max_buffer", fmt.Sprintf("must be at least limits.max_message_size (%d) so a whole message fits, got %d",
				c.Limits.MaxMessageSize, c.TCP.MaxBuffer)},
			alt{"limits.max_message_size", fmt.Sprintf("must not exceed tcp.max_buffer (%d), since a whole message must fit, got %d",
				c.TCP.MaxBuffer, c.Limits.MaxMessageSize)},
		)
	}

	// Reported at the empty key when the file names it, else at the one
	// set, whose message then says what it lacks.
	switch {
	case c.TLS.CertFile != "" && c.TLS.KeyFile == "":
		ch.either(
			alt{"tls.key_file", "must be set when tls.cert_file is"},
			alt{"tls.cert_file", "needs tls.key_file beside it (or leave both empty for a self-signed certificate)"},
		)
	case c.TLS.CertFile == "" && c.TLS.KeyFile != "":
		ch.either(
			alt{"tls.cert_file", "must be set when tls.key_file is"},
			alt{"tls.key_file", "needs tls.cert_file beside it (or leave both empty for a self-signed certificate)"},
		)
	}
	checkEnum(ch, "tls.client_auth", c.TLS.ClientAuth, ClientAuthNone, ClientAuthRequest, ClientAuthRequire)

	ch.admin(c.Admin)
	ch.storage(c.Storage, c.Auth)
	ch.auth(c.Auth)
	ch.cdr(c.CDR)
	ch.messages(c.Messages)
	ch.presence(c.Presence)
	ch.sessionTimers(c.B2BUA)
	ch.callLimits(c.Limits.Calls)
	ch.cluster(c.Cluster, c.Listen, c.Storage, c.Auth, c.Security)
	ch.authOverrides(c, domains)
	ch.hep(c.HEP)
	ch.security(c.Security)
	ch.streamTimeouts(c.TCP, c.TLS)
	ch.trunks(c)
	ch.websocket(c.WebSocket)

	for _, dom := range ch.overrideDomains("domain_overrides", mapKeys(c.DomainOverrides), domains) {
		o := c.DomainOverrides[dom]
		prefix := "domain_overrides." + dom
		r := c.Registrar
		o.apply(&r)
		ch.registrar(r, func(name string) string {
			if o.has(name) {
				return prefix + "." + name
			}
			return "registrar." + name
		})
	}
	return ch
}

// registrar checks one registrar block; key names each field, which for a
// domain override is the override's key where it sets one and the global
// key otherwise.
func (ch *checker) registrar(r RegistrarConfig, key func(name string) string) {
	switch ft := r.FlowTimer; {
	case ft < 0:
		ch.add(key("flow_timer"), "must not be negative, got %s", ft)
	case ft%Duration(time.Second) != 0:
		ch.add(key("flow_timer"), "must be whole seconds, as Flow-Timer counts seconds; got %s", ft)
	}
	ok := true
	for _, f := range []struct {
		name string
		d    Duration
	}{{"default_expires", r.DefaultExpires}, {"min_expires", r.MinExpires}, {"max_expires", r.MaxExpires}} {
		switch {
		case f.d <= 0:
			ch.add(key(f.name), "must be positive, got %s", f.d)
			ok = false
		case f.d%Duration(time.Second) != 0:
			ch.add(key(f.name), "must be whole seconds, as SIP Expires counts seconds; got %s", f.d)
			ok = false
		}
	}
	if ok {
		lo, def, hi := r.MinExpires, r.DefaultExpires, r.MaxExpires
		kLo, kDef, kHi := key("min_expires"), key("default_expires"), key("max_expires")
		switch {
		case lo > hi:
			ch.either(overridesFirst(
				alt{kLo, fmt.Sprintf("must not exceed %s (%s), got %s", kHi, hi, lo)},
				alt{kHi, fmt.Sprintf("must be at least %s (%s), got %s", kLo, lo, hi)},
			)...)
		case lo > def:
			ch.either(overridesFirst(
				alt{kLo, fmt.Sprintf("must not exceed %s (%s), got %s", kDef, def, lo)},
				alt{kDef, fmt.Sprintf("must be at least %s (%s), got %s", kLo, lo, def)},
			)...)
		case def > hi:
			ch.either(overridesFirst(
				alt{kDef, fmt.Sprintf("must not exceed %s (%s), got %s", kHi, hi, def)},
				alt{kHi, fmt.Sprintf("must be at least %s (%s), got %s", kDef, def, hi)},
			)...)
		}
	}
	checkEnum(ch, key("below_min"), r.BelowMin, BelowMinReject, BelowMinRaise)
	if r.MaxContacts < 0 {
		ch.add(key("max_contacts"), "must be 0 (no limit) or more, got %d", r.MaxContacts)
	}
	checkEnum(ch, key("over_max_contacts"), r.OverMaxContacts, OverMaxReject, OverMaxReplaceOldest)
}

// overridesFirst blames a domain override's own key before the global one
// it clashes with: the override is the newer, narrower statement.
func overridesFirst(alts ...alt) []alt {
	sort.SliceStable(alts, func(i, j int) bool {
		return strings.HasPrefix(alts[i].key, "domain_overrides.") && !strings.HasPrefix(alts[j].key, "domain_overrides.")
	})
	return alts
}

// has reports whether the override sets the field with YAML name name.
func (o RegistrarOverride) has(name string) bool {
	v := reflect.ValueOf(o)
	for i := range v.NumField() {
		if yamlName(v.Type().Field(i)) == name {
			return !v.Field(i).IsNil()
		}
	}
	return false
}

func checkEnum[T ~string](ch *checker, key string, v T, allowed ...T) {
	if slices.Contains(allowed, v) {
		return
	}
	names := make([]string, len(allowed))
	for i, a := range allowed {
		names[i] = string(a)
	}
	ch.add(key, "must be one of %s; got %q", strings.Join(names, ", "), string(v))
}

func positive(ch *checker, key string, d Duration) {
	if d <= 0 {
		ch.add(key, "must be positive, got %s", d)
	}
}

func atLeast(ch *checker, key string, n, least int) {
	if n < least {
		ch.add(key, "must be at least %d, got %d", least, n)
	}
}

// validDomain accepts what may follow the @ of a SIP URI: a host name or an
// IP address, IPv6 with or without brackets.
func validDomain(s string) bool {
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		s = s[1 : len(s)-1]
	}
	return validHost(s)
}

// skip drops issues that involve a key with a decoding error, or a key
// inside or around one.
func (ch *checker) skip(failed Errors) {
	ch.issues = slices.DeleteFunc(ch.issues, func(is issue) bool {
		for _, a := range is {
			for _, e := range failed {
				if related(a.key, e.Key) {
					return true
				}
			}
		}
		return false
	})
}

// related reports whether one key is the other or encloses it.
func related(a, b string) bool {
	if len(a) > len(b) {
		a, b = b, a
	}
	return a == "" || a == b || strings.HasPrefix(b, a) && (b[len(a)] == '.' || b[len(a)] == '[')
}

// resolve turns issues into Errors. With pos (from Parse) each issue is
// reported at the first of its keys the file set, else at the nearest
// enclosing key the file set; without, at its first key and no line.
func (ch *checker) resolve(file string, pos map[string]int) Errors {
	var errs Errors
	done := make(map[string]bool)
	for _, is := range ch.issues {
		e := place(is, pos)
		e.File = file
		if s := e.Error(); !done[s] {
			done[s] = true
			errs = append(errs, e)
		}
	}
	sort.SliceStable(errs, func(i, j int) bool { return errs[i].Line < errs[j].Line })
	return errs
}

func place(is issue, pos map[string]int) *Error {
	for _, a := range is {
		if line, ok := pos[a.key]; ok {
			return &Error{Line: line, Key: a.key, Msg: a.msg}
		}
	}
	for _, a := range is {
		for k := parent(a.key); k != ""; k = parent(k) {
			if line, ok := pos[k]; ok {
				return &Error{Line: line, Key: a.key, Msg: a.msg}
			}
		}
	}
	return &Error{Key: is[0].key, Msg: is[0].msg}
}

// parent strips the last element of a dotted key: listen[1] -> listen,
// registrar.min_expires -> registrar.
func parent(key string) string {
	if strings.HasSuffix(key, "]") {
		if i := strings.LastIndexByte(key, '['); i >= 0 {
			return key[:i]
		}
	}
	if i := strings.LastIndexByte(key, '.'); i >= 0 {
		return key[:i]
	}
	return ""
}

// legHeaders are what makes a message belong to its leg: passing one
// across would undo topology hiding or break the other leg's dialog.
var legHeaders = []string{"via", "v", "route", "record-route", "contact", "m", "call-id", "i", "from", "f",
	"to", "t", "cseq", "max-forwards", "content-length", "l", "content-type", "c", "rseq", "rack"}

func (ch *checker) b2bua(b B2BUAConfig) {
	for i, h := range b.PassHeaders {
		key := fmt.Sprintf("b2bua.pass_headers[%d]", i)
		switch {
		case h == "" || strings.ContainsAny(h, " \t:;,\r\n"):
			ch.add(key, "%q is not a header name", h)
		case slices.Contains(legHeaders, strings.ToLower(h)):
			ch.add(key, "%s belongs to its leg and never crosses (the B2BUA writes its own)", h)
		}
	}
}
