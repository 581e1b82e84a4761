package gruu

import (
	"errors"
	"strings"
)

// maxInstance bounds an instance URN; RFC 5626's are UUID URNs of 45
// characters, and a binding must not carry a megabyte in its key.
const maxInstance = 256

// ErrInstance is returned for a +sip.instance that is not a URN.
var ErrInstance = errors.New("gruu: +sip.instance is not a URN")

// ParseInstance reads a +sip.instance Contact parameter as the UA sent
// it (`"<urn:uuid:…>"`, RFC 5626 §4.1) or a gr parameter (the URN
// alone), and returns the URN in the form Parley compares and stores:
// without quotes and angle brackets, "urn:" and the namespace in lower
// case (RFC 8141 §3), and a UUID's hex digits in lower case, since UUIDs
// compare case-insensitively (RFC 4122 §3). Anything else is kept as
// sent: two phones must not be made one by a guess.
func ParseInstance(v string) (string, error) {
	v = strings.TrimSpace(v)
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		v = v[1 : len(v)-1]
	}
	if len(v) >= 2 && v[0] == '<' && v[len(v)-1] == '>' {
		v = v[1 : len(v)-1]
	}
	if len(v) > maxInstance || len(v) < len("urn:x:y") || !strings.EqualFold(v[:4], "urn:") {
		return "", ErrInstance
	}
	nid, nss, ok := strings.Cut(v[4:], ":")
	if !ok || nid == "" || nss == "" || !validNID(nid) {
		return "", ErrInstance
	}
	for i := 0; i < len(nss); i++ {
		if !nssByte(nss[i]) {
			return "", ErrInstance
		}
		if nss[i] == '%' && (i+2 >= len(nss) || !hex(nss[i+1]) || !hex(nss[i+2])) {
			return "", ErrInstance // a URI would not parse with it
		}
	}
	nid = strings.ToLower(nid)
	if nid == "uuid" {
		nss = strings.ToLower(nss)
	}
	return "urn:" + nid + ":" + nss, nil
}

// validNID is RFC 8141's NID: letters, digits and hyphens, not starting
// or ending with a hyphen, 2 to 32 characters.
func validNID(nid string) bool {
	if len(nid) < 2 || len(nid) > 32 || nid[0] == '-' || nid[len(nid)-1] == '-' {
		return false
	}
	for i := 0; i < len(nid); i++ {
		c := nid[i]
		if !alnum(c) && c != '-' {
			return false
		}
	}
	return true
}

// nssByte admits what a URN's NSS may hold and a SIP URI parameter can
// carry unescaped, since the public GRUU puts the URN in one (RFC 5627
// §3.1): what RFC 3261 §25.1's paramchar and Parley's parameter
// parser both admit, and percent escapes. A '"', '<', '>',
// space, ';' or '=' would break the Contact header or the GRUU.
func nssByte(c byte) bool {
	if alnum(c) {
		return true
	}
	switch c {
	case '-', '.', '_', '~', '!', '\'', '*', '[', ']', '/', ':', '&', '+', '$', '%':
		return true
	}
	return false
}

func alnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func hex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}
