package sip

import "encoding/binary"

// HeaderID names a header the stack knows by number, so that lookups on
// the hot path compare a byte instead of folding strings.
type HeaderID uint8

// Headers with a typed accessor or a compact form. Any other header is
// HUnknown and is found by its name.
const (
	HUnknown HeaderID = iota
	HVia
	HFrom
	HTo
	HCallID
	HCSeq
	HMaxForwards
	HContact
	HContentLength
	HContentType
	HContentEncoding
	HRoute
	HRecordRoute
	HPath
	HExpires
	HMinExpires
	HRequire
	HProxyRequire
	HSupported
	HUnsupported
	HAllow
	HAccept
	HAuthorization
	HProxyAuthorization
	HWWWAuthenticate
	HProxyAuthenticate
	HEvent
	HAllowEvents
	HSubscriptionState
	HSubject
	HReferTo
	HReferredBy
	HSessionExpires
	HIdentity
	HAcceptContact
	HRejectContact
	HRequestDisposition
	HUserAgent
	HServer
	HRetryAfter
	HTimestamp
	numHeaderIDs
)

// canonicalNames is how Parley writes each known header.
var canonicalNames = [numHeaderIDs]string{
	HVia:                "Via",
	HFrom:               "From",
	HTo:                 "To",
	HCallID:             "Call-ID",
	HCSeq:               "CSeq",
	HMaxForwards:        "Max-Forwards",
	HContact:            "Contact",
	HContentLength:      "Content-Length",
	HContentType:        "Content-Type",
	HContentEncoding:    "Content-Encoding",
	HRoute:              "Route",
	HRecordRoute:        "Record-Route",
	HPath:               "Path",
	HExpires:            "Expires",
	HMinExpires:         "Min-Expires",
	HRequire:            "Require",
	HProxyRequire:       "Proxy-Require",
	HSupported:          "Supported",
	HUnsupported:        "Unsupported",
	HAllow:              "Allow",
	HAccept:             "Accept",
	HAuthorization:      "Authorization",
	HProxyAuthorization: "Proxy-Authorization",
	HWWWAuthenticate:    "WWW-Authenticate",
	HProxyAuthenticate:  "Proxy-Authenticate",
	HEvent:              "Event",
	HAllowEvents:        "Allow-Events",
	HSubscriptionState:  "Subscription-State",
	HSubject:            "Subject",
	HReferTo:            "Refer-To",
	HReferredBy:         "Referred-By",
	HSessionExpires:     "Session-Expires",
	HIdentity:           "Identity",
	HAcceptContact:      "Accept-Contact",
	HRejectContact:      "Reject-Contact",
	HRequestDisposition: "Request-Disposition",
	HUserAgent:          "User-Agent",
	HServer:             "Server",
	HRetryAfter:         "Retry-After",
	HTimestamp:          "Timestamp",
}

// String returns the canonical name of a known header.
func (id HeaderID) String() string {
	if id < numHeaderIDs {
		return canonicalNames[id]
	}
	return ""
}

// compactForms maps RFC 3261 §7.3.3 (and later RFCs') one-letter names.
var compactForms = [26]HeaderID{
	'a' - 'a': HAcceptContact,
	'b' - 'a': HReferredBy,
	'c' - 'a': HContentType,
	'd' - 'a': HRequestDisposition,
	'e' - 'a': HContentEncoding,
	'f' - 'a': HFrom,
	'i' - 'a': HCallID,
	'j' - 'a': HRejectContact,
	'k' - 'a': HSupported,
	'l' - 'a': HContentLength,
	'm' - 'a': HContact,
	'o' - 'a': HEvent,
	'r' - 'a': HReferTo,
	's' - 'a': HSubject,
	't' - 'a': HTo,
	'u' - 'a': HAllowEvents,
	'v' - 'a': HVia,
	'x' - 'a': HSessionExpires,
	'y' - 'a': HIdentity,
}

// headerIndex finds candidate ids by name length and first letter, so a
// lookup compares the name against one or two known names instead of
// scanning them all: header names are looked up for every line parsed.
var headerIndex = func() (t [maxHeaderNameLen + 1][26][3]HeaderID) {
	for id := HVia; id < numHeaderIDs; id++ {
		name := canonicalNames[id]
		slot := &t[len(name)][lower(name[0])-'a']
		for i := range slot {
			if slot[i] == HUnknown {
				slot[i] = id
				break
			}
		}
	}
	return t
}()

