package dialog

import (
	"strings"

	"github.com/parley-sip/parley/sip"
)

// Usage is one use of a dialog (RFC 5057 §4): the INVITE usage (the
// session an INVITE set up) or a subscription (RFC 6665), told apart by
// its event package and id. One dialog may carry an INVITE usage and any
// number of subscriptions; it ends when the last one does.
type Usage struct {
	// Event is "" for the INVITE usage; for a subscription, the Event
	// header's package in lower case, with ";id=" and the id when it has
	// one ("presence", "dialog;id=7").
	Event string
}

// InviteUsage is the usage an INVITE creates.
var InviteUsage = Usage{}

// Subscription returns the usage of a subscription to event, an Event
// header value (RFC 6665 §8.2.1): its package and id identify it, any
// other parameter does not.
func Subscription(event string) Usage {
	pkg, params, _ := strings.Cut(event, ";")
	u := Usage{Event: strings.ToLower(strings.TrimSpace(pkg))}
	if id, ok := sip.Params(params).Get("id"); ok {
		u.Event += ";id=" + id
	}
	return u
}

// owned returns u with an Event string of its own: one read from a
// request views the request's buffer, which a long-lived usage would pin.
func (u Usage) owned() Usage { return Usage{Event: strings.Clone(u.Event)} }

// IsInvite reports whether u is the INVITE usage.
func (u Usage) IsInvite() bool { return u.Event == "" }

// String returns "invite" or "subscription:" and the event.
func (u Usage) String() string {
	if u.IsInvite() {
		return "invite"
	}
	return "subscription:" + u.Event
}

// UsageOf returns the usage a request belongs to: a SUBSCRIBE's or
// NOTIFY's subscription (by its Event header), the INVITE usage for
// everything else (INVITE, ACK, BYE, UPDATE, PRACK, INFO, …).
func UsageOf(req *sip.Message) Usage {
	switch req.Method() {
	case "SUBSCRIBE", "NOTIFY":
		return Subscription(req.Header("Event"))
	}
	return InviteUsage
}

// refreshes reports whether method is a target refresh request: its
// Contact replaces the remote target (§12.2, RFC 3311, RFC 6665 §4.1.2).
func refreshes(method string) bool {
	switch method {
	case "INVITE", "UPDATE", "SUBSCRIBE", "NOTIFY", "REFER":
		return true
	}
	return false
}

// endsSubscription reports whether req is a NOTIFY saying its
// subscription is over (RFC 6665 §4.1.3: Subscription-State: terminated).
func endsSubscription(req *sip.Message) bool {
	if req.Method() != "NOTIFY" {
		return false
	}
	state, _, _ := strings.Cut(req.Header("Subscription-State"), ";")
	return strings.EqualFold(strings.TrimSpace(state), "terminated")
}
