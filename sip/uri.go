package sip

import (
	"net/netip"
	"strconv"
	"strings"
)

// URI is a parsed sip:, sips: or tel: URI (RFC 3261 §19.1, RFC 3966). Any
// other scheme is kept whole in Opaque. Fields are views of the text they
// were parsed from; escapes are kept as written (see Unescape).
type URI struct {
	Scheme   string // lower case: "sip", "sips", "tel", …
	User     string // for tel: the number
	Password string
	Host     string // IPv6 hosts keep their brackets: "[2001:db8::1]"
	Port     int    // 0 when absent
	Params   Params // URI parameters without the leading ';'
	Headers  string // the part after '?', without it
	Opaque   string // everything after "scheme:" for schemes other than sip/sips/tel
	raw      string
}

// IsSIP reports whether u is a sip: or sips: URI.
func (u *URI) IsSIP() bool { return u.Scheme == "sip" || u.Scheme == "sips" }

// ParseURI parses a URI. It never panics and returns ErrURI for anything
// that is not a well-formed URI of a known shape. A parameter name that
// appears twice (";transport=udp;transport=udp", ";lr;lr") is accepted
// although §19.1.1 forbids it: phones send it, and a proxy that refused
// it would lose calls every other server completes. Params.Get reads the
// first occurrence, and the text is forwarded as it came.
func ParseURI(s string) (URI, error) {
	var u URI
	colon := strings.IndexByte(s, ':')
	if colon <= 0 || !isScheme(s[:colon]) {
		return u, ErrURI
	}
	u.raw = s
	u.Scheme = lowerScheme(s[:colon])
	rest := s[colon+1:]
	switch u.Scheme {
	case "sip", "sips":
		return u, u.parseSIP(rest)
	case "tel":
		return u, u.parseTel(rest)
	default:
		if rest == "" {
			return u, ErrURI
		}
		u.Opaque = rest
		return u, nil
	}
}

func isScheme(s string) bool {
	if s == "" || !isAlpha(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !isAlpha(c) && !isDigit(c) && c != '+' && c != '-' && c != '.' {
			return false
		}
	}
	return true
}

// lowerScheme avoids an allocation for the schemes seen on every message.
func lowerScheme(s string) string {
	switch {
	case EqualFold(s, "sip"):
		return "sip"
	case EqualFold(s, "sips"):
		return "sips"
	case EqualFold(s, "tel"):
		return "tel"
	}
	return strings.ToLower(s)
}

func isAlpha(c byte) bool { return (c|0x20) >= 'a' && (c|0x20) <= 'z' }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isHex(c byte) bool   { return isDigit(c) || ((c|0x20) >= 'a' && (c|0x20) <= 'f') }

func (u *URI) parseSIP(s string) error {
	if at := strings.IndexByte(s, '@'); at >= 0 {
		userinfo := s[:at]
		s = s[at+1:]
		if c := strings.IndexByte(userinfo, ':'); c >= 0 {
			u.User, u.Password = userinfo[:c], userinfo[c+1:]
		} else {
			u.User = userinfo
		}
		if u.User == "" || !validEscapes(u.User) || !validUserChars(u.User) ||
			!validEscapes(u.Password) || !validPasswordChars(u.Password) {
			return ErrURI
		}
	}
	if q := strings.IndexByte(s, '?'); q >= 0 {
		u.Headers = s[q+1:]
		s = s[:q]
		if !validEscapes(u.Headers) {
			return ErrURI
		}
	}
	if semi := strings.IndexByte(s, ';'); semi >= 0 {
		u.Params = Params(s[semi+1:])
		s = s[:semi]
		if !validParams(string(u.Params)) || !validEscapes(string(u.Params)) {
			return ErrURI
		}
	}
	host, port, err := splitHostPort(s)
	if err != nil {
		return err
	}
	u.Host, u.Port = host, port
	return nil
}

// validUserChars rejects characters that may not appear unescaped in the
// user part (§25.1 user = 1*( unreserved / escaped / user-unreserved )).
func validUserChars(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isAlpha(c) || isDigit(c) || strings.IndexByte("-_.!~*'()%&=+$,;?/", c) >= 0 {
			continue
		}
		return false
	}
	return true
}

