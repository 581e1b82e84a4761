// Package flowtoken names a flow — the connection or NAT binding over
// which a phone reaches the server — in a token that the server puts in
// the user part of its Record-Route (or Path) URI, as RFC 5626 §5.2 has an
// edge proxy do, so that a request coming back along the route goes out
// over the same flow.
//
// A token carries the flow itself, signed, not a key into a table: any
// node with the key can read it, and nothing is stored per dialog. The
// signature (a truncated HMAC-SHA256) keeps a stranger from making the
// server send into a connection or to an address of the stranger's choice.
// The package knows nothing of SIP.
package flowtoken

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"net/netip"
)

// Prefix starts every token, so that a Route user part that is no token
// costs no decoding.
const Prefix = "ft."

// macLen is the signature's length: 80 bits is far beyond what anyone can
// guess in the life of a dialog.
const macLen = 10

// maxToken bounds what Open decodes.
const maxToken = 128

// ErrInvalid is returned for a token this server did not sign.
var ErrInvalid = errors.New("flowtoken: not a flow token of this server")

// Flow is what names a flow: the transport, the server's and the peer's
// addresses, and on a connection its id.
type Flow struct {
	Proto  string // "udp", "tcp", "tls", "ws", "wss"
	Local  netip.AddrPort
	Remote netip.AddrPort
	Conn   uint64 // 0 for UDP
}

// Signer seals and opens flow tokens with one key. It is safe for
// concurrent use.
type Signer struct {
	key []byte
}

// NewSigner derives the tokens' key from the server's secret under a
// label of its own.
func NewSigner(secret []byte) (*Signer, error) {
	if len(secret) < 16 {
		return nil, errors.New("flowtoken: secret shorter than 16 bytes")
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte("parley flow token key v1"))
	return &Signer{key: mac.Sum(nil)}, nil
}

// Seal returns the token of f: Prefix and unpadded base64url, characters
// a SIP URI's user part takes unescaped.
func (s *Signer) Seal(f Flow) string {
	b := make([]byte, 0, 64)
	b = append(b, byte(len(f.Proto)))
	b = append(b, f.Proto...)
	b = appendAddrPort(b, f.Local)
	b = appendAddrPort(b, f.Remote)
	b = binary.AppendUvarint(b, f.Conn)
	b = append(b, s.sum(b)...)
	return Prefix + base64.RawURLEncoding.EncodeToString(b)
}

// Open reads a token Seal made with the same key.
func (s *Signer) Open(token string) (Flow, error) {
	if len(token) > maxToken || len(token) <= len(Prefix) || token[:len(Prefix)] != Prefix {
		return Flow{}, ErrInvalid
	}
	b, err := base64.RawURLEncoding.DecodeString(token[len(Prefix):])
	if err != nil || len(b) <= macLen {
		return Flow{}, ErrInvalid
	}
	body, mac := b[:len(b)-macLen], b[len(b)-macLen:]
	if !hmac.Equal(mac, s.sum(body)) {
		return Flow{}, ErrInvalid
	}
	var f Flow
	n := int(body[0])
	body = body[1:]
	if len(body) < n {
		return Flow{}, ErrInvalid
	}
	f.Proto, body = string(body[:n]), body[n:]
	if f.Local, body, err = readAddrPort(body); err != nil {
		return Flow{}, err
	}
	if f.Remote, body, err = readAddrPort(body); err != nil {
		return Flow{}, err
	}
	conn, k := binary.Uvarint(body)
	if k <= 0 || k != len(body) {
		return Flow{}, ErrInvalid
	}
	f.Conn = conn
	return f, nil
}

func (s *Signer) sum(b []byte) []byte {
	mac := hmac.New(sha256.New, s.key)
	mac.Write(b)
	return mac.Sum(nil)[:macLen]
}

// appendAddrPort writes an address as its length (4 or 16, 0 when
// invalid), its bytes and the port.
func appendAddrPort(b []byte, ap netip.AddrPort) []byte {
	if !ap.IsValid() {
		return append(b, 0)
	}
	a := ap.Addr().Unmap()
	b = append(b, byte(a.BitLen()/8))
	b = append(b, a.AsSlice()...)
	return binary.BigEndian.AppendUint16(b, ap.Port())
}

func readAddrPort(b []byte) (netip.AddrPort, []byte, error) {
	if len(b) == 0 {
		return netip.AddrPort{}, nil, ErrInvalid
	}
	n := int(b[0])
	if n == 0 {
		return netip.AddrPort{}, b[1:], nil
	}
	if (n != 4 && n != 16) || len(b) < 1+n+2 {
		return netip.AddrPort{}, nil, ErrInvalid
	}
	a, _ := netip.AddrFromSlice(b[1 : 1+n])
	port := binary.BigEndian.Uint16(b[1+n:])
	return netip.AddrPortFrom(a, port), b[1+n+2:], nil
}
