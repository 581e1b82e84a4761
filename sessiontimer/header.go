// Package sessiontimer implements SIP session timers (RFC 4028): the
// Session-Expires and Min-SE header fields, the negotiation a UAS and a
// UAC carry out over them, and a per-dialog Timer on package clock that
// says when to send a refresh and when a session nobody refreshed has
// expired.
//
// The package holds no dialog state and sends nothing: a B2BUA leg asks
// Policy what to answer or request, starts a Timer with the outcome, and
// acts on the Timer's events.
package sessiontimer

import (
	"math"
	"strconv"

	"github.com/parley-sip/parley/sip"
)

// OptionTag is the option tag of the extension, for Supported and Require.
const OptionTag = "timer"

// Header names. Session-Expires has the compact form "x", which sip's
// header lookup already maps.
const (
	HeaderSessionExpires = "Session-Expires"
	HeaderMinSE          = "Min-SE"
)

// Errors a malformed header value gives. They are *sip.Error so that a
// server answers with them as they are.
var (
	ErrSessionExpires = &sip.Error{Code: 400, Reason: "Malformed Session-Expires"}
	ErrMinSE          = &sip.Error{Code: 400, Reason: "Malformed Min-SE"}
)

// Refresher names which side of a dialog sends the refreshes (RFC 4028
// §4): the UAC or the UAS of the INVITE that set the session up, or
// neither when a Session-Expires leaves the choice open.
type Refresher uint8

// Refreshers.
const (
	RefresherUnset Refresher = iota
	RefresherUAC
	RefresherUAS
)

// String returns the parameter value: "uac", "uas", or "" when unset.
func (r Refresher) String() string {
	switch r {
	case RefresherUAC:
		return "uac"
	case RefresherUAS:
		return "uas"
	}
	return ""
}

// SessionExpires is a Session-Expires value (RFC 4028 §4): the session
// interval in seconds and the refresher.
type SessionExpires struct {
	// Seconds is the session interval; values past 2**32-1 are read as
	// 2**32-1, as RFC 3261 §20.19 asks of Expires.
	Seconds uint32
	// Refresher is the refresher parameter; unset when absent or when
	// its value is neither uac nor uas.
	Refresher Refresher
	// Params is every parameter as written, refresher included, so that
	// parameters of later extensions survive a copy into a response.
	Params sip.Params
}

// ParseSessionExpires parses a Session-Expires value. Only the number is
// required to be well formed: a broken or unknown parameter does not stop
// the session timer working, so it reads as no refresher rather than as
// an error (the leniency table's "only the part Parley needs").
func ParseSessionExpires(s string) (SessionExpires, error) {
	n, params, ok := deltaSeconds(s)
	if !ok {
		return SessionExpires{}, ErrSessionExpires
	}
	se := SessionExpires{Seconds: n, Params: sip.Params(params)}
	if v, ok := se.Params.Get("refresher"); ok {
		switch {
		case sip.EqualFold(v, "uac"):
			se.Refresher = RefresherUAC
		case sip.EqualFold(v, "uas"):
			se.Refresher = RefresherUAS
		}
	}
	return se, nil
}

// ParseMinSE parses a Min-SE value (RFC 4028 §5): delta-seconds with
// parameters, which are ignored.
func ParseMinSE(s string) (uint32, error) {
	n, _, ok := deltaSeconds(s)
	if !ok {
		return 0, ErrMinSE
	}
	return n, nil
}

// String writes the value as it goes in a header: "1800;refresher=uac".
// Params other than refresher are kept; the refresher is written from
// the Refresher field, so that setting it is all a caller does.
func (se SessionExpires) String() string {
	b := strconv.AppendUint(make([]byte, 0, 32), uint64(se.Seconds), 10)
	se.Params.Without("refresher").Each(func(name, value string) bool {
		b = append(b, ';')
		b = append(b, name...)
		if value != "" {
			b = append(b, '=')
			b = append(b, value...)
		}
		return true
	})
	if se.Refresher != RefresherUnset {
		b = append(b, ";refresher="...)
		b = append(b, se.Refresher.String()...)
	}
	return string(b)
}

// deltaSeconds reads 1*DIGIT with white space around it, and returns what
// follows a ';' as the parameters. Anything else after the number makes
// the value malformed: a number Parley cannot be sure of would set a timer
// that ends someone's call.
func deltaSeconds(s string) (n uint32, params string, ok bool) {
	s = trimLWS(s)
	i := 0
	var v uint64
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		if v <= math.MaxUint32 {
			v = v*10 + uint64(s[i]-'0')
		}
		i++
	}
	if i == 0 {
		return 0, "", false
	}
	rest := trimLWS(s[i:])
	if rest != "" {
		if rest[0] != ';' {
			return 0, "", false
		}
		params = trimLWS(rest[1:])
	}
	return uint32(min(v, math.MaxUint32)), params, true
}

func trimLWS(s string) string {
	for s != "" && isLWS(s[0]) {
		s = s[1:]
	}
	for s != "" && isLWS(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	return s
}

func isLWS(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// Read returns a message's Session-Expires (or its compact form x); ok is
// false when it has none. When a message carries several, the first
// counts, as for any header that may appear once.
func Read(m *sip.Message) (se SessionExpires, ok bool, err error) {
	if !m.HasHeader(HeaderSessionExpires) {
		return SessionExpires{}, false, nil
	}
	se, err = ParseSessionExpires(m.Header(HeaderSessionExpires))
	return se, err == nil, err
}

// ReadMinSE returns a message's Min-SE in seconds; ok is false when it
// has none.
func ReadMinSE(m *sip.Message) (seconds uint32, ok bool, err error) {
	if !m.HasHeader(HeaderMinSE) {
		return 0, false, nil
	}
	seconds, err = ParseMinSE(m.Header(HeaderMinSE))
	return seconds, err == nil, err
}