// validPasswordChars checks password = *( unreserved / escaped / "&" /
// "=" / "+" / "$" / "," ) (§25.1).
func validPasswordChars(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isAlpha(c) || isDigit(c) || strings.IndexByte("-_.!~*'()%&=+$,", c) >= 0 {
			continue
		}
		return false
	}
	return true
}

// splitHostPort parses hostport (§25.1): a name, an IPv4 address or a
// bracketed IPv6 reference, with an optional port.
func splitHostPort(s string) (host string, port int, err error) {
	return splitHostPortLWS(s, false)
}

// splitHostPortLWS is splitHostPort that, with lws, also allows linear
// white space around the colon, as the Via's sent-by does (HCOLON).
func splitHostPortLWS(s string, lws bool) (host string, port int, err error) {
	if s == "" {
		return "", 0, ErrURI
	}
	host = s
	var portStr string
	hasPort := false
	if s[0] == '[' {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return "", 0, ErrURI
		}
		host = s[:end+1]
		rest := s[end+1:]
		if lws {
			rest = trimLWS(rest)
		}
		if rest != "" {
			if rest[0] != ':' {
				return "", 0, ErrURI
			}
			portStr, hasPort = rest[1:], true
		}
		if !validIPv6(host[1:end]) {
			return "", 0, ErrURI
		}
	} else {
		if c := strings.IndexByte(s, ':'); c >= 0 {
			host, portStr, hasPort = s[:c], s[c+1:], true
			if lws {
				host = trimLWS(host)
			}
		}
		if !ValidHostname(host) {
			return "", 0, ErrURI
		}
	}
	if hasPort {
		if lws {
			portStr = trimLWS(portStr)
		}
		p, ok := parseUint(portStr, 65535)
		if !ok {
			return "", 0, ErrURI
		}
		port = int(p)
	}
	return host, port, nil
}

// ValidHostname reports whether h is a hostname or an IPv4address as
// RFC 3261 §25.1 writes them: labels of letters, digits and '-', not
// starting or ending with '-', an optional final dot, and a last label
// that starts with a letter unless the whole is an IPv4 address. One
// liberty is taken: '_' may stand inside a label, because container and
// Windows host names carry it, resolvers accept it and Kamailio relays
// it; refusing it would lose calls over a character Parley never needs to
// interpret. It is the one host-name rule of the program: the
// configuration checks listener and domain names with it too.
func ValidHostname(h string) bool {
	if h == "" || len(h) > 255 {
		return false
	}
	if h[len(h)-1] == '.' {
		h = h[:len(h)-1]
	}
	last := 0
	for i := 0; i <= len(h); i++ {
		if i < len(h) && h[i] != '.' {
			c := h[i]
			if !isAlpha(c) && !isDigit(c) && c != '-' && c != '_' {
				return false
			}
			continue
		}
		label := h[last:i]
		if label == "" || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		if i == len(h) && isDigit(label[0]) {
			return validIPv4(h)
		}
		last = i + 1
	}
	return true
}

// validIPv4 checks four decimal octets of at most 255.
func validIPv4(h string) bool {
	octets := 0
	for h != "" {
		j := strings.IndexByte(h, '.')
		part := h
		if j >= 0 {
			part, h = h[:j], h[j+1:]
			if h == "" {
				return false
			}
		} else {
			h = ""
		}
		if len(part) == 0 || len(part) > 3 {
			return false
		}
		if _, ok := parseUint(part, 255); !ok {
			return false
		}
		octets++
	}
	return octets == 4
}

