package auth

import (
	"strings"

	"github.com/parley-sip/parley/sip"
)

// Reason phrases of 400 answers: they name the defect for the phone's log.
const (
	reasonMalformed  = "Malformed Authorization"
	reasonIncomplete = "Incomplete Authorization"
	reasonAlgorithm  = "Unsupported Digest Algorithm"
	reasonQOP        = "Unsupported Digest qop"
	reasonUserhash   = "Unsupported Digest userhash"
	reasonNC         = "Malformed Digest nc"
	reasonResponse   = "Malformed Digest response"
)

// findCredentials returns the first Digest credentials for realm in the
// header called name. Each header line holds one credential: RFC 3261
// §20.7 exempts Authorization from comma folding, because the values
// themselves contain commas. Credentials of other schemes are skipped, as
// are those for other realms, which belong to servers further on.
func findCredentials(req *sip.Message, name, realm string) (c Credentials, found bool, bad string) {
	req.EachHeader(func(n, v string) bool {
		if !sip.EqualFold(n, name) {
			return true
		}
		scheme, _ := cutScheme(v)
		if !strings.EqualFold(scheme, "Digest") {
			return true
		}
		cred, perr := ParseCredentials(v)
		if perr != nil {
			bad = reasonMalformed
			return false
		}
		if strings.EqualFold(cred.Realm, realm) {
			c, found = cred, true
			return false
		}
		return true
	})
	return c, found, bad
}

// validate checks the credentials carry what the digest needs in a form
// Parley verifies. It returns "" when they do, else the 400's reason.
func validate(c Credentials) string {
	alg := canonicalAlgorithm(c.Algorithm)
	switch {
	case c.Username == "" || c.Nonce == "" || c.URI == "" || c.Response == "":
		return reasonIncomplete
	case alg == "":
		return reasonAlgorithm
	case c.Userhash:
		return reasonUserhash
	case c.QOP != "" && !strings.EqualFold(c.QOP, "auth"):
		// auth-int was never offered: it needs the body, which a proxy
		// may not have unchanged.
		return reasonQOP
	case c.QOP != "" && (c.CNonce == "" || !isNonceCount(c.NC)):
		return reasonNC
	case len(c.Response) != len(dummyHA1[alg]) || !isHex(c.Response):
		return reasonResponse
	}
	return ""
}

// isNonceCount accepts 1 to 8 hex digits: RFC 7616 says exactly 8, but
// some phones drop leading zeros, and the digest covers what was sent.
func isNonceCount(s string) bool { return len(s) >= 1 && len(s) <= 8 && isHex(s) }

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i] | 0x20
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// StripCredentials removes the Authorization and Proxy-Authorization
// values for realm from req, as a proxy does before forwarding (RFC 3261
// §22.3): they are useless further on and would show the next hop our
// subscribers' digests. Values for other realms stay, in their order. It
// returns how many were removed; a request without any is left untouched.
func StripCredentials(req *sip.Message, realm string) int {
	return strip(req, "Authorization", realm) + strip(req, "Proxy-Authorization", realm)
}

func strip(req *sip.Message, name, realm string) int {
	var keep []string
	removed := 0
	req.EachHeader(func(n, v string) bool {
		if !sip.EqualFold(n, name) {
			return true
		}
		if c, err := ParseCredentials(v); err == nil && strings.EqualFold(c.Realm, realm) {
			removed++
		} else {
			keep = append(keep, v)
		}
		return true
	})
	if removed == 0 {
		return 0
	}
	req.RemoveHeader(name)
	for _, v := range keep {
		req.AddHeader(name, v)
	}
	return removed
}
