package auth

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"slices"
	"strconv"
	"strings"

	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/subscriber"
)

// This file is the client side of digest (RFC 3261 §22.2, RFC 7616
// §3.4): what Parley needs to register to a provider and to answer a
// gateway's challenge. It shares the parameter grammar and hashing with
// the server side.

// DigestChallenge is one parsed WWW-Authenticate or Proxy-Authenticate value.
type DigestChallenge struct {
	Scheme    string // "Digest" as written
	Realm     string
	Nonce     string
	Opaque    string
	Algorithm string // as written; "" means MD5
	QOP       []string
	Stale     bool
	Userhash  bool
}

// ErrUnsupportedChallenge is Answer's error for a challenge Parley
// cannot answer: not Digest, an algorithm other than MD5 and SHA-256, or
// a qop offering only auth-int.
var ErrUnsupportedChallenge = errors.New("auth: unsupported challenge")

// ParseChallenge parses `Digest realm="…", nonce="…", …`. Unknown
// parameters are ignored (RFC 7616 §3.3); a parameter given twice is an
// error.
func ParseChallenge(value string) (DigestChallenge, error) {
	scheme, rest := cutScheme(value)
	if scheme == "" {
		return DigestChallenge{}, errSyntax
	}
	c := DigestChallenge{Scheme: scheme}
	seen := map[string]bool{}
	err := eachParam(rest, func(name, v string) error {
		name = strings.ToLower(name)
		if seen[name] {
			return errSyntax
		}
		seen[name] = true
		switch name {
		case "realm":
			c.Realm = v
		case "nonce":
			c.Nonce = v
		case "opaque":
			c.Opaque = v
		case "algorithm":
			c.Algorithm = v
		case "qop":
			for _, q := range strings.Split(v, ",") {
				if q = strings.TrimSpace(q); q != "" {
					c.QOP = append(c.QOP, strings.ToLower(q))
				}
			}
		case "stale":
			c.Stale = strings.EqualFold(v, "true")
		case "userhash":
			c.Userhash = strings.EqualFold(v, "true")
		}
		return nil
	})
	if err != nil {
		return DigestChallenge{}, err
	}
	if !strings.EqualFold(scheme, "Digest") || c.Nonce == "" {
		return c, ErrUnsupportedChallenge
	}
	return c, nil
}

// Supported reports whether Answer can answer c.
func (c DigestChallenge) Supported() bool {
	if !strings.EqualFold(c.Scheme, "Digest") || canonicalAlgorithm(c.Algorithm) == "" || c.Nonce == "" {
		return false
	}
	return len(c.QOP) == 0 || slices.Contains(c.QOP, "auth")
}

// Answer returns the Authorization (or Proxy-Authorization) value for a
// request of method to uri with the account user and password. nc
// counts the requests made with this nonce, from 1. With userhash the
// username is hashed as RFC 7616 §3.4.4 asks.
func (c DigestChallenge) Answer(method, uri, user, password string, nc uint32) (string, error) {
	if !c.Supported() {
		return "", ErrUnsupportedChallenge
	}
	alg := canonicalAlgorithm(c.Algorithm)
	ha1 := subscriber.HA1(alg, user, c.Realm, password)
	qop, ncs, cnonce := "", "", ""
	if len(c.QOP) > 0 {
		qop, ncs, cnonce = "auth", hex8(nc), newCNonce()
	}
	name := user
	if c.Userhash {
		var sum [32]byte
		name = hex.EncodeToString(digestSum(&sum, alg, []byte(user+":"+c.Realm)))
	}
	var b strings.Builder
	b.WriteString(`Digest username="` + quote(name) + `", realm="` + quote(c.Realm) + `", nonce="` + quote(c.Nonce) +
		`", uri="` + quote(uri) + `", response="` + Response(alg, ha1, method, uri, c.Nonce, ncs, cnonce, qop) + `"`)
	if c.Algorithm != "" {
		b.WriteString(", algorithm=" + c.Algorithm)
	}
	if qop != "" {
		b.WriteString(`, qop=auth, nc=` + ncs + `, cnonce="` + cnonce + `"`)
	}
	if c.Opaque != "" {
		b.WriteString(`, opaque="` + quote(c.Opaque) + `"`)
	}
	if c.Userhash {
		b.WriteString(", userhash=true")
	}
	return b.String(), nil
}

// PickChallenge returns the challenge of a 401 or 407 to answer: of
// those Parley supports, SHA-256 before MD5 (RFC 8760 §2.4), else the
// first. The answer goes in Authorization for a 401 and in
// Proxy-Authorization for a 407.
func PickChallenge(resp *sip.Message) (DigestChallenge, bool) {
	name := "WWW-Authenticate"
	if resp.StatusCode() == 407 {
		name = "Proxy-Authenticate"
	}
	var best DigestChallenge
	found := false
	resp.EachHeader(func(n, v string) bool {
		if !strings.EqualFold(n, name) {
			return true
		}
		c, err := ParseChallenge(v)
		if err != nil || !c.Supported() {
			return true
		}
		if !found || canonicalAlgorithm(c.Algorithm) == SHA256 && canonicalAlgorithm(best.Algorithm) != SHA256 {
			best, found = c, true
		}
		return true
	})
	return best, found
}

func hex8(n uint32) string {
	s := strconv.FormatUint(uint64(n), 16)
	return strings.Repeat("0", 8-len(s)) + s
}

// newCNonce makes a client nonce; a variable so tests can fix it.
var newCNonce = func() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
