package auth

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
)

// The digest algorithms Parley verifies (RFC 7616 §3.4, RFC 8760). Only
// MD5 is offered unless configured: most deployed phones know nothing
// else, and libre-based ones (baresip) give up on a 401 that offers any
// other algorithm, wherever it stands in the list.
const (
	SHA256 = "SHA-256"
	MD5    = "MD5"
)

// Credentials is one parsed Authorization or Proxy-Authorization value
// (RFC 3261 §25.1 "credentials", RFC 7616 §3.4). Quoted values are
// unquoted, escapes resolved.
type Credentials struct {
	Scheme    string // "Digest" as written
	Username  string
	Realm     string
	Nonce     string
	URI       string
	Response  string
	Algorithm string // as written; "" means MD5
	CNonce    string
	Opaque    string
	QOP       string // "" for RFC 2069 style, else "auth"
	NC        string // as written: the digest hashes these exact characters
	Userhash  bool
}

// errSyntax is what ParseCredentials returns for text that is not an
// auth-param list; the caller answers 400.
var errSyntax = errors.New("auth: malformed credentials")

// ParseCredentials parses `Digest username="…", realm="…", …`. Unknown
// parameters are ignored (RFC 7616 §3.4: extensions); a parameter given
// twice is an error, since which copy was hashed would be a guess. Values
// without escapes share memory with value.
func ParseCredentials(value string) (Credentials, error) {
	scheme, rest := cutScheme(value)
	if scheme == "" {
		return Credentials{}, errSyntax
	}
	c := Credentials{Scheme: scheme}
	var seen uint32
	var others [8]string // unknown names seen, on the stack while few
	unknown := others[:0]
	err := eachParam(rest, func(name, v string) error {
		i := slices.IndexFunc(credentialParams[:], func(p string) bool { return strings.EqualFold(p, name) })
		if i < 0 {
			if slices.ContainsFunc(unknown, func(p string) bool { return strings.EqualFold(p, name) }) {
				return errSyntax
			}
			unknown = append(unknown, name)
			return nil
		}
		if seen&(1<<i) != 0 {
			return errSyntax
		}
		seen |= 1 << i
		c.set(i, v)
		return nil
	})
	return c, err
}

// credentialParams are the parameters ParseCredentials reads, in the
// order of set's cases.
var credentialParams = [...]string{"username", "realm", "nonce", "uri", "response", "algorithm", "cnonce", "opaque", "qop", "nc", "userhash"}

func (c *Credentials) set(param int, v string) {
	switch param {
	case 0:
		c.Username = v
	case 1:
		c.Realm = v
	case 2:
		c.Nonce = v
	case 3:
		c.URI = v
	case 4:
		c.Response = v
	case 5:
		c.Algorithm = v
	case 6:
		c.CNonce = v
	case 7:
		c.Opaque = v
	case 8:
		c.QOP = v
	case 9:
		c.NC = v
	case 10:
		c.Userhash = strings.EqualFold(v, "true")
	}
}

// cutScheme splits the auth-scheme token from the parameters.
func cutScheme(v string) (scheme, rest string) {
	v = strings.TrimLeft(v, " \t")
	i := 0
	for i < len(v) && isTokenChar(v[i]) {
		i++
	}
	if i == 0 || (i < len(v) && v[i] != ' ' && v[i] != '\t') {
		return "", ""
	}
	return v[:i], v[i:]
}

// eachParam calls fn with every name=value of a comma-separated auth-param
// list; quoted values come unquoted with escapes resolved.
func eachParam(s string, fn func(name, value string) error) error {
	for {
		s = skip(s, " \t\r\n,")
		if s == "" {
			return nil
		}
		name, value, rest, err := nextParam(s)
		if err != nil {
			return err
		}
		if err := fn(name, value); err != nil {
			return err
		}
		s = skip(rest, " \t\r\n")
		if s != "" && s[0] != ',' {
			return errSyntax
		}
	}
}

// nextParam reads one name=value from the front of s.
func nextParam(s string) (name, value, rest string, err error) {
	i := 0
	for i < len(s) && isTokenChar(s[i]) {
		i++
	}
	name, s = s[:i], skip(s[i:], " \t\r\n")
	if name == "" || s == "" || s[0] != '=' {
		return "", "", "", errSyntax
	}
	s = skip(s[1:], " \t\r\n")
	if s != "" && s[0] == '"' {
		return quoted(name, s)
	}
	i = 0
	for i < len(s) && s[i] != ',' && s[i] != ' ' && s[i] != '\t' && s[i] != '"' {
		i++
	}
	if i == 0 {
		return "", "", "", errSyntax
	}
	return name, s[:i], s[i:], nil
}

