package sip

import (
	"strconv"
	"strings"
)

// NameAddr is a From, To, Contact, Route, Record-Route or Path value:
// an optional display name, a URI and header parameters (§20.10, §25.1).
type NameAddr struct {
	Display string // as written, quotes included when quoted
	URI     URI
	Params  Params // header parameters (tag, expires, q, …)
	Star    bool   // the "*" Contact of a REGISTER that removes all bindings
	raw     string
}

// DisplayName returns the display name as a person would read it: without
// the quotes of a quoted string and with its escapes resolved. It
// allocates only when there is an escape to resolve.
func (n *NameAddr) DisplayName() string {
	return Unquote(n.Display)
}

// Tag returns the tag parameter, or "".
func (n *NameAddr) Tag() string {
	t, _ := n.Params.Get("tag")
	return t
}

// String returns the value as written, or as built for one made in code.
func (n *NameAddr) String() string {
	if n.raw != "" {
		return n.raw
	}
	return string(n.AppendTo(nil))
}

// AppendTo appends the value in name-addr form.
func (n *NameAddr) AppendTo(b []byte) []byte {
	if n.raw != "" {
		return append(b, n.raw...)
	}
	if n.Star {
		return append(b, '*')
	}
	if n.Display != "" {
		b = append(b, n.Display...)
		b = append(b, ' ')
	}
	b = append(b, '<')
	b = n.URI.AppendTo(b)
	b = append(b, '>')
	if n.Params != "" {
		b = append(b, ';')
		b = append(b, n.Params...)
	}
	return b
}

// Expires returns the expires parameter of a Contact, if present and valid.
func (n *NameAddr) Expires() (seconds uint32, ok bool) {
	v, has := n.Params.Get("expires")
	if !has {
		return 0, false
	}
	e, ok := parseUint(v, 1<<32-1)
	return uint32(e), ok
}

// Q returns the q parameter of a Contact as thousandths (1000 when absent),
// and false when it is present but not a valid qvalue (§25.1).
func (n *NameAddr) Q() (int, bool) {
	v, has := n.Params.Get("q")
	if !has {
		return 1000, true
	}
	return parseQ(v)
}

// parseQ parses qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ).
func parseQ(v string) (int, bool) {
	if v == "" || (v[0] != '0' && v[0] != '1') {
		return 0, false
	}
	whole := int(v[0] - '0')
	frac := 0
	if len(v) > 1 {
		if v[1] != '.' || len(v) > 5 {
			return 0, false
		}
		digits := v[2:]
		for i := 0; i < 3; i++ {
			frac *= 10
			if i < len(digits) {
				if !isDigit(digits[i]) {
					return 0, false
				}
				frac += int(digits[i] - '0')
			}
		}
	}
	q := whole*1000 + frac
	return q, q <= 1000
}

// FormatQ writes a q value in thousandths as a qvalue string ("0.5").
func FormatQ(q int) string {
	if q >= 1000 {
		return "1"
	}
	s := strconv.Itoa(1000 + q)[1:]
	s = strings.TrimRight(s, "0")
	if s == "" {
		return "0"
	}
	return "0." + s
}

// ParseNameAddr parses one name-addr or addr-spec value (not a comma list).
func ParseNameAddr(s string) (NameAddr, error) {
	n := NameAddr{raw: s}
	s = trimLWS(s)
	if s == "*" {
		n.Star = true
		return n, nil
	}
	lt := indexUnquoted(s, '<')
	if lt < 0 {
		return n, n.parseAddrSpec(s)
	}
	display := trimLWS(s[:lt])
	if !validDisplay(display) {
		return n, ErrNameAddr
	}
	n.Display = display
	gt := strings.IndexByte(s[lt:], '>')
	if gt < 0 {
		return n, ErrNameAddr
	}
	// LAQUOT and RAQUOT allow white space outside the brackets only
	// (RFC 4475 badaspec).
	inner := s[lt+1 : lt+gt]
	if inner == "" || isLWS(inner[0]) || isLWS(inner[len(inner)-1]) {
		return n, ErrNameAddr
	}
	uri, err := ParseURI(inner)
	if err != nil {
		return n, err
	}
	n.URI = uri
	rest := trimLWS(s[lt+gt+1:])
	if rest != "" {
		if rest[0] != ';' {
			return n, ErrNameAddr
		}
		n.Params = Params(rest[1:])
		if !validParams(string(n.Params)) {
			return n, ErrNameAddr
		}
	}
	return n, nil
}

// parseAddrSpec handles the bare form, where (§20) any ';' parameters
// belong to the header, not the URI, and the URI may not hold ',', '?' or ';'.
func (n *NameAddr) parseAddrSpec(s string) error {
	uriText := s
	if semi := strings.IndexByte(s, ';'); semi >= 0 {
		uriText = trimLWS(s[:semi])
		n.Params = Params(s[semi+1:])
		if !validParams(string(n.Params)) {
			return ErrNameAddr
		}
	}
	if strings.ContainsAny(uriText, " \t,?\"") {
		return ErrNameAddr
	}
	uri, err := ParseURI(uriText)
	if err != nil {
		return err
	}
	n.URI = uri
	return nil
}

// indexUnquoted finds c outside quoted strings.
func indexUnquoted(s string, c byte) int {
	inQuote := false
	for i := 0; i < len(s); i++ {
		switch {
		case inQuote && s[i] == '\\':
			i++
		case s[i] == '"':
			inQuote = !inQuote
		case s[i] == c && !inQuote:
			return i
		}
	}
	return -1
}

// validDisplay accepts a quoted string or a run of tokens and white space.
func validDisplay(d string) bool {
	if d == "" {
		return true
	}
	if d[0] == '"' {
		if len(d) < 2 || d[len(d)-1] != '"' {
			return false
		}
		for i := 1; i < len(d)-1; i++ {
			if d[i] == '\\' {
				i++
			} else if d[i] == '"' {
				return false
			}
		}
		return true
	}
	for i := 0; i < len(d); i++ {
		if !isTokenChar(d[i]) && !isLWS(d[i]) {
			return false
		}
	}
	return true
}
