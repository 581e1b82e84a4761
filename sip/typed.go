package sip

import "strings"

// kind numbers the typed values the cache holds.
type kind uint8

const (
	kVia kind = iota
	kFrom
	kTo
	kCSeq
	kMaxForwards
	kContacts
	kRoutes
	kRecordRoutes
	kPaths
	numKinds
	kNone kind = 255
)

// kindOf maps a header to the cached value an edit of it invalidates.
func kindOf(id HeaderID) kind {
	switch id {
	case HVia:
		return kVia
	case HFrom:
		return kFrom
	case HTo:
		return kTo
	case HCSeq:
		return kCSeq
	case HMaxForwards:
		return kMaxForwards
	case HContact:
		return kContacts
	case HRoute:
		return kRoutes
	case HRecordRoute:
		return kRecordRoutes
	case HPath:
		return kPaths
	}
	return kNone
}

// cache holds typed header values parsed on first use. It is allocated on
// the first typed read, so a message that is only forwarded or only
// inspected by name never pays for it, and Reset keeps it so a pooled
// Message pays for it once.
type cache struct {
	done uint16           // bit per kind: the value is parsed and current
	used uint16           // bit per kind: the value was ever set, so reset clears it
	errs *[numKinds]error // allocated with the first error: most messages have none
	from *[2]NameAddr     // From and To, allocated on first use: 384 bytes many messages never need

	via         []Via
	cseq        CSeq
	maxForwards int
	lists       [4][]NameAddr // Contact, Route, Record-Route, Path

	// Slices of the previous message, kept by reset for the next one. A
	// list re-parsed after an edit of the same message gets new memory
	// instead, so a slice handed out before the edit stays intact.
	spareVia   []Via
	spareLists [4][]NameAddr
}

func (c *cache) has(k kind) bool { return c.done&(1<<k) != 0 }

// err returns the cached error of k.
func (c *cache) err(k kind) error {
	if c.errs == nil {
		return nil
	}
	return c.errs[k]
}

// setErr caches the outcome of parsing k.
func (c *cache) setErr(k kind, err error) {
	switch {
	case err != nil && c.errs == nil:
		c.errs = new([numKinds]error)
		fallthrough
	case c.errs != nil:
		c.errs[k] = err
	}
}

// nameAddr returns the storage of From (0) or To (1).
func (c *cache) nameAddr(i int) *NameAddr {
	if c.from == nil {
		c.from = new([2]NameAddr)
	}
	return &c.from[i]
}
func (c *cache) set(k kind) { c.done |= 1 << k; c.used |= 1 << k }

func (c *cache) clearID(id HeaderID) {
	if k := kindOf(id); k != kNone {
		c.done &^= 1 << k
	}
}

// reset forgets every value but keeps the memory, dropping references into
// the old message so a pooled Message does not keep it alive. It clears
// only what was used: most messages use a few kinds.
func (c *cache) reset() {
	if c.used == 0 {
		return
	}
	if c.via != nil {
		clear(c.via)
		c.spareVia = c.via[:0]
		c.via = nil
	}
	for i := range c.lists {
		if l := c.lists[i]; l != nil {
			clear(l)
			c.spareLists[i] = l[:0]
			c.lists[i] = nil
		}
	}
	if c.from != nil && c.used&(1<<kFrom|1<<kTo) != 0 {
		*c.from = [2]NameAddr{}
	}
	c.cseq = CSeq{}
	if c.errs != nil {
		*c.errs = [numKinds]error{}
	}
	c.done, c.used = 0, 0
}

func (m *Message) typed() *cache {
	m.live()
	if m.cache == nil {
		m.cache = new(cache)
	}
	return m.cache
}

// CSeq is the CSeq header (§20.16).
type CSeq struct {
	Seq    uint32
	Method string
}