// validIPv6 checks an IPv6 address in any RFC 4291 text form: up to eight
// groups of 1-4 hex digits, at most one "::", and an optional IPv4 address
// in the last 32 bits. Following RFC 5118 §4.10, it also tolerates the
// ":::" before an embedded IPv4 address that RFC 3261's ABNF (inherited
// from RFC 2373) allows: "an implementation must tolerate both".
func validIPv6(h string) bool {
	if len(h) < 2 || len(h) > 64 {
		return false
	}
	groups, compressed := 0, false
	i := 0
	if strings.HasPrefix(h, "::") {
		compressed = true
		i = 2
		if i < len(h) && h[i] == ':' && strings.IndexByte(h[i+1:], '.') >= 0 {
			i++ // ":::" then IPv4, RFC 5118 §4.10
		}
		if i == len(h) {
			return true
		}
	} else if h[0] == ':' {
		return false
	}
	for i < len(h) {
		// One group, or the embedded IPv4 address that must end the address.
		j := i
		for j < len(h) && isHex(h[j]) {
			j++
		}
		if j < len(h) && h[j] == '.' {
			if !validIPv4(h[i:]) {
				return false
			}
			groups += 2
			i = len(h)
			break
		}
		if j == i || j-i > 4 {
			return false
		}
		groups++
		i = j
		if i == len(h) {
			break
		}
		if h[i] != ':' {
			return false
		}
		i++
		if i < len(h) && h[i] == ':' {
			if compressed {
				// A second "::" is never valid, except the tolerated
				// ":::" right before an embedded IPv4 address.
				return false
			}
			compressed = true
			i++
			if i < len(h) && h[i] == ':' && strings.IndexByte(h[i+1:], '.') >= 0 {
				i++
			}
			if i == len(h) {
				break
			}
		} else if i == len(h) {
			return false // a single trailing ':'
		}
	}
	if compressed {
		return groups <= 7
	}
	return groups == 8
}

// validEscapes checks every '%' is followed by two hex digits.
func validEscapes(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '%' {
			if i+2 >= len(s) {
				return false
			}
			if !isHex(s[i+1]) || !isHex(s[i+2]) {
				return false
			}
			i += 2
		}
	}
	return true
}

func (u *URI) parseTel(s string) error {
	if semi := strings.IndexByte(s, ';'); semi >= 0 {
		u.Params = Params(s[semi+1:])
		s = s[:semi]
	}
	if s == "" {
		return ErrURI
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isHex(c) && strings.IndexByte("+-.()*#", c) < 0 {
			return ErrURI
		}
	}
	u.User = s
	return nil
}

// String returns the URI as it was parsed, or as built for a URI made in code.
func (u URI) String() string {
	if u.raw != "" {
		return u.raw
	}
	return string(u.AppendTo(nil))
}

// AppendTo appends the URI's text to b.
func (u URI) AppendTo(b []byte) []byte {
	if u.raw != "" {
		return append(b, u.raw...)
	}
	b = append(b, u.Scheme...)
	b = append(b, ':')
	if u.Opaque != "" {
		return append(b, u.Opaque...)
	}
	if u.User != "" {
		b = append(b, u.User...)
		if u.Password != "" {
			b = append(b, ':')
			b = append(b, u.Password...)
		}
		if u.Scheme != "tel" {
			b = append(b, '@')
		}
	}
	b = append(b, u.Host...)
	if u.Port != 0 {
		b = append(b, ':')
		b = strconv.AppendInt(b, int64(u.Port), 10)
	}
	if u.Params != "" {
		b = append(b, ';')
		b = append(b, u.Params...)
	}
	if u.Headers != "" {
		b = append(b, '?')
		b = append(b, u.Headers...)
	}
	return b
}

// HostPort returns "host:port", or "host" when the URI has no port.
func (u URI) HostPort() string {
	if u.Port == 0 {
		return u.Host
	}
	return u.Host + ":" + strconv.Itoa(u.Port)
}

// AOR returns the address-of-record form of u (§10.3 step 5): scheme,
// unescaped user and lower-case host, with no port, parameters or headers.
func (u URI) AOR() string {
	if !u.IsSIP() {
		if u.Scheme == "tel" {
			return "tel:" + u.User
		}
		return u.Scheme + ":" + u.Opaque
	}
	var b strings.Builder
	b.Grow(len(u.Scheme) + len(u.User) + len(u.Host) + 2)
	b.WriteString(u.Scheme)
	b.WriteByte(':')
	if u.User != "" {
		b.WriteString(Unescape(u.User))
		b.WriteByte('@')
	}
	b.WriteString(strings.ToLower(u.Host))
	return b.String()
}

