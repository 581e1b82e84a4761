package location

import (
	"encoding/binary"
	"errors"
	"math"
	"net/netip"
	"strings"
	"time"
)

// packed is a binding as Memory keeps it: 144 bytes and three pointers
// instead of Binding's 280 bytes and eleven. At a million registrations
// the difference is about 150 MB of heap, and fewer pointers are less
// for the garbage collector to trace on every cycle.
//
// The binding's own strings (Contact, its parameters, Call-ID,
// +sip.instance unless the parameters hold it, transport and the Path
// values) share one allocation, text; the User-Agent, which thousands of
// bindings share, is interned. Times are Unix nanoseconds.
type packed struct {
	text      string // contact, params, call-ID, instance, transport, then each path as uvarint length + value
	userAgent string
	source    netip.AddrPort
	local     netip.AddrPort
	expires   int64
	updated   int64
	connID    uint64
	cseq      uint32
	regID     int32
	q         int32

	contactLen, paramsLen, callIDLen uint16
	instanceAt, instanceLen          uint16 // the instance is text[instanceAt:][:instanceLen]
	transportLen                     uint8
}

// errUnstorable is a binding whose fields exceed what packed holds:
// lengths a SIP message cannot produce, set through the API.
var errUnstorable = errors.New("location: binding field too large to store")

// noTime stands for the zero time.Time, which has no Unix nanoseconds.
const noTime = math.MinInt64

// Nanos is t in Unix nanoseconds, the zero time as math.MinInt64: how the
// engines that pack bindings store a binding's times.
func Nanos(t time.Time) int64 {
	if t.IsZero() {
		return noTime
	}
	return t.UnixNano()
}

// FromNanos is the time n stands for, in UTC: the inverse of [Nanos].
func FromNanos(n int64) time.Time {
	if n == noTime {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// live reports whether p is in force at now (Unix nanoseconds), drawing
// the line where Binding.Live does.
func (p *packed) live(now int64) bool { return p.expires > now }

// pack stores b. The copy matters beyond size: b's strings may be views
// of a whole REGISTER message, and keeping one would pin the message.
func pack(b *Binding) (packed, error) {
	if len(b.Contact) > math.MaxUint16 || len(b.Params) > math.MaxUint16 || len(b.CallID) > math.MaxUint16 ||
		len(b.InstanceID) > math.MaxUint16 || len(b.Transport) > math.MaxUint8 ||
		b.Q != int(int32(b.Q)) || b.RegID != int(int32(b.RegID)) {
		return packed{}, errUnstorable
	}
	at, own := instanceAt(b)
	if at > math.MaxUint16 {
		return packed{}, errUnstorable
	}
	n := len(b.Contact) + len(b.Params) + len(b.CallID) + len(b.Transport)
	if own {
		n += len(b.InstanceID)
	}
	for _, p := range b.Path {
		n += binary.MaxVarintLen32 + len(p)
	}
	var sb strings.Builder
	sb.Grow(n)
	sb.WriteString(b.Contact)
	sb.WriteString(b.Params)
	sb.WriteString(b.CallID)
	if own {
		sb.WriteString(b.InstanceID)
	}
	sb.WriteString(b.Transport)
	var num [binary.MaxVarintLen64]byte
	for _, p := range b.Path {
		sb.Write(binary.AppendUvarint(num[:0], uint64(len(p))))
		sb.WriteString(p)
	}
	return packed{
		text:         sb.String(),
		userAgent:    intern(b.UserAgent),
		source:       b.Source,
		local:        b.Local,
		expires:      Nanos(b.Expires),
		updated:      Nanos(b.Updated),
		connID:       b.ConnID,
		cseq:         b.CSeq,
		regID:        int32(b.RegID),
		q:            int32(b.Q),
		contactLen:   uint16(len(b.Contact)),
		paramsLen:    uint16(len(b.Params)),
		callIDLen:    uint16(len(b.CallID)),
		instanceAt:   uint16(at),
		instanceLen:  uint16(len(b.InstanceID)),
		transportLen: uint8(len(b.Transport)),
	}, nil
}

// instanceAt returns where b's +sip.instance will be in the packed text,
// and whether it needs text of its own. A registrar's binding has it
// among its Contact's params already (the quoted value, as the phone sent
// it), and sharing those bytes keeps an RFC 5626 phone's binding about 50
// bytes smaller.
func instanceAt(b *Binding) (at int, own bool) {
	if b.InstanceID == "" {
		return 0, false
	}
	if i := strings.Index(b.Params, b.InstanceID); i >= 0 {
		return len(b.Contact) + i, false
	}
	return len(b.Contact) + len(b.Params) + len(b.CallID), true
}

// unpack returns the binding p holds for aor; its strings share p's
// memory (strings are immutable), its Path values go into pool, which
// unpack returns grown.
func (p *packed) unpack(aor string, pool []string) (Binding, []string) {
	t := p.text
	take := func(n int) string {
		s := t[:n]
		t = t[n:]
		return s
	}
	contact, params, callID := take(int(p.contactLen)), take(int(p.paramsLen)), take(int(p.callIDLen))
	if p.instanceLen > 0 && int(p.instanceAt) == len(p.text)-len(t) {
		take(int(p.instanceLen)) // stored on its own, not in params
	}
	b := Binding{
		AOR:        aor,
		Contact:    contact,
		Params:     params,
		CallID:     callID,
		InstanceID: p.text[p.instanceAt:][:p.instanceLen],
		Transport:  take(int(p.transportLen)),
		Q:          int(p.q),
		Expires:    FromNanos(p.expires),
		CSeq:       p.cseq,
		Source:     p.source,
		Local:      p.local,
		ConnID:     p.connID,
		RegID:      int(p.regID),
		UserAgent:  p.userAgent,
		Updated:    FromNanos(p.updated),
	}
	if t != "" {
		start := len(pool)
		for t != "" {
			n, w := uvarint(t)
			if w == 0 || int(n) > len(t)-w {
				break // cannot happen: pack wrote t
			}
			t = t[w:]
			pool = append(pool, take(int(n)))
		}
		// Capped so that a caller's append cannot write into the next
		// binding's Path.
		b.Path = pool[start:len(pool):len(pool)]
	}
	return b, pool
}

// comparePacked orders by q descending, then most recently updated
// first: the order in which a proxy should try the contacts (RFC 3261
// §16.6).
func comparePacked(a, b packed) int {
	switch {
	case a.q != b.q:
		if a.q > b.q {
			return -1
		}
		return 1
	case a.updated > b.updated:
		return -1
	case a.updated < b.updated:
		return 1
	}
	return 0
}

// uvarint is binary.Uvarint over a string, without converting it.
func uvarint(s string) (uint64, int) {
	var x uint64
	var shift uint
	for i := 0; i < len(s) && i < binary.MaxVarintLen64; i++ {
		c := s[i]
		if c < 0x80 {
			return x | uint64(c)<<shift, i + 1
		}
		x |= uint64(c&0x7f) << shift
		shift += 7
	}
	return 0, 0
}
