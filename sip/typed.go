package sip

import "strings"

// cache holds typed header values parsed on first use. Edits that touch a
// header clear its bit so the next read parses the new value.
type cache struct {
	done uint64 // bit per HeaderID
	err  [numHeaderIDs]error

	via          []Via
	from, to     NameAddr
	cseq         CSeq
	maxForwards  int
	contacts     []NameAddr
	routes       []NameAddr
	recordRoutes []NameAddr
	paths        []NameAddr
}

func (c *cache) has(id HeaderID) bool { return c.done&(1<<id) != 0 }
func (c *cache) set(id HeaderID)      { c.done |= 1 << id }
func (c *cache) clear(id HeaderID)    { c.done &^= 1 << id }

// CSeq is the CSeq header (§20.16).
type CSeq struct {
	Seq    uint32
	Method string
}

// Vias returns every Via value, topmost first.
func (m *Message) Vias() ([]Via, error) {
	if !m.cache.has(HVia) {
		m.cache.via, m.cache.err[HVia] = m.parseVias()
		m.cache.set(HVia)
	}
	return m.cache.via, m.cache.err[HVia]
}

func (m *Message) parseVias() ([]Via, error) {
	var out []Via
	var err error
	m.each(HVia, "", func(s string) bool {
		var v Via
		v, err = ParseVia(s)
		out = append(out, v)
		return err == nil
	})
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, ErrMissingVia
	}
	return out, nil
}

// TopVia returns the topmost Via.
func (m *Message) TopVia() (*Via, error) {
	v, err := m.Vias()
	if err != nil {
		return nil, err
	}
	return &v[0], nil
}

// From returns the From header.
func (m *Message) From() (*NameAddr, error) {
	return m.single(HFrom, &m.cache.from, ErrMissingFrom, ErrFrom)
}

// To returns the To header.
func (m *Message) To() (*NameAddr, error) {
	return m.single(HTo, &m.cache.to, ErrMissingTo, ErrTo)
}

// single parses a header that must appear exactly once with one value.
func (m *Message) single(id HeaderID, dst *NameAddr, missing, malformed *Error) (*NameAddr, error) {
	if !m.cache.has(id) {
		m.cache.set(id)
		m.cache.err[id] = nil
		i := m.find(id, "")
		switch {
		case i < 0:
			m.cache.err[id] = missing
		case m.count(id) > 1:
			m.cache.err[id] = &Error{Code: 400, Reason: "Multiple " + id.String() + " Headers"}
		default:
			n, err := ParseNameAddr(m.fields[i].value)
			if err != nil {
				m.cache.err[id] = malformed
			}
			*dst = n
		}
	}
	if m.cache.err[id] != nil {
		return nil, m.cache.err[id]
	}
	return dst, nil
}

// CallID returns the Call-ID header (§20.8).
func (m *Message) CallID() (string, error) {
	i := m.find(HCallID, "")
	if i < 0 {
		return "", ErrMissingCallID
	}
	if m.count(HCallID) > 1 {
		return "", &Error{Code: 400, Reason: "Multiple Call-ID Headers"}
	}
	v := m.fields[i].value
	if v == "" || strings.ContainsAny(v, " \t\r\n,") {
		return "", ErrCallID
	}
	return v, nil
}

// CSeq returns the CSeq header. The sequence number must be below 2**31
// (§8.1.1.5) and the method a token.
func (m *Message) CSeq() (CSeq, error) {
	if !m.cache.has(HCSeq) {
		m.cache.set(HCSeq)
		m.cache.cseq, m.cache.err[HCSeq] = m.parseCSeq()
	}
	return m.cache.cseq, m.cache.err[HCSeq]
}

func (m *Message) parseCSeq() (CSeq, error) {
	i := m.find(HCSeq, "")
	if i < 0 {
		return CSeq{}, ErrMissingCSeq
	}
	if m.count(HCSeq) > 1 {
		return CSeq{}, &Error{Code: 400, Reason: "Multiple CSeq Headers"}
	}
	v := m.fields[i].value
	j := 0
	for j < len(v) && isDigit(v[j]) {
		j++
	}
	n, ok := parseUint(v[:j], 1<<31-1)
	method := trimLWS(v[j:])
	if !ok || j == len(v) || !isLWS(v[j]) || !isToken(method) {
		return CSeq{}, ErrCSeq
	}
	return CSeq{Seq: uint32(n), Method: method}, nil
}

