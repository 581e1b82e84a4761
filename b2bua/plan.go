package b2bua

import (
	"context"

	"github.com/parley-sip/parley/sip"
)

// Origin is what a call's record says of how it was dialled and where it
// went, as Config.Routing tells it.
type Origin struct {
	// Dialled is what the caller dialled, as dialled.
	Dialled string
	// Route is the route that took the call, cdr.RouteLocal, or "".
	Route string
	// Callee is the callee's address when it is not the To's (the user
	// a DID rings); "" keeps the To's.
	Callee string
}

// Destination is one place a B leg may go; a Plan's are tried in order,
// the next on 5xx, 408 or a transport error (an answer 3xx/4xx/6xx is
// final and goes back to the caller).
type Destination struct {
	URI   string
	Trunk string
}

// Plan is where a call goes and, for its record, how it got there.
type Plan struct {
	// Route names the dial plan route that took the call, or is
	// cdr.RouteLocal for a call to local users that no route took.
	Route string
	// Trunk is the trunk of the first destination, or the trunk an
	// inbound call came from.
	Trunk string
	// DialledUser is the user as the caller dialled it, before any
	// rewriting (a DID, a route's number); "" is the Request-URI's user
	// as it arrived.
	DialledUser string
	// Destinations are a dial plan's, tried one by one; nil for a call
	// to the targets the location stage found.
	Destinations []Destination
	// Callee, for the record, is the callee's address when it is not the
	// To's: the user a trunk's DID rings. "" keeps the To's.
	Callee string

	// unproved marks a caller the auth stage let in without proof
	// (Config.Vouched): its REFERs are refused (refer.go).
	unproved bool
	// stranger marks a caller nobody answers for (Config.Accountable):
	// its transfers may not go out through gateways (refer.go).
	stranger bool
}

// Router chooses a call's plan; ok false means no route (the B2BUA then
// looks the callee up in the location service as for a local user;
// nothing found is 404 as today).
type Router func(ctx context.Context, req *sip.Message) (p Plan, ok bool)
