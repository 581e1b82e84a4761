package b2bua

import (
	"context"

	"github.com/parley-sip/parley/sip"
)

// Destination is one place a B leg may go; a Plan's are tried in order,
// the next on 5xx, 408 or a transport error (an answer 3xx/4xx/6xx is
// final and goes back to the caller).
type Destination struct {
	URI   string
	Trunk string
}

// Plan is where a call goes: the dialled user after rewriting, and its
// destinations.
type Plan struct {
	Route, Trunk, DialledUser string
	Destinations              []Destination

	// unproved marks a caller the auth stage let in without proof
	// (Config.Vouched): its REFERs are refused (refer.go).
	unproved bool
}

// Router chooses a call's plan; ok false means no route (the B2BUA then
// looks the callee up in the location service as for a local user;
// nothing found is 404 as today).
type Router func(ctx context.Context, req *sip.Message) (p Plan, ok bool)
