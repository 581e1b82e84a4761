// Package notify is the RFC 6665 notifier: it takes SUBSCRIBE requests
// for the users of Parley's domains, keeps each subscription as a usage
// of a dialog (package dialog), and sends NOTIFYs through the outbound
// service when the event package says its state changed. Event packages
// (presence, dialog, reg, message-summary) implement Package and never
// see a dialog, a transaction or a socket.
package notify // github.com/parley-sip/parley/presence/notify

import "errors"

// Watch is what an event package may know of the subscription a body is for.
type Watch struct {
	Watcher  string // the subscriber's address of record, "user@domain" (From, without scheme)
	Resource string // the watched resource, "user@domain" (Request-URI user and domain)
	Version  uint32 // 0 in the first NOTIFY of the subscription, then +1 per NOTIFY (dialog-info and reginfo version)
}

// Package is an event package the notifier serves (RFC 6665 §7.2).
type Package interface {
	Event() string                // the Event token: "presence", "dialog", "reg", "message-summary"
	ContentType() string          // the NOTIFY body's type, e.g. "application/dialog-info+xml"
	Body(w Watch) ([]byte, error) // the resource's full state as the watcher may see it
}

// Decision is what watcher policy says of a subscription.
type Decision uint8

// Decisions.
const (
	Allow   Decision = iota + 1 // active
	Pending                     // pending until the user decides (RFC 3857 winfo)
	Block                       // terminated;reason=rejected (or polite-block: active with neutral state)
)

// Authorizer is watcher policy; nil in the Notifier's config is "users of the same domain may
// watch each other; others are pending" as the issue asks.
type Authorizer interface {
	Authorize(watcher, resource, event string) Decision
}

// ErrNoResource is what a Package's Body returns for a resource it does
// not know: the subscription ends with reason=noresource (RFC 6665 §4.2.2).
var ErrNoResource = errors.New("notify: no such resource")