// maxHeaderNameLen is the length of the longest known name,
// "Request-Disposition".
const maxHeaderNameLen = 19

// lookupHeader finds the id of a header name in any letter case. It does
// not allocate: the name is compared in place against the table.
func lookupHeader(name []byte) HeaderID {
	if len(name) == 0 || len(name) > maxHeaderNameLen {
		return HUnknown
	}
	c := lower(name[0])
	if c < 'a' || c > 'z' {
		return HUnknown
	}
	if len(name) == 1 {
		return compactForms[c-'a']
	}
	for _, id := range &headerIndex[len(name)][c-'a'] {
		if id == HUnknown {
			break
		}
		lc := lowerNames[id]
		i := 1 // the first letter matched the index
		for i < len(name) && lowerTable[name[i]] == lc[i] {
			i++
		}
		if i == len(name) {
			return id
		}
	}
	return HUnknown
}

// lowerNames are the canonical names in lower case, for lookupHeader.
var lowerNames = func() (t [numHeaderIDs]string) {
	for id := range t {
		b := []byte(canonicalNames[id])
		for i := range b {
			b[i] = lower(b[i])
		}
		t[id] = string(b)
	}
	return t
}()

// lowerTable maps every byte to its ASCII lower case.
var lowerTable = func() (t [256]byte) {
	for i := range t {
		t[i] = lower(byte(i))
	}
	return t
}()

// HeaderIDOf returns the id of a header name, long or compact, in any case.
func HeaderIDOf(name string) HeaderID {
	return lookupHeader(unsafeBytes(name))
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// equalFold reports whether b equals s, ignoring ASCII case.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		if lower(b[i]) != lower(s[i]) {
			return false
		}
	}
	return true
}

// EqualFold reports whether a and b are equal ignoring ASCII case, which is
// how SIP compares header names, methods' tokens in parameters and schemes.
func EqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if lower(a[i]) != lower(b[i]) {
			return false
		}
	}
	return true
}

// nameWords holds the known names in lower case, eight bytes to a word and
// zero-padded, for lookupHeaderAt.
var nameWords = func() (t [numHeaderIDs][3]uint64) {
	for id := range t {
		var b [24]byte
		copy(b[:], lowerNames[id])
		for i := range t[id] {
			t[id][i] = binary.LittleEndian.Uint64(b[8*i:])
		}
	}
	return t
}()

// lowBytes[n] keeps the low n bytes of a little-endian word.
var lowBytes = [9]uint64{0, 0xff, 0xffff, 0xffffff, 0xffffffff, 0xffffffffff,
	0xffffffffffff, 0xffffffffffffff, 0xffffffffffffffff}

const fold = 0x2020202020202020

// lookupHeaderAt is lookupHeader for the name data[start:start+n], which
// the caller has checked is a token. It is the parser's: when 24 bytes can
// be read from start it compares whole words instead of bytes. Setting bit
// 0x20 of every byte folds case exactly here, because among token
// characters only a letter's upper case becomes a letter that way, and
// none becomes '-', the one other character in known names.
func lookupHeaderAt(data []byte, start, n int) HeaderID {
	if n < 2 || n > maxHeaderNameLen || len(data)-start < 24 {
		return lookupHeader(data[start : start+n])
	}
	c := data[start] | 0x20
	if c < 'a' || c > 'z' {
		return HUnknown
	}
	cands := &headerIndex[n][c-'a']
	if cands[0] == HUnknown {
		return HUnknown
	}
	w0 := binary.LittleEndian.Uint64(data[start:]) | fold
	w1 := binary.LittleEndian.Uint64(data[start+8:]) | fold
	w2 := binary.LittleEndian.Uint64(data[start+16:]) | fold
	switch {
	case n <= 8:
		w0 &= lowBytes[n]
		w1, w2 = 0, 0
	case n <= 16:
		w1 &= lowBytes[n-8]
		w2 = 0
	default:
		w2 &= lowBytes[n-16]
	}
	for _, id := range cands {
		if id == HUnknown {
			break
		}
		if w := &nameWords[id]; w[0] == w0 && w[1] == w1 && w[2] == w2 {
			return id
		}
	}
	return HUnknown
}
