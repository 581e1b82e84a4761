package transaction

import (
	"hash/fnv"
	"io"
	"strconv"
	"strings"

	"github.com/parley-sip/parley/sip"
)

// matchKey is what finds a server transaction for a request.
type matchKey struct {
	key string
	// rfc2543 is set when the top Via branch lacks the magic cookie and
	// the key was built from the RFC 2543 fields (§17.2.3).
	rfc2543 bool
	// toTag is the request's To tag, which the RFC 2543 rules compare
	// outside the key: an ACK carries the tag of the response it
	// acknowledges, which the INVITE did not have.
	toTag string
	// sum fingerprints the request's bytes, for RFC 2543 keys only: the
	// key's fields repeat in a client's next request too (a REGISTER
	// resent with credentials and the same CSeq), and only the bytes tell
	// it from a retransmission.
	sum uint64
}

// serverKey builds the key of the server transaction that a request
// with the given method belongs to. ACK maps to INVITE (§17.2.3: "the
// method of the request matches the one that created the transaction,
// except for ACK, where the method of the request that created the
// transaction is INVITE"); CANCEL keeps its own method, so a CANCEL is a
// transaction of its own (§9.2).
func serverKey(m *sip.Message, method string) (matchKey, error) {
	v, err := m.TopVia()
	if err != nil {
		return matchKey{}, err
	}
	if method == "ACK" {
		method = "INVITE"
	}
	if b := v.Branch(); strings.HasPrefix(b, sip.MagicCookie) {
		host, port := v.SentBy()
		return matchKey{key: key3261(b, host, port, method)}, nil
	}
	return key2543(m, v, method)
}

// key3261 is branch, sent-by and method (§17.2.3). sent-by is in the key
// because a branch is unique only per client; its host compares without
// case, as host names do.
func key3261(branch, host string, port int, method string) string {
	var b strings.Builder
	b.Grow(len(branch) + len(host) + len(method) + 9)
	b.WriteString(branch)
	b.WriteByte(' ')
	for i := 0; i < len(host); i++ {
		c := host[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b.WriteByte(c)
	}
	b.WriteByte(':')
	var num [8]byte
	b.Write(strconv.AppendInt(num[:0], int64(port), 10))
	b.WriteByte(' ')
	b.WriteString(method)
	return b.String()
}

// key2543 is the fallback for clients that predate RFC 3261 (§17.2.3):
// Request-URI, From tag, Call-ID, CSeq number, top Via and method. The To
// tag is compared separately (see matchKey). The values are compared as
// written, not by the URI and header equality rules of §19.1.4 and
// §20: a retransmission repeats them byte for byte.
func key2543(m *sip.Message, v *sip.Via, method string) (matchKey, error) {
	callID, err := m.CallID()
	if err != nil {
		return matchKey{}, err
	}
	cseq, err := m.CSeq()
	if err != nil {
		return matchKey{}, err
	}
	var num [10]byte
	key := strings.Join([]string{"2543", m.RequestURI(), m.FromTag(), callID,
		string(strconv.AppendUint(num[:0], uint64(cseq.Seq), 10)), v.String(), method}, "\x00")
	return matchKey{key: key, rfc2543: true, toTag: m.ToTag(), sum: fingerprint(m)}, nil
}

// fingerprint hashes what a retransmission repeats exactly: the start
// line, every header line and the body. Via's received and rport are left
// out, as elements on the way stamp them (§18.2.1, RFC 3581).
func fingerprint(m *sip.Message) uint64 {
	h := fnv.New64a()
	io.WriteString(h, m.Method())
	io.WriteString(h, m.RequestURI())
	m.EachHeader(func(name, value string) bool {
		io.WriteString(h, name)
		h.Write([]byte{0})
		if sip.HeaderIDOf(name) == sip.HVia {
			writeUnstamped(h, value)
		} else {
			io.WriteString(h, value)
		}
		h.Write([]byte{0})
		return true
	})
	h.Write(m.Body())
	return h.Sum64()
}

// writeUnstamped writes a Via line's value without its received and
// rport parameters. Parameters end at ';' or at the ',' between values.
func writeUnstamped(w io.Writer, via string) {
	for via != "" {
		end := strings.IndexAny(via[1:], ";,") + 1
		if end == 0 {
			end = len(via)
		}
		part := via[:end]
		via = via[end:]
		if part[0] == ';' {
			name, _, _ := strings.Cut(part[1:], "=")
			name = strings.TrimSpace(name)
			if sip.EqualFold(name, "received") || sip.EqualFold(name, "rport") {
				continue
			}
		}
		io.WriteString(w, part)
	}
}

// clientKey is the branch of the top Via and the CSeq method (§17.1.3):
// the method tells the INVITE and the CANCEL with the same branch apart.
func clientKey(branch, method string) string {
	return branch + " " + method
}

// responseKey returns the client transaction key a response matches.
func responseKey(m *sip.Message) (string, error) {
	v, err := m.TopVia()
	if err != nil {
		return "", err
	}
	cseq, err := m.CSeq()
	if err != nil {
		return "", err
	}
	return clientKey(v.Branch(), cseq.Method), nil
}

// detach returns s in memory that no message owns: s is a view into a
// request's bytes, and a transaction that kept it would keep those bytes
// alive for as long as it lingers. key, built by concatenation, mostly
// holds s already.
func detach(s, key string) string {
	if i := strings.Index(key, s); i >= 0 {
		return key[i : i+len(s)]
	}
	return strings.Clone(s)
}