// MaxForwards returns the Max-Forwards value, or -1 when it is absent.
func (m *Message) MaxForwards() (int, error) {
	if !m.cache.has(HMaxForwards) {
		m.cache.set(HMaxForwards)
		m.cache.maxForwards, m.cache.err[HMaxForwards] = m.parseMaxForwards()
	}
	return m.cache.maxForwards, m.cache.err[HMaxForwards]
}

func (m *Message) parseMaxForwards() (int, error) {
	i := m.find(HMaxForwards, "")
	if i < 0 {
		return -1, nil
	}
	if m.count(HMaxForwards) > 1 {
		return -1, &Error{Code: 400, Reason: "Multiple Max-Forwards Headers"}
	}
	n, ok := parseUint(m.fields[i].value, 255)
	if !ok {
		return -1, ErrMaxForwards
	}
	return int(n), nil
}

// Contacts returns every Contact value in order.
func (m *Message) Contacts() ([]NameAddr, error) {
	return m.addrList(HContact, &m.cache.contacts, ErrContact)
}

// Routes returns every Route value, topmost first.
func (m *Message) Routes() ([]NameAddr, error) {
	return m.addrList(HRoute, &m.cache.routes, ErrRoute)
}

// RecordRoutes returns every Record-Route value, topmost first.
func (m *Message) RecordRoutes() ([]NameAddr, error) {
	return m.addrList(HRecordRoute, &m.cache.recordRoutes, &Error{Code: 400, Reason: "Malformed Record-Route"})
}

// Paths returns every Path value (RFC 3327), topmost first.
func (m *Message) Paths() ([]NameAddr, error) {
	return m.addrList(HPath, &m.cache.paths, &Error{Code: 400, Reason: "Malformed Path"})
}

func (m *Message) addrList(id HeaderID, dst *[]NameAddr, malformed *Error) ([]NameAddr, error) {
	if !m.cache.has(id) {
		m.cache.set(id)
		m.cache.err[id] = nil
		var out []NameAddr
		m.each(id, "", func(s string) bool {
			n, err := ParseNameAddr(s)
			if err != nil || (n.Star && id != HContact) {
				m.cache.err[id] = malformed
				return false
			}
			out = append(out, n)
			return true
		})
		*dst = out
	}
	if m.cache.err[id] != nil {
		return nil, m.cache.err[id]
	}
	return *dst, nil
}

// Expires returns the Expires header in seconds; ok is false when absent.
func (m *Message) Expires() (seconds uint32, ok bool, err error) {
	return m.deltaSeconds(HExpires)
}

// MinExpires returns the Min-Expires header in seconds; ok is false when absent.
func (m *Message) MinExpires() (seconds uint32, ok bool, err error) {
	return m.deltaSeconds(HMinExpires)
}

func (m *Message) deltaSeconds(id HeaderID) (uint32, bool, error) {
	i := m.find(id, "")
	if i < 0 {
		return 0, false, nil
	}
	n, ok := parseUint(m.fields[i].value, 1<<32-1)
	if !ok || m.count(id) > 1 {
		return 0, true, &Error{Code: 400, Reason: "Malformed " + id.String()}
	}
	return uint32(n), true, nil
}

// ContentType returns the Content-Type header's media type, lower case
// is not enforced: compare with EqualFold.
func (m *Message) ContentType() string {
	v := m.Header("Content-Type")
	if semi := strings.IndexByte(v, ';'); semi >= 0 {
		v = trimLWS(v[:semi])
	}
	return v
}

// Tokens returns the comma-separated tokens of a header such as Require,
// Proxy-Require, Supported, Unsupported or Allow, across all its lines.
func (m *Message) Tokens(name string) []string {
	return m.HeaderValues(name)
}

// HasToken reports whether a token list header (Supported, Require, …)
// contains tok, case-insensitively.
func (m *Message) HasToken(name, tok string) bool {
	found := false
	id := HeaderIDOf(name)
	m.each(id, name, func(v string) bool {
		found = EqualFold(v, tok)
		return !found
	})
	return found
}
