// Package gruu makes and reads Globally Routable User Agent URIs (RFC
// 5627): the public GRUU, which is the address of record with the
// instance's URN in a "gr" parameter, and the temporary GRUU, an opaque
// URI that names the same instance without saying who it is.
//
// Temporary GRUUs are sealed, not stored: the AOR, the instance and a tag
// of the registration's Call-ID are encrypted under a key derived from
// the server's secret, so any node holding the secret can route one, a
// restart loses none, and the location store needs no column for them.
// A fresh random nonce makes each REGISTER's temporary GRUU different
// (§5); all of them stay valid while a binding of that instance with
// the same Call-ID lives, and a re-registration with a new Call-ID (a
// rebooted phone) invalidates the old ones, as §5 and Appendix A ask.
package gruu

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"

	"github.com/parley-sip/parley/sip"
)

// Param is the URI parameter that marks a GRUU (§3.1).
const Param = "gr"

// tempPrefix starts the user part of every temporary GRUU, so that one
// is told from a subscriber's name before any decryption is tried.
const tempPrefix = "tgruu."

// CallTagLen is the length of the Call-ID tag sealed in a temporary GRUU.
const CallTagLen = 8

// maxToken bounds what Open tries to decrypt: an AOR and an instance
// URN of a few hundred bytes each fit, a hostile megabyte does not.
const maxToken = 1024

// ErrInvalid is returned for a temporary GRUU this server did not issue,
// or one altered on the way.
var ErrInvalid = errors.New("gruu: not a temporary GRUU of this server")

// Issuer makes and opens temporary GRUUs with one key. It is safe for
// concurrent use.
type Issuer struct {
	aead cipher.AEAD
}

// NewIssuer derives the temporary GRUUs' key from secret (the server's
// persistent secret), under a label of its own so that the key is not
// the one that signs nonces.
func NewIssuer(secret []byte) (*Issuer, error) {
	if len(secret) < 16 {
		return nil, errors.New("gruu: secret shorter than 16 bytes")
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte("parley temporary GRUU key v1"))
	block, err := aes.NewCipher(mac.Sum(nil))
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Issuer{aead: aead}, nil
}

// CallTag is the tag of a Call-ID sealed in temporary GRUUs: a short
// hash, enough to tell one registration's Call-ID from the next.
func CallTag(callID string) [CallTagLen]byte {
	sum := sha256.Sum256([]byte(callID))
	var t [CallTagLen]byte
	copy(t[:], sum[:])
	return t
}

// Public returns the public GRUU of instance (a URN, as ParseInstance
// returns it) registered for aor (a canonical sip: or sips: AOR).
func Public(aor, instance string) string {
	return aor + ";" + Param + "=" + instance
}

// Temp returns a new temporary GRUU for instance of aor, registered with
// callID, in domain. Each call returns a different URI.
func (is *Issuer) Temp(domain, aor, instance, callID string) string {
	tag := CallTag(callID)
	plain := make([]byte, 0, CallTagLen+len(aor)+1+len(instance))
	plain = append(plain, tag[:]...)
	plain = append(plain, aor...)
	plain = append(plain, 0)
	plain = append(plain, instance...)
	nonce := make([]byte, is.aead.NonceSize(), is.aead.NonceSize()+len(plain)+is.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		panic("gruu: no randomness: " + err.Error()) // crypto/rand does not fail on supported systems
	}
	domain = strings.ToLower(domain)
	sealed := is.aead.Seal(nonce, nonce, plain, []byte(domain))
	return "sip:" + tempPrefix + base64.RawURLEncoding.EncodeToString(sealed) + "@" + domain + ";" + Param
}

// Ref is what a GRUU names: one instance of an AOR. A temporary GRUU
// also carries the tag of the Call-ID it was issued for.
type Ref struct {
	AOR      string
	Instance string
	Temp     bool
	CallTag  [CallTagLen]byte
}

// Read tells whether u is a GRUU and what it names. ok is false for a
// URI without the gr parameter, which is routed as any other. A gr
// parameter that names no instance, or a temporary GRUU this server did
// not issue, is an error: no such GRUU exists here, and the request gets
// 404 (RFC 5627 §6).
func (is *Issuer) Read(u *sip.URI) (ref Ref, ok bool, err error) {
	if !u.IsSIP() {
		return Ref{}, false, nil
	}
	gr, has := u.Params.Get(Param)
	if !has {
		return Ref{}, false, nil
	}
	if gr != "" {
		inst, err := ParseInstance(gr)
		if err != nil {
			return Ref{}, true, err
		}
		return Ref{AOR: u.AOR(), Instance: inst}, true, nil
	}
	if is == nil {
		return Ref{}, true, ErrInvalid
	}
	ref, err = is.open(u.User, strings.ToLower(u.Host))
	return ref, true, err
}

// open decrypts the user part of a temporary GRUU.
func (is *Issuer) open(user, domain string) (Ref, error) {
	token, found := strings.CutPrefix(user, tempPrefix)
	if !found || len(token) > maxToken {
		return Ref{}, ErrInvalid
	}
	sealed, err := base64.RawURLEncoding.DecodeString(token)
	ns := is.aead.NonceSize()
	if err != nil || len(sealed) < ns+is.aead.Overhead() {
		return Ref{}, ErrInvalid
	}
	plain, err := is.aead.Open(nil, sealed[:ns], sealed[ns:], []byte(domain))
	if err != nil || len(plain) < CallTagLen {
		return Ref{}, ErrInvalid
	}
	ref := Ref{Temp: true}
	copy(ref.CallTag[:], plain)
	aor, inst, found := strings.Cut(string(plain[CallTagLen:]), "\x00")
	if !found {
		return Ref{}, ErrInvalid
	}
	ref.AOR, ref.Instance = aor, inst
	return ref, nil
}
