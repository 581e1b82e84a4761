package sip

import "strings"

// Params is the raw text of a ";name=value" parameter list, without the
// leading ';'. It is searched in place, so reading one parameter costs no
// allocation and unread parameters cost nothing.
type Params string

// Get returns the value of the parameter called name (case-insensitive).
// A quoted value is returned without its quotes (escapes are kept). ok is
// false when the parameter is absent; a parameter without '=' is present
// with the value "". When a name appears more than once, which §19.1.1
// forbids but phones send (baresip repeats a dialled ";transport=udp"),
// the first occurrence counts.
func (p Params) Get(name string) (value string, ok bool) {
	s := string(p)
	for s != "" {
		var item string
		item, s = nextParam(s)
		n, v, _ := cutParam(item)
		if named(n, name) {
			return unquoteRaw(v), true
		}
	}
	return "", false
}

// named reports whether a parameter written n is the one called name. An
// escaped name ("n%61me") is the same parameter in a URI (RFC 4475 esc01).
func named(n, name string) bool {
	return EqualFold(n, name) || (strings.IndexByte(n, '%') >= 0 && EqualFold(Unescape(n), name))
}

// Without returns p without the parameters called name (matched as Get
// matches them), every other parameter kept as written, white space
// included: a registrar echoes a Contact's parameters byte for byte but
// for the one it sets itself. It allocates only when there is one to drop.
func (p Params) Without(name string) Params {
	if !p.Has(name) {
		return p
	}
	b := make([]byte, 0, len(p))
	for s := string(p); s != ""; {
		var raw string
		raw, s = splitParam(s)
		if n, _, _ := cutParam(trimLWS(raw)); named(n, name) {
			continue
		}
		if len(b) > 0 {
			b = append(b, ';')
		}
		b = append(b, raw...)
	}
	return Params(b)
}

// Has reports whether the parameter called name is present.
func (p Params) Has(name string) bool {
	_, ok := p.Get(name)
	return ok
}

// Each calls fn with every parameter's name and raw value until it returns false.
func (p Params) Each(fn func(name, value string) bool) {
	s := string(p)
	for s != "" {
		var item string
		item, s = nextParam(s)
		n, v, _ := cutParam(item)
		if n == "" {
			continue
		}
		if !fn(n, v) {
			return
		}
	}
}

// nextParam splits at the first ';' outside a quoted string and trims the
// item.
func nextParam(s string) (item, rest string) {
	raw, rest := splitParam(s)
	return trimLWS(raw), rest
}

// splitParam splits at the first ';' outside a quoted string, keeping the
// item as written.
func splitParam(s string) (raw, rest string) {
	inQuote := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case inQuote && c == '\\':
			i++
		case c == '"':
			inQuote = !inQuote
		case c == ';' && !inQuote:
			return s[:i], s[i+1:]
		}
	}
	return s, ""
}

// cutParam splits "name = value" around the first '='.
func cutParam(item string) (name, value string, hasValue bool) {
	for i := 0; i < len(item); i++ {
		if item[i] == '=' {
			return trimLWS(item[:i]), trimLWS(item[i+1:]), true
		}
	}
	return item, "", false
}

// unquoteRaw strips the quotes of a quoted string, leaving escapes as they
// are; use Unquote to resolve them.
func unquoteRaw(v string) string {
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		return v[1 : len(v)-1]
	}
	return v
}

// Unquote resolves the quoted-pair escapes of a quoted string's content
// (§25.1). It allocates only when there is an escape to resolve.
func Unquote(s string) string {
	s = unquoteRaw(s)
	i := 0
	for i < len(s) && s[i] != '\\' {
		i++
	}
	if i == len(s) {
		return s
	}
	b := make([]byte, 0, len(s))
	b = append(b, s[:i]...)
	for ; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b = append(b, s[i])
	}
	return string(b)
}

// validParams checks a parameter list: every item has a token name and,
// after '=', a token, a host or a quoted string, as §25.1's generic-param
// allows. An empty item ("a;;b", a trailing ';') is no parameter at all.
func validParams(p string) bool {
	for s := p; ; {
		var item string
		item, s = nextParam(s)
		n, v, hasValue := cutParam(item)
		if !isToken(n) {
			return false
		}
		if hasValue {
			switch {
			case v == "":
			case v[0] == '"':
				if !validQuoted(v) {
					return false
				}
			case !isParamValue(v):
				return false
			}
		}
		if s == "" {
			// nextParam consumed a ';' only if more text followed it.
			return !strings.HasSuffix(trimLWS(p), ";")
		}
	}
}

// validQuoted checks a whole quoted-string: quotes at both ends and every
// quote inside escaped.
func validQuoted(v string) bool {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return false
	}
	for i := 1; i < len(v)-1; i++ {
		switch v[i] {
		case '\\':
			i++
			if i == len(v)-1 {
				return false // the closing quote is escaped
			}
		case '"':
			return false
		}
	}
	return true
}

// isParamValue accepts a token, a host (with ':' and '[]' for IPv6) or
// escaped URI parameter characters.
func isParamValue(v string) bool {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !tokenChars[c] && c != ':' && c != '[' && c != ']' && c != '/' && c != '&' && c != '$' && c != '@' && c != '?' {
			return false
		}
	}
	return true
}
