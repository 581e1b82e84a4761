package sip

// SIPIfMatch returns the entity-tag of a PUBLISH's SIP-If-Match header
// (RFC 3903 §11.3.2), "" when there is none. An entity-tag is a token;
// anything else, or two of them, is 400 Malformed SIP-If-Match, since
// the compositor must match it exactly to act.
func (m *Message) SIPIfMatch() (string, error) {
	vals := m.HeaderValues("SIP-If-Match")
	switch {
	case len(vals) == 0:
		return "", nil
	case len(vals) > 1 || !isToken(vals[0]):
		return "", &Error{Code: 400, Reason: "Malformed SIP-If-Match"}
	}
	return vals[0], nil
}
