package sip

// RequestURIParsed returns the Request-URI parsed. A scheme other than
// sip, sips and tel is ErrUnsupportedURI (416, §8.2.2.1).
func (m *Message) RequestURIParsed() (URI, error) {
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

// Answerable reports whether m holds what a response must copy (§8.2.6.2):
// a Via, From, To, Call-ID and CSeq that parse. A request without them
// cannot be answered and is dropped.
func (m *Message) Answerable() bool {
	if _, err := m.Vias(); err != nil {
		return false
	}
	if _, err := m.From(); err != nil {
		return false
	}
	if _, err := m.To(); err != nil {
		return false
	}
	if _, err := m.CallID(); err != nil {
		return false
	}
	_, err := m.CSeq()
	return err == nil
}

// Validate checks what every element must before acting on a message
// (§8.2, §16.3 step 1): the mandatory headers parse, the CSeq method
// matches the request's, and the scalar headers a server reads are sane.
// The error says which status to answer with.
func (m *Message) Validate() error {
	if _, err := m.Vias(); err != nil {
		return err
	}
	if _, err := m.From(); err != nil {
		return err
	}
	if _, err := m.To(); err != nil {
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
	if _, _, err := m.Expires(); err != nil {
		return err
	}
	if _, err := m.Contacts(); err != nil {
		return err
	}
	if !m.isRequest {
		return nil
	}
	if cseq.Method != m.method {
		return ErrCSeqMethod
	}
	if _, err := m.RequestURIParsed(); err != nil {
		return err
	}
	if _, err := m.Routes(); err != nil {
		return err
	}
	return nil
}
