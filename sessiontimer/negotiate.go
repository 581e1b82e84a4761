package sessiontimer

import (
	"strconv"
	"time"

	"github.com/parley-sip/parley/sip"
)

// AbsoluteMinSE is the smallest session interval RFC 4028 §4 allows
// anyone to ask for: 90 seconds.
const AbsoluteMinSE = 90 * time.Second

// Code and reason of the answer to an interval below Min-SE (§6).
const (
	CodeTooSmall   = 422
	ReasonTooSmall = "Session Interval Too Small"
)

// Policy is this side's wish for session timers: the interval it asks for
// or lowers a longer one to, and the shortest it accepts. The zero Policy
// is not usable; Validate says why a Policy is not.
type Policy struct {
	// Expires is the session interval Parley asks for, and the longest it
	// lets a peer set: a shorter interval finds a vanished phone sooner.
	Expires time.Duration
	// MinSE is the shortest interval accepted; a request below it gets 422.
	MinSE time.Duration
}

// Validate reports a Policy that RFC 4028 forbids or that cannot work.
func (p Policy) Validate() error {
	switch {
	case p.MinSE < AbsoluteMinSE:
		return policyError("min_se must be at least 90s (RFC 4028 §4), got " + p.MinSE.String())
	case p.Expires < p.MinSE:
		return policyError("session_expires must be at least min_se (" + p.MinSE.String() + "), got " + p.Expires.String())
	}
	return nil
}

type policyError string

func (e policyError) Error() string { return "sessiontimer: " + string(e) }

// Session is a negotiated session timer: the interval and which side of
// the dialog refreshes. The zero Session means no session timer.
type Session struct {
	// Interval is the session interval; 0 means the dialog has no timer.
	Interval time.Duration
	// Refresher is the side that refreshes, named from the INVITE's roles.
	Refresher Refresher
}

// Active reports whether the dialog has a session timer.
func (s Session) Active() bool { return s.Interval > 0 }

// LocalRefresh reports whether this side refreshes, given whether it was
// the UAS of the INVITE that set the session up.
func (s Session) LocalRefresh(weAreUAS bool) bool {
	if weAreUAS {
		return s.Refresher == RefresherUAS
	}
	return s.Refresher == RefresherUAC
}

// Answer is what a UAS does with an INVITE (or UPDATE) per RFC 4028 §9:
// reject it with 422 and Min-SE, or accept it with Session (possibly
// none) and the headers its 2xx must carry.
type Answer struct {
	// Reject is set when the interval asked for is below Policy.MinSE and
	// the UAC can understand a 422: answer CodeTooSmall, ReasonTooSmall
	// and a Min-SE header of MinSE.
	Reject bool
	// MinSE is the Min-SE header value of the 422, in seconds.
	MinSE uint32
	// Session is the timer the 2xx sets up.
	Session Session
	// Require is set when the 2xx must carry "Require: timer", which is
	// when the UAC refreshes (§9).
	Require bool
}

// Headers returns the header fields the 2xx carries for a, as name and
// value pairs: none when there is no timer.
func (a Answer) Headers() [][2]string {
	if a.Reject {
		return [][2]string{{HeaderMinSE, strconv.FormatUint(uint64(a.MinSE), 10)}}
	}
	if !a.Session.Active() {
		return nil
	}
	se := SessionExpires{Seconds: seconds(a.Session.Interval), Refresher: a.Session.Refresher}
	h := [][2]string{{HeaderSessionExpires, se.String()}}
	if a.Require {
		h = append(h, [2]string{"Require", OptionTag})
	}
	return h
}

