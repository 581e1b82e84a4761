package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"time"
)

// A nonce is base64url(timestamp ‖ random ‖ HMAC-SHA256(secret, timestamp
// ‖ random ‖ realm)). It carries its own proof of origin and age, so
// nothing is stored per challenge: any node holding the secret, and a
// restarted server, can check a nonce it never saw issued, and a flood of
// unanswered challenges costs no memory.
const (
	nonceTimeLen = 8
	nonceRandLen = 12
	nonceMACLen  = sha256.Size
	nonceLen     = nonceTimeLen + nonceRandLen + nonceMACLen
)

// maxClockSkew is how far in the future a nonce's time may lie: nodes
// sharing a secret do not have perfectly equal clocks.
const maxClockSkew = 30 * time.Second

var nonceEncoding = base64.RawURLEncoding

// newNonce makes a nonce for realm issued at now.
func newNonce(secret []byte, realm string, now time.Time) string {
	var b [nonceLen]byte
	binary.BigEndian.PutUint64(b[:nonceTimeLen], uint64(now.Unix()))
	rand.Read(b[nonceTimeLen : nonceTimeLen+nonceRandLen])
	copy(b[nonceTimeLen+nonceRandLen:], nonceMAC(secret, b[:nonceTimeLen+nonceRandLen], realm))
	return nonceEncoding.EncodeToString(b[:])
}

func nonceMAC(secret, head []byte, realm string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write(head)
	m.Write([]byte(realm))
	return m.Sum(nil)
}

// checkNonce reports whether nonce was made with secret for realm and is
// still fresh at now, and when it was issued.
func checkNonce(secret []byte, nonce, realm string, now time.Time, ttl time.Duration) (issued time.Time, fresh bool) {
	if nonceEncoding.EncodedLen(nonceLen) != len(nonce) {
		return time.Time{}, false
	}
	var b [nonceLen]byte
	if n, err := nonceEncoding.Decode(b[:], []byte(nonce)); err != nil || n != nonceLen {
		return time.Time{}, false
	}
	head, mac := b[:nonceTimeLen+nonceRandLen], b[nonceTimeLen+nonceRandLen:]
	if !hmac.Equal(mac, nonceMAC(secret, head, realm)) {
		return time.Time{}, false
	}
	issued = time.Unix(int64(binary.BigEndian.Uint64(head[:nonceTimeLen])), 0)
	age := now.Sub(issued)
	return issued, age <= ttl && age >= -maxClockSkew
}
