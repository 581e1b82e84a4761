package sip

import (
	"strconv"
	"strings"
)

// MagicCookie starts every branch made by an RFC 3261 element (§8.1.1.7).
const MagicCookie = "z9hG4bK"

// Via is one Via header value (§20.42): "SIP/2.0/UDP host:port;params".
type Via struct {
	Transport string // upper case as written, e.g. "UDP"
	Host      string // IPv6 hosts keep their brackets
	Port      int    // 0 when absent
	Params    Params
	raw       string
	other     bool // sent-protocol is not SIP/2.0
	broken    bool // below the top Via and does not parse: only raw is set
}

// Broken reports whether this Via, below the top one, does not parse:
// Parley forwards it as written and reads nothing of it, so only String
// is meaningful.
func (v *Via) Broken() bool { return v.broken }

// Branch returns the branch parameter, or "".
func (v *Via) Branch() string {
	b, _ := v.Params.Get("branch")
	return b
}

// Received returns the received parameter, or "".
func (v *Via) Received() string {
	r, _ := v.Params.Get("received")
	return r
}

// RPort returns the rport parameter: has is whether it is present, port is
// its value (0 when it has none, as a client sends it).
func (v *Via) RPort() (port int, has bool) {
	r, ok := v.Params.Get("rport")
	if !ok {
		return 0, false
	}
	n, _ := parseUint(r, 65535)
	return int(n), true
}

// String returns the Via value as written.
func (v *Via) String() string { return v.raw }

// ParseVia parses one Via value (not a comma list).
func ParseVia(s string) (Via, error) {
	v := Via{raw: s}
	// sent-protocol: "SIP" SLASH "2.0" SLASH transport, with optional LWS
	// around the slashes (§25.1 SLASH = SWS "/" SWS).
	// The grammar allows any token for name and version; a version other
	// than SIP/2.0 is kept, so that a request carrying it can still be
	// answered with 505, and Validate rejects it.
	name, rest, ok := cutSlash(s)
	if !ok || !isToken(name) {
		return v, ErrVia
	}
	ver, rest, ok := cutSlash(rest)
	if !ok || !isToken(ver) {
		return v, ErrVia
	}
	v.other = !EqualFold(name, "SIP") || ver != "2.0"
	rest = trimLWS(rest)
	i := 0
	for i < len(rest) && isTokenChar(rest[i]) {
		i++
	}
	if i == 0 || i == len(rest) || !isLWS(rest[i]) {
		return v, ErrVia
	}
	v.Transport = rest[:i]
	rest = trimLWS(rest[i:])
	sentBy := rest
	if semi := strings.IndexByte(rest, ';'); semi >= 0 {
		sentBy = rest[:semi]
		v.Params = Params(rest[semi+1:])
		if !validParams(string(v.Params)) {
			return v, ErrVia
		}
	}
	host, port, err := splitHostPortLWS(trimLWS(sentBy), true)
	if err != nil {
		return v, ErrVia
	}
	v.Host, v.Port = host, port
	return v, nil
}

func cutSlash(s string) (before, after string, ok bool) {
	i := strings.IndexByte(s, '/')
	if i < 0 {
		return "", "", false
	}
	return trimLWS(s[:i]), s[i+1:], true
}

// SentBy returns "host:port" of the Via, defaulting the port as §18.2.2
// does for the transport (5061 for TLS, 5060 otherwise) when it is absent.
func (v *Via) SentBy() (host string, port int) {
	port = v.Port
	if port == 0 {
		port = DefaultPort(v.Transport)
	}
	return v.Host, port
}

// DefaultPort is the port used when a URI or Via names none.
func DefaultPort(transport string) int {
	if EqualFold(transport, "TLS") || EqualFold(transport, "WSS") {
		return 5061
	}
	return 5060
}

// AppendVia appends a Via value "SIP/2.0/TRANSPORT host:port;branch=…"
// followed by extra parameters (each "name=value" or "name").
func AppendVia(b []byte, transport, host string, port int, branch string, extra ...string) []byte {
	b = append(b, "SIP/2.0/"...)
	b = append(b, transport...)
	b = append(b, ' ')
	b = append(b, host...)
	if port != 0 {
		b = append(b, ':')
		b = strconv.AppendInt(b, int64(port), 10)
	}
	b = append(b, ";branch="...)
	b = append(b, branch...)
	for _, p := range extra {
		b = append(b, ';')
		b = append(b, p...)
	}
	return b
}

// WithReceived returns the Via value with received and rport set as
// §18.2.1 and RFC 3581 §4 say: received when the sent-by host is not the
// source address (or rport asks for it), rport filled when requested.
// changed is false when the Via needs no stamp.
func (v *Via) WithReceived(sourceIP string, sourcePort int) (value string, changed bool) {
	_, wantsRPort := v.RPort()
	return v.withReceived(sourceIP, sourcePort, wantsRPort)
}

// WithReceivedRPort is WithReceived with rport filled in as if the client
// had asked for it, as a server does for clients whose sent-by names no
// host it can reach (web phones, RFC 7118, under .invalid): the source
// port is then what finds their connection again.
func (v *Via) WithReceivedRPort(sourceIP string, sourcePort int) (value string, changed bool) {
	return v.withReceived(sourceIP, sourcePort, true)
}

func (v *Via) withReceived(sourceIP string, sourcePort int, wantsRPort bool) (value string, changed bool) {
	needReceived := wantsRPort || TrimBrackets(v.Host) != sourceIP
	if !needReceived && !wantsRPort {
		return v.raw, false
	}
	b := make([]byte, 0, len(v.raw)+48)
	head := v.raw
	params := ""
	if semi := strings.IndexByte(v.raw, ';'); semi >= 0 {
		head, params = v.raw[:semi], v.raw[semi+1:]
	}
	b = append(b, head...)
	Params(params).Each(func(n, val string) bool {
		if EqualFold(n, "received") || (EqualFold(n, "rport") && wantsRPort) {
			return true
		}
		b = append(b, ';')
		b = append(b, n...)
		if val != "" {
			b = append(b, '=')
			b = append(b, val...)
		}
		return true
	})
	if needReceived {
		b = append(b, ";received="...)
		b = append(b, sourceIP...)
	}
	if wantsRPort {
		b = append(b, ";rport="...)
		b = strconv.AppendInt(b, int64(sourcePort), 10)
	}
	return string(b), true
}

// TrimBrackets returns a host without the brackets an IPv6 address
// carries in a URI or Via ("[2001:db8::1]" → "2001:db8::1").
func TrimBrackets(h string) string {
	if len(h) >= 2 && h[0] == '[' && h[len(h)-1] == ']' {
		return h[1 : len(h)-1]
	}
	return h
}