// Answer decides a UAS's response to a session-refreshing request. A
// malformed Session-Expires or Min-SE is an error carrying the 400 to
// answer with: Parley would otherwise set a timer it cannot be sure of.
//
// The rules (RFC 4028 §9): an interval below MinSE is refused with 422
// when the UAC supports timers (and accepted at our MinSE as refresher
// when it cannot understand a 422, §8.1's rule for a proxy applied to
// ourselves); a longer interval than Expires is lowered to it, never
// below the request's Min-SE; without a Session-Expires, a UAC that
// supports timers gets one of Expires; the refresher the UAC named is
// kept, and when it named none it refreshes if it can, else we do.
func (p Policy) Answer(req *sip.Message) (Answer, error) {
	se, has, err := Read(req)
	if err != nil {
		return Answer{}, err
	}
	reqMin, _, err := ReadMinSE(req)
	if err != nil {
		return Answer{}, err
	}
	uacSupports := req.HasToken("Supported", OptionTag) || req.HasToken("Require", OptionTag)
	floor := max(seconds(p.MinSE), reqMin)
	if has && se.Seconds < seconds(p.MinSE) && uacSupports {
		return Answer{Reject: true, MinSE: floor}, nil
	}
	interval := seconds(p.Expires)
	refresher := RefresherUnset
	if has {
		interval = max(min(se.Seconds, interval), floor)
		refresher = se.Refresher
	}
	switch {
	case !uacSupports:
		// A UAC that knows nothing of timers still gets one, with Parley
		// refreshing: it is what ends the call of a vanished phone.
		refresher = RefresherUAS
	case refresher == RefresherUnset:
		refresher = RefresherUAC
	}
	a := Answer{Session: Session{Interval: time.Duration(interval) * time.Second, Refresher: refresher}}
	a.Require = uacSupports && refresher == RefresherUAC
	return a, nil
}

// Offer returns the header fields a UAC puts in an initial INVITE (§7.1):
// Supported: timer, Session-Expires of Expires with no refresher (so the
// UAS may choose), and Min-SE. After a 422, pass the Min-SE it gave as
// floor; the offer then asks for at least that (§7.4). A refresh in an
// established dialog passes the current Session to keep its refresher.
func (p Policy) Offer(floor time.Duration, current Session) [][2]string {
	least := max(p.MinSE, floor)
	se := SessionExpires{Seconds: seconds(max(p.Expires, least))}
	if current.Active() {
		se.Seconds = seconds(max(current.Interval, least))
		se.Refresher = current.Refresher
	}
	return [][2]string{
		{"Supported", OptionTag},
		{HeaderSessionExpires, se.String()},
		{HeaderMinSE, strconv.FormatUint(uint64(seconds(least)), 10)},
	}
}

// Accept reads a UAC's 2xx to a request that carried Offer's headers
// (§7.2). A 2xx with a Session-Expires sets the timer it names (a missing
// refresher means the UAC, since the UAS did not take the job); a 2xx
// without one means the UAS does not do timers, and Parley refreshes
// itself at Expires, because a session nobody refreshes is what the
// timer exists to end.
func (p Policy) Accept(resp *sip.Message) (Session, error) {
	se, has, err := Read(resp)
	if err != nil {
		return Session{}, err
	}
	if !has {
		return Session{Interval: p.Expires, Refresher: RefresherUAC}, nil
	}
	r := se.Refresher
	if r == RefresherUnset {
		r = RefresherUAC
	}
	// A UAS may only lower the interval, never below 90 s; a smaller
	// value would have us refresh every few seconds.
	iv := max(time.Duration(se.Seconds)*time.Second, AbsoluteMinSE)
	return Session{Interval: iv, Refresher: r}, nil
}

// Retry reads a 422 to a request carrying Offer's headers and returns the
// floor for the next offer (§7.4): its Min-SE, or false when the 422 has
// none or one no larger than what was asked, which would only loop.
func Retry(resp *sip.Message, asked time.Duration) (time.Duration, bool) {
	n, ok, err := ReadMinSE(resp)
	if !ok || err != nil {
		return 0, false
	}
	floor := time.Duration(n) * time.Second
	if floor <= asked {
		return 0, false
	}
	return floor, true
}

func seconds(d time.Duration) uint32 {
	s := d / time.Second
	if s <= 0 {
		return 0
	}
	if s > 1<<32-1 {
		return 1<<32 - 1
	}
	return uint32(s)
}