// quoted reads a quoted-string at the front of s (RFC 3261 §25.1). One
// without escapes, which is every one phones send, is returned as a
// substring; only escapes cost a copy.
func quoted(name, s string) (n, value, rest string, err error) {
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '"':
			return name, s[1:i], s[i+1:], nil
		case '\\':
			return unescape(name, s)
		}
	}
	return "", "", "", errSyntax
}

// unescape is quoted for a string holding escapes.
func unescape(name, s string) (n, value, rest string, err error) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if i+1 == len(s) {
				return "", "", "", errSyntax
			}
			i++
			b.WriteByte(s[i])
		case '"':
			return name, b.String(), s[i+1:], nil
		default:
			b.WriteByte(s[i])
		}
	}
	return "", "", "", errSyntax
}

func skip(s, set string) string {
	for s != "" && strings.IndexByte(set, s[0]) >= 0 {
		s = s[1:]
	}
	return s
}

// isTokenChar reports whether c may appear in a token (RFC 3261 §25.1).
func isTokenChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("-.!%*_+`'~", c) >= 0
}

// canonicalAlgorithm maps an algorithm parameter to MD5 or SHA256, or ""
// for one Parley does not verify. A missing algorithm means MD5 (RFC 2617
// §3.2.1).
func canonicalAlgorithm(a string) string {
	switch {
	case a == "" || strings.EqualFold(a, MD5):
		return MD5
	case strings.EqualFold(a, SHA256):
		return SHA256
	}
	return ""
}

// Response computes the request-digest for qop=auth (RFC 7616 §3.4.1), or
// RFC 2069's H(HA1:nonce:HA2) when qop is "" (RFC 2617 §3.2.2.1). ha1 is
// the hex HA1 of the same algorithm; method is the request's method, as
// RFC 3261 §22.4 says. The result is lower-case hex; "" for an algorithm
// other than MD5 and SHA-256.
func Response(algorithm, ha1, method, uri, nonce, nc, cnonce, qop string) string {
	alg := canonicalAlgorithm(algorithm)
	if alg == "" {
		return ""
	}
	var sum [sha256.Size]byte
	return hex.EncodeToString(requestDigest(&sum, alg, ha1, method, uri, nonce, nc, cnonce, qop))
}

// requestDigest is Response as raw bytes, written into sum. It allocates
// nothing while method, uri, nonce and cnonce are of the usual sizes:
// the hash inputs are built in a buffer on the stack.
func requestDigest(sum *[sha256.Size]byte, alg, ha1, method, uri, nonce, nc, cnonce, qop string) []byte {
	var buf [512]byte
	in := append(append(append(buf[:0], method...), ':'), uri...)
	var ha2 [2 * sha256.Size]byte
	n := hex.Encode(ha2[:], digestSum(sum, alg, in))
	in = append(append(buf[:0], ha1...), ':')
	in = append(in, nonce...)
	if qop != "" {
		in = append(append(in, ':'), nc...)
		in = append(append(in, ':'), cnonce...)
		in = append(append(in, ':'), qop...)
	}
	in = append(append(in, ':'), ha2[:n]...)
	return digestSum(sum, alg, in)
}

// digestSum hashes in with alg (MD5 or SHA256) into sum.
func digestSum(sum *[sha256.Size]byte, alg string, in []byte) []byte {
	if alg == SHA256 {
		*sum = sha256.Sum256(in)
		return sum[:]
	}
	m := md5.Sum(in)
	return sum[:copy(sum[:], m[:])]
}

// decodeHex decodes the hex digits of s into dst, which must hold
// len(s)/2 bytes; s has been checked to be hex (isHex).
func decodeHex(dst []byte, s string) []byte {
	n := len(s) / 2
	for i := range n {
		dst[i] = unhex(s[2*i])<<4 | unhex(s[2*i+1])
	}
	return dst[:n]
}

func unhex(c byte) byte {
	if c <= '9' {
		return c - '0'
	}
	return c | 0x20 - 'a' + 10
}

// quote returns s as the content of a quoted-string.
func quote(s string) string {
	if !strings.ContainsAny(s, `"\`) {
		return s
	}
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`)
	return r.Replace(s)
}
