package sip

import "strings"

// AuthValue is one WWW-Authenticate, Proxy-Authenticate, Authorization or
// Proxy-Authorization value (§20.7, §20.27, §20.28, §20.44): a scheme
// ("Digest") and its comma-separated auth-params, searched in place.
type AuthValue struct {
	Scheme string
	Params string // "realm=\"x\", nonce=\"y\", …" as written
}

// Param returns the auth-param called name (case-insensitive), without
// quotes (escapes kept; see Unquote).
func (a AuthValue) Param(name string) (string, bool) {
	rest := a.Params
	for rest != "" {
		var item string
		item, rest = splitComma(rest)
		n, v, _ := cutParam(item)
		if EqualFold(n, name) {
			return unquoteRaw(v), true
		}
	}
	return "", false
}

// ParseAuth parses one auth header value: a token scheme, white space and
// comma-separated name=value pairs.
func ParseAuth(s string) (AuthValue, error) {
	s = trimLWS(s)
	i := 0
	for i < len(s) && isTokenChar(s[i]) {
		i++
	}
	if i == 0 || (i < len(s) && !isLWS(s[i])) {
		return AuthValue{}, ErrAuth
	}
	a := AuthValue{Scheme: s[:i], Params: trimLWS(s[i:])}
	for rest := a.Params; rest != ""; {
		var item string
		item, rest = splitComma(rest)
		if n, _, has := cutParam(item); !has || !isToken(n) {
			return AuthValue{}, ErrAuth
		}
	}
	return a, nil
}

// Authorizations returns every Authorization value.
func (m *Message) Authorizations() ([]AuthValue, error) { return m.authValues(HAuthorization) }

// ProxyAuthorizations returns every Proxy-Authorization value.
func (m *Message) ProxyAuthorizations() ([]AuthValue, error) {
	return m.authValues(HProxyAuthorization)
}

// WWWAuthenticates returns every WWW-Authenticate challenge.
func (m *Message) WWWAuthenticates() ([]AuthValue, error) { return m.authValues(HWWWAuthenticate) }

// ProxyAuthenticates returns every Proxy-Authenticate challenge.
func (m *Message) ProxyAuthenticates() ([]AuthValue, error) {
	return m.authValues(HProxyAuthenticate)
}

func (m *Message) authValues(id HeaderID) ([]AuthValue, error) {
	var out []AuthValue
	var err error
	m.each(id, "", func(v string) bool {
		var a AuthValue
		a, err = ParseAuth(v)
		out = append(out, a)
		return err == nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Event is the Event header (RFC 6665 §8.2.1): a package and parameters.
type Event struct {
	Type   string // "presence", "dialog", "message-summary", …
	Params Params // e.g. id=
}

// ID returns the id parameter, or "".
func (e Event) ID() string {
	id, _ := e.Params.Get("id")
	return id
}

// Event returns the Event header; ok is false when there is none.
func (m *Message) Event() (ev Event, ok bool, err error) {
	typ, params, ok, err := m.tokenWithParams(HEvent)
	return Event{Type: typ, Params: params}, ok, err
}

// SubscriptionState is the Subscription-State header (RFC 6665 §8.2.3).
type SubscriptionState struct {
	State  string // "active", "pending" or "terminated"
	Params Params // expires=, reason=, retry-after=
}

// SubscriptionState returns the Subscription-State header; ok is false
// when there is none.
func (m *Message) SubscriptionState() (st SubscriptionState, ok bool, err error) {
	state, params, ok, err := m.tokenWithParams(HSubscriptionState)
	return SubscriptionState{State: strings.ToLower(state), Params: params}, ok, err
}

// tokenWithParams parses a single "token;params" header.
func (m *Message) tokenWithParams(id HeaderID) (tok string, params Params, ok bool, err error) {
	i := m.find(id, "")
	if i < 0 {
		return "", "", false, nil
	}
	bad := &Error{Code: 400, Reason: "Malformed " + id.String()}
	if m.count(id) > 1 {
		return "", "", true, bad
	}
	v := m.fieldValue(&m.fields[i])
	tok = v
	if semi := strings.IndexByte(v, ';'); semi >= 0 {
		tok, params = trimLWS(v[:semi]), Params(v[semi+1:])
		if !validParams(string(params)) {
			return "", "", true, bad
		}
	}
	if !isToken(tok) {
		return "", "", true, bad
	}
	return tok, params, true, nil
}
