package sip

// RequestURIParsed returns the Request-URI parsed. A scheme other than
// sip, sips and tel is ErrUnsupportedURI (416, §8.2.2.1).
func (m *Message) RequestURIParsed() (URI, error) {
	m.live()
	u, err := ParseURI(m.uri)
	if err != nil {
		if colon := indexByte(m.uri, ':'); colon > 0 && isScheme(m.uri[:colon]) {
			scheme := lowerScheme(m.uri[:colon])
			if scheme != "sip" && scheme != "sips" && scheme != "tel" {
				return u, ErrUnsupportedURI
			}
		}
		return u, err
	}
	if !u.IsSIP() && u.Scheme != "tel" {
		return u, ErrUnsupportedURI
	}
	return u, nil
}

func indexByte(s string, c byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return i
		}
	}
	return -1
}

// Answerable reports whether m is a request that holds what a response
// must copy (§8.2.6.2): a Via that parses (it says where the response
// goes) and From, To, Call-ID and CSeq lines, copied as they are even when
// their values are malformed, which is what a 400 for them reports. A
// request without them cannot be answered and is dropped; a response is
// never answered.
func (m *Message) Answerable() bool {
	if !m.AnswerableAtSource() {
		return false
	}
	_, err := m.Vias()
	return err == nil
}

// AnswerableAtSource is Answerable for a request whose Via may not parse:
// it has a Via line to copy, and the response goes back to the address
// and port the request came from, as RFC 3581 would send it.
func (m *Message) AnswerableAtSource() bool {
	return m.isRequest && m.find(HVia, "") >= 0 && m.find(HFrom, "") >= 0 && m.find(HTo, "") >= 0 &&
		m.find(HCallID, "") >= 0 && m.find(HCSeq, "") >= 0
}

// Validate checks what Parley must interpret to act on a message, and
// nothing more (§8.2, §16.3 step 1; the leniency table of
// docs/ARCHITECTURE.md): the top Via, From and To present once each,
// Call-ID, CSeq and its method, Max-Forwards, and of a request the
// Request-URI (a sip, sips or tel URI without headers) and Route. The
// rest — Vias below the top, From and To beyond their tags, Contact,
// Expires, every other header — is forwarded as written even when its
// grammar is off; a role that reads more (the registrar: the To, Contacts
// and Expires of a REGISTER; auth: credentials and the From they must
// match) checks it where it reads it. The error says which status to
// answer with. Checks that depend on the element's role — Max-Forwards
// reaching 0, loops, Require and Proxy-Require, the body type — are left
// to the layers that know it.
func (m *Message) Validate() error {
	top, err := m.TopVia()
	if err != nil {
		return err
	}
	if top.other {
		return ErrVia
	}
	if err := m.once(HFrom, ErrMissingFrom, ErrMultipleFrom); err != nil {
		return err
	}
	if err := m.once(HTo, ErrMissingTo, ErrMultipleTo); err != nil {
		return err
	}
	if _, err := m.CallID(); err != nil {
		return err
	}
	cseq, err := m.CSeq()
	if err != nil {
		return err
	}
	if _, err := m.MaxForwards(); err != nil {
		return err
	}
	if !m.isRequest {
		return nil
	}
	if cseq.Method != m.method {
		return ErrCSeqMethod
	}
	u, err := m.RequestURIParsed()
	if err != nil {
		return err
	}
	if u.Headers != "" {
		// §19.1.1: headers are not allowed in a Request-URI (RFC 4475 escruri).
		return ErrURI
	}
	if _, err := m.Routes(); err != nil {
		return err
	}
	return nil
}

// once checks that a header appears exactly once, without parsing it:
// From and To identify the dialog and are copied into responses, so two
// or none is an error even where their values are not read.
func (m *Message) once(id HeaderID, missing, multiple *Error) error {
	switch n := m.count(id); {
	case n == 0:
		return missing
	case n > 1:
		return multiple
	}
	return nil
}
