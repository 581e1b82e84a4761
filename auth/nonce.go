package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"hash"
	"sync"
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

// nonceKey is the secret nonces are made with, and a pool of HMACs keyed
// with it: checking a nonce is on every authenticated request's path, and
// a fresh HMAC costs several allocations.
type nonceKey struct {
	secret []byte
	macs   sync.Pool // of *nonceHMAC
}

// nonceHMAC is a keyed HMAC with room for its input and its sum, so that
// nothing passed to the hash interface escapes from the caller's stack.
type nonceHMAC struct {
	h     hash.Hash
	input []byte
	sum   [nonceMACLen]byte
}

func newNonceKey(secret []byte) *nonceKey { return &nonceKey{secret: secret} }

// mac returns HMAC-SHA256(secret, head ‖ realm).
func (k *nonceKey) mac(head []byte, realm string) [nonceMACLen]byte {
	m, _ := k.macs.Get().(*nonceHMAC)
	if m == nil {
		m = &nonceHMAC{h: hmac.New(sha256.New, k.secret)}
	}
	m.h.Reset()
	m.input = append(append(m.input[:0], head...), realm...)
	m.h.Write(m.input)
	m.h.Sum(m.sum[:0])
	sum := m.sum
	k.macs.Put(m)
	return sum
}

// newNonce makes a nonce for realm issued at now.
func newNonce(k *nonceKey, realm string, now time.Time) string {
	var b [nonceLen]byte
	binary.BigEndian.PutUint64(b[:nonceTimeLen], uint64(now.Unix()))
	rand.Read(b[nonceTimeLen : nonceTimeLen+nonceRandLen])
	mac := k.mac(b[:nonceTimeLen+nonceRandLen], realm)
	copy(b[nonceTimeLen+nonceRandLen:], mac[:])
	return nonceEncoding.EncodeToString(b[:])
}

// checkNonce reports whether nonce was made with k for realm and is still
// fresh at now, and when it was issued.
func checkNonce(k *nonceKey, nonce, realm string, now time.Time, ttl time.Duration) (issued time.Time, fresh bool) {
	var text [(nonceLen*8 + 5) / 6]byte
	if len(text) != len(nonce) {
		return time.Time{}, false
	}
	copy(text[:], nonce)
	var b [nonceLen]byte
	if n, err := nonceEncoding.Decode(b[:], text[:]); err != nil || n != nonceLen {
		return time.Time{}, false
	}
	head, mac := b[:nonceTimeLen+nonceRandLen], b[nonceTimeLen+nonceRandLen:]
	want := k.mac(head, realm)
	if !hmac.Equal(mac, want[:]) {
		return time.Time{}, false
	}
	issued = time.Unix(int64(binary.BigEndian.Uint64(head[:nonceTimeLen])), 0)
	age := now.Sub(issued)
	return issued, age <= ttl && age >= -maxClockSkew
}