// Unescape resolves %XX escapes. It allocates only when there is one.
func Unescape(s string) string {
	if strings.IndexByte(s, '%') < 0 {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			b = append(b, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
			continue
		}
		b = append(b, s[i])
	}
	return string(b)
}

func unhex(c byte) byte {
	switch {
	case isDigit(c):
		return c - '0'
	default:
		return (c | 0x20) - 'a' + 10
	}
}

// Equal compares two URIs by the rules of §19.1.4: user and password
// case-sensitively after unescaping, host case-insensitively (IP addresses
// by value, RFC 5954 §4), ports exactly, the user, ttl, method, maddr and
// transport parameters when either side has them, other parameters only
// when both have them, and headers as an unordered set that must match.
func (u URI) Equal(v URI) bool {
	if u.Scheme != v.Scheme {
		return false
	}
	if !u.IsSIP() {
		if u.Scheme == "tel" {
			return u.User == v.User && u.Params == v.Params
		}
		return u.Opaque == v.Opaque
	}
	if !equalEscaped(u.User, v.User) || !equalEscaped(u.Password, v.Password) {
		return false
	}
	if !equalHost(u.Host, v.Host) || u.Port != v.Port {
		return false
	}
	for _, name := range [...]string{"user", "ttl", "method", "maddr", "transport"} {
		a, aok := u.Params.Get(name)
		b, bok := v.Params.Get(name)
		if aok != bok || !equalFoldEscaped(a, b) {
			return false
		}
	}
	equal := true
	u.Params.Each(func(n, _ string) bool {
		// Get, not Each's value: of a repeated name only the first
		// occurrence counts, on both sides, so that Equal stays reflexive.
		n = Unescape(n)
		a, _ := u.Params.Get(n)
		if b, ok := v.Params.Get(n); ok && !equalFoldEscaped(a, b) {
			equal = false
		}
		return equal
	})
	return equal && equalHeaders(u.Headers, v.Headers)
}

// equalEscaped compares a and b after resolving %XX escapes, without
// allocating when neither has one.
func equalEscaped(a, b string) bool {
	if strings.IndexByte(a, '%') < 0 && strings.IndexByte(b, '%') < 0 {
		return a == b
	}
	return Unescape(a) == Unescape(b)
}

func equalFoldEscaped(a, b string) bool {
	if strings.IndexByte(a, '%') < 0 && strings.IndexByte(b, '%') < 0 {
		return EqualFold(a, b)
	}
	return EqualFold(Unescape(a), Unescape(b))
}

// equalHost compares host names case-insensitively and IP addresses by
// value, so that [2001:db8::1] equals [2001:DB8:0::1].
func equalHost(a, b string) bool {
	if EqualFold(a, b) {
		return true
	}
	x, err1 := netip.ParseAddr(TrimBrackets(a))
	y, err2 := netip.ParseAddr(TrimBrackets(b))
	return err1 == nil && err2 == nil && x == y
}

// equalHeaders compares two URI header parts ("a=b&c=d") as sets: names
// case-insensitively, values exactly after unescaping.
func equalHeaders(a, b string) bool {
	return a == b || (headersWithin(a, b) && headersWithin(b, a))
}

// headersWithin reports whether every header of a is in b.
func headersWithin(a, b string) bool {
	for ra := a; ra != ""; {
		var ha string
		ha, ra, _ = strings.Cut(ra, "&")
		na, va, _ := strings.Cut(ha, "=")
		found := false
		for rb := b; rb != "" && !found; {
			var hb string
			hb, rb, _ = strings.Cut(rb, "&")
			nb, vb, _ := strings.Cut(hb, "=")
			found = equalFoldEscaped(na, nb) && equalEscaped(va, vb)
		}
		if !found {
			return false
		}
	}
	return true
}