// Vias returns every Via value, topmost first. The slice belongs to m and
// must not be modified. Only the top Via must parse; one below it that
// does not is kept with its text alone (see Via.Broken).
func (m *Message) Vias() ([]Via, error) {
	c := m.typed()
	if !c.has(kVia) {
		c.set(kVia)
		out := c.spareVia[:0]
		c.spareVia = nil
		if out == nil {
			// One value per line is the common case: one allocation
			// instead of append's growth steps.
			out = make([]Via, 0, m.count(HVia))
		}
		var err error
		m.each(HVia, "", func(s string) bool {
			v, perr := ParseVia(s)
			if perr != nil {
				if len(out) == 0 {
					err = perr // the top Via says where the response goes
					return false
				}
				// Below the top a Via is only forwarded and
				// handed back in responses, never read: keep its text.
				v = Via{raw: s, broken: true}
			}
			out = append(out, v)
			return true
		})
		switch {
		case err != nil:
			c.setErr(kVia, err)
		case len(out) == 0:
			c.setErr(kVia, ErrMissingVia)
		default:
			c.setErr(kVia, nil)
		}
		c.via = out
	}
	if err := c.err(kVia); err != nil {
		return nil, err
	}
	return c.via, nil
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
	c := m.typed()
	return m.single(kFrom, HFrom, c.nameAddr(0), ErrMissingFrom, ErrMultipleFrom, ErrFrom)
}

// To returns the To header.
func (m *Message) To() (*NameAddr, error) {
	c := m.typed()
	return m.single(kTo, HTo, c.nameAddr(1), ErrMissingTo, ErrMultipleTo, ErrTo)
}

// single parses a header that must appear exactly once with one value.
func (m *Message) single(k kind, id HeaderID, dst *NameAddr, missing, multiple, malformed *Error) (*NameAddr, error) {
	c := m.typed()
	if !c.has(k) {
		c.set(k)
		c.setErr(k, nil)
		i := m.find(id, "")
		switch {
		case i < 0:
			c.setErr(k, missing)
		case m.count(id) > 1:
			c.setErr(k, multiple)
		default:
			n, err := ParseNameAddr(m.fieldValue(&m.fields[i]))
			if err != nil || n.Star {
				c.setErr(k, malformed)
			}
			*dst = n
		}
	}
	if err := c.err(k); err != nil {
		return nil, err
	}
	return dst, nil
}

// FromTag returns the From tag, also when the rest of the From value does
// not parse: a proxy reads nothing else of it (see Validate).
func (m *Message) FromTag() string {
	if f, err := m.From(); err == nil {
		return f.Tag()
	}
	return m.rawTag(HFrom)
}

// ToTag returns the To tag, also when the rest of the To value does not
// parse, as FromTag does.
func (m *Message) ToTag() string {
	if t, err := m.To(); err == nil {
		return t.Tag()
	}
	return m.rawTag(HTo)
}

// rawTag finds the tag parameter of the first From or To line without
// parsing its address: the header parameters follow the '>' of a
// name-addr, or the first ';' of an addr-spec (§20.10).
func (m *Message) rawTag(id HeaderID) string {
	i := m.find(id, "")
	if i < 0 {
		return ""
	}
	v := m.fieldValue(&m.fields[i])
	if gt := strings.LastIndexByte(v, '>'); gt >= 0 {
		v = v[gt+1:]
	} else if semi := strings.IndexByte(v, ';'); semi >= 0 {
		v = v[semi:]
	} else {
		return ""
	}
	v = trimLWS(v)
	if v == "" || v[0] != ';' {
		return ""
	}
	tag, _ := Params(v[1:]).Get("tag")
	return tag
}

// CallID returns the Call-ID header (§20.8).
func (m *Message) CallID() (string, error) {
	i := m.find(HCallID, "")
	if i < 0 {
		return "", ErrMissingCallID
	}
	if m.count(HCallID) > 1 {
		return "", ErrMultipleCallID
	}
	v := m.fieldValue(&m.fields[i])
	if !validCallID(v) {
		return "", ErrCallID
	}
	return v, nil
}

// validCallID accepts callid = word [ "@" word ] loosely: any visible
// characters but the comma that would make it a list. Phones put base64
// ('=') and other characters outside word in Call-IDs, and rejecting them
// would lose calls for no gain.
func validCallID(v string) bool {
	if v == "" {
		return false
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c <= ' ' || c == ',' || c == 0x7f {
			return false
		}
	}
	return true
}

// CSeq returns the CSeq header. The sequence number must be below 2**31
// (§8.1.1.5) and the method a token.
func (m *Message) CSeq() (CSeq, error) {
	c := m.typed()
	if !c.has(kCSeq) {
		c.set(kCSeq)
		cs, err := m.parseCSeq()
		c.cseq = cs
		c.setErr(kCSeq, err)
	}
	return c.cseq, c.err(kCSeq)
}

