package sip

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

// lookupHeader finds the id of a header name in any letter case. It does
// not allocate: the name is compared in place against the table.
func lookupHeader(name []byte) HeaderID {
	if len(name) == 1 {
		c := lower(name[0])
		if c >= 'a' && c <= 'z' {
			return compactForms[c-'a']
		}
		return HUnknown
	}
	for id := HVia; id < numHeaderIDs; id++ {
		if equalFold(name, canonicalNames[id]) {
			return id
		}
	}
	return HUnknown
}

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
