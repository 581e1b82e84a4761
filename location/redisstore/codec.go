package redisstore

import (
	"encoding/binary"
	"errors"
	"math"
	"net/netip"
	"time"

	"github.com/parley-sip/parley/location"
)

// An AOR's value in Redis is its whole binding set, so that one GET reads
// it and one SET replaces it:
//
//	format (1 byte) | version (8 bytes) | count (uvarint) | binding...
//
// The version is random per write: the update script compares it, not the
// set, to tell whether the set changed since it was read. A random value
// rather than a counter, because a counter restarts when the AOR is
// deleted and a writer holding an old read could then match a new set.
const (
	formatV1   = 1
	headerSize = 1 + 8
)

// errCorrupt is a value this package did not write (or a damaged one).
var errCorrupt = errors.New("location/redisstore: malformed binding set")

// encodeSet appends the value holding bs under version ver. owner names
// the store whose ConnIDs bs carry (see decodeSet).
func encodeSet(dst []byte, ver, owner uint64, bs []location.Binding) []byte {
	dst = append(dst, formatV1)
	dst = binary.BigEndian.AppendUint64(dst, ver)
	dst = binary.AppendUvarint(dst, uint64(len(bs)))
	for i := range bs {
		dst = encodeBinding(dst, owner, &bs[i])
	}
	return dst
}

// setSize is about how many bytes encodeSet appends for bs, never fewer,
// so that the value is made in one allocation.
func setSize(bs []location.Binding) int {
	n := headerSize + binary.MaxVarintLen64
	for i := range bs {
		b := &bs[i]
		// Per binding: six strings' lengths, five numbers, the Path's
		// length, two addresses and a ConnID with its owner: at most
		// 6+5+1+2+1 varints and 2×18 + 8 bytes.
		n += 15*binary.MaxVarintLen64 + 2*18 + 8
		n += len(b.Contact) + len(b.Params) + len(b.CallID) + len(b.Transport) + len(b.InstanceID) + len(b.UserAgent)
		for _, p := range b.Path {
			n += binary.MaxVarintLen64 + len(p)
		}
	}
	return n
}

func encodeBinding(dst []byte, owner uint64, b *location.Binding) []byte {
	for _, s := range [...]string{b.Contact, b.Params, b.CallID, b.Transport, b.InstanceID, b.UserAgent} {
		dst = appendString(dst, s)
	}
	dst = binary.AppendVarint(dst, int64(b.Q))
	dst = binary.AppendVarint(dst, int64(b.RegID))
	dst = binary.AppendVarint(dst, location.Nanos(b.Expires))
	dst = binary.AppendVarint(dst, location.Nanos(b.Updated))
	dst = binary.AppendUvarint(dst, uint64(b.CSeq))
	dst = binary.AppendUvarint(dst, uint64(len(b.Path)))
	for _, p := range b.Path {
		dst = appendString(dst, p)
	}
	dst = appendAddr(dst, b.Source)
	dst = appendAddr(dst, b.Local)
	dst = binary.AppendUvarint(dst, b.ConnID)
	if b.ConnID != 0 {
		dst = binary.BigEndian.AppendUint64(dst, owner)
	}
	return dst
}

// versionOf returns the version of an encoded set, 0 for none.
func versionOf(v string) uint64 {
	if len(v) < headerSize {
		return 0
	}
	return binary.BigEndian.Uint64([]byte(v[1:headerSize]))
}