func (m *Message) parseCSeq() (CSeq, error) {
	i := m.find(HCSeq, "")
	if i < 0 {
		return CSeq{}, ErrMissingCSeq
	}
	if m.count(HCSeq) > 1 {
		return CSeq{}, ErrMultipleCSeq
	}
	v := m.fieldValue(&m.fields[i])
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
	c := m.typed()
	if !c.has(kMaxForwards) {
		c.set(kMaxForwards)
		n, err := m.parseMaxForwards()
		c.maxForwards = n
		c.setErr(kMaxForwards, err)
	}
	return c.maxForwards, c.err(kMaxForwards)
}

func (m *Message) parseMaxForwards() (int, error) {
	i := m.find(HMaxForwards, "")
	if i < 0 {
		return -1, nil
	}
	if m.count(HMaxForwards) > 1 {
		return -1, ErrMultipleMaxFwd
	}
	n, ok := parseUint(m.fieldValue(&m.fields[i]), 255)
	if !ok {
		return -1, ErrMaxForwards
	}
	return int(n), nil
}

// Contacts returns every Contact value in order. The slice belongs to m
// and must not be modified.
func (m *Message) Contacts() ([]NameAddr, error) {
	return m.addrList(kContacts, HContact, 0, ErrContact)
}

// Routes returns every Route value, topmost first.
func (m *Message) Routes() ([]NameAddr, error) {
	return m.addrList(kRoutes, HRoute, 1, ErrRoute)
}

// RecordRoutes returns every Record-Route value, topmost first.
func (m *Message) RecordRoutes() ([]NameAddr, error) {
	return m.addrList(kRecordRoutes, HRecordRoute, 2, ErrRecordRoute)
}

// Paths returns every Path value (RFC 3327), topmost first.
func (m *Message) Paths() ([]NameAddr, error) {
	return m.addrList(kPaths, HPath, 3, ErrPath)
}

func (m *Message) addrList(k kind, id HeaderID, slot int, malformed *Error) ([]NameAddr, error) {
	c := m.typed()
	if !c.has(k) {
		c.set(k)
		c.setErr(k, nil)
		out := c.spareLists[slot][:0]
		c.spareLists[slot] = nil
		if n := m.count(id); out == nil && n > 0 {
			out = make([]NameAddr, 0, n)
		}
		m.each(id, "", func(s string) bool {
			n, err := ParseNameAddr(s)
			if err != nil || (n.Star && id != HContact) {
				c.setErr(k, malformed)
				return false
			}
			out = append(out, n)
			return true
		})
		if c.err(k) == nil && id == HContact && len(out) > 1 {
			// "*" stands alone (§10.2.2).
			for i := range out {
				if out[i].Star {
					c.setErr(k, malformed)
				}
			}
		}
		c.lists[slot] = out
	}
	if err := c.err(k); err != nil {
		return nil, err
	}
	return c.lists[slot], nil
}

// Expires returns the Expires header in seconds; ok is false when absent.
func (m *Message) Expires() (seconds uint32, ok bool, err error) {
	return m.deltaSeconds(HExpires, ErrExpires)
}

// MinExpires returns the Min-Expires header in seconds; ok is false when absent.
func (m *Message) MinExpires() (seconds uint32, ok bool, err error) {
	return m.deltaSeconds(HMinExpires, ErrMinExpires)
}

func (m *Message) deltaSeconds(id HeaderID, malformed *Error) (uint32, bool, error) {
	i := m.find(id, "")
	if i < 0 {
		return 0, false, nil
	}
	n, ok := parseUint(m.fieldValue(&m.fields[i]), 1<<32-1)
	if !ok || m.count(id) > 1 {
		return 0, true, malformed
	}
	return uint32(n), true, nil
}

// ContentType returns the Content-Type header's media type without
// parameters, as written: compare it with EqualFold.
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

// Unsupported returns the option tags of a Require or Proxy-Require
// header that are not in supported (compared without case), joined by
// ", " as an Unsupported header lists them (§8.2.2.3, §16.3 step 5), or
// "" when every one is supported. It allocates only for a refusal.
func (m *Message) Unsupported(name string, supported []string) string {
	var b []byte
	m.each(HeaderIDOf(name), name, func(tag string) bool {
		for _, s := range supported {
			if EqualFold(s, tag) {
				return true
			}
		}
		if b != nil {
			b = append(b, ", "...)
		}
		b = append(b, tag...)
		return true
	})
	return string(b)
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