// decodeSet returns the bindings v holds for aor, or with live only those
// in force at now. Their strings share v's memory (strings are immutable);
// their Paths share one fresh array. A ConnID names a connection of the
// process that stored it, so one stored by another store (another node, or
// this node before a restart) reads as 0: the proxy then finds the phone's
// connection by its address instead of taking a stranger's.
func decodeSet(v, aor string, self uint64, now time.Time, live bool) ([]location.Binding, error) {
	if len(v) < headerSize || v[0] != formatV1 {
		return nil, errCorrupt
	}
	r := reader{s: v[headerSize:]}
	n := r.uvarint()
	if r.err != nil || n > uint64(len(r.s)) {
		return nil, errCorrupt
	}
	out := make([]location.Binding, 0, n)
	var pool []string
	at := location.Nanos(now)
	for range n {
		b, exp := r.binding(aor, self, &pool)
		if r.err != nil {
			return nil, r.err
		}
		if !live || exp > at {
			out = append(out, b)
		}
	}
	if r.s != "" {
		return nil, errCorrupt
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// reader takes a value apart; the first malformed field sets err and every
// later read returns zero values.
type reader struct {
	s   string
	err error
}

func (r *reader) fail() { r.err, r.s = errCorrupt, "" }

func (r *reader) uvarint() uint64 {
	var x uint64
	for i := 0; i < len(r.s) && i < binary.MaxVarintLen64; i++ {
		c := r.s[i]
		if c < 0x80 {
			if i == binary.MaxVarintLen64-1 && c > 1 {
				break
			}
			r.s = r.s[i+1:]
			return x | uint64(c)<<(7*i)
		}
		x |= uint64(c&0x7f) << (7 * i)
	}
	r.fail()
	return 0
}

func (r *reader) varint() int64 {
	u := r.uvarint()
	x := int64(u >> 1)
	if u&1 != 0 {
		x = ^x
	}
	return x
}

func (r *reader) bytes(n uint64) string {
	if n > uint64(len(r.s)) {
		r.fail()
		return ""
	}
	s := r.s[:n]
	r.s = r.s[n:]
	return s
}

func (r *reader) string() string { return r.bytes(r.uvarint()) }

func (r *reader) addr() netip.AddrPort {
	var a netip.AddrPort
	if s := r.string(); s != "" && a.UnmarshalBinary([]byte(s)) != nil {
		r.fail()
	}
	return a
}

// binding reads one binding and returns it with its expiry in Unix
// nanoseconds.
func (r *reader) binding(aor string, self uint64, pool *[]string) (location.Binding, int64) {
	b := location.Binding{AOR: aor}
	for _, f := range [...]*string{&b.Contact, &b.Params, &b.CallID, &b.Transport, &b.InstanceID, &b.UserAgent} {
		*f = r.string()
	}
	q, regID := r.varint(), r.varint()
	exp, upd := r.varint(), r.varint()
	cseq := r.uvarint()
	if q != int64(int32(q)) || regID != int64(int32(regID)) || cseq > math.MaxUint32 {
		r.fail()
	}
	b.Q, b.RegID, b.CSeq = int(q), int(regID), uint32(cseq)
	b.Expires, b.Updated = location.FromNanos(exp), location.FromNanos(upd)
	if np := r.uvarint(); np > 0 {
		if np > uint64(len(r.s)) {
			r.fail()
			return b, exp
		}
		start := len(*pool)
		for range np {
			*pool = append(*pool, r.string())
		}
		// Capped so that a caller's append cannot write into the next
		// binding's Path.
		b.Path = (*pool)[start:len(*pool):len(*pool)]
	}
	b.Source, b.Local = r.addr(), r.addr()
	if b.ConnID = r.uvarint(); b.ConnID != 0 {
		owner := r.bytes(8)
		if len(owner) != 8 || binary.BigEndian.Uint64([]byte(owner)) != self {
			b.ConnID = 0
		}
	}
	return b, exp
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// appendAddr stores no address as an empty string.
func appendAddr(dst []byte, a netip.AddrPort) []byte {
	if !a.IsValid() {
		return append(dst, 0)
	}
	at := len(dst)
	dst = append(dst, 0) // length, fixed below: an AddrPort is at most 18 bytes
	dst, _ = a.AppendBinary(dst)
	dst[at] = byte(len(dst) - at - 1)
	return dst
}
