package observe

import (
	"time"

	"github.com/parley-sip/parley/cdr"
	"github.com/parley-sip/parley/sip"
)

// Record is the call's detail record as node kept it. A call that has not
// ended (the server is stopping) ends at now, interrupted, by the system.
func (c *Call) Record(node string, now time.Time) cdr.Record {
	r := cdr.Record{
		Node: node, CallID: c.CallID, Caller: address(c.Caller), Callee: address(c.Callee),
		Dialled: dialled(c.RequestURI), Source: c.Source,
		Setup: c.Start, Ringing: c.Ringing, Answered: c.Answered, End: c.End,
		Disposition: cdr.DispositionOf(!c.Answered.IsZero(), c.Status), HungUpBy: c.HungUpBy,
		Status: c.Status, Reason: c.Reason,
	}
	if c.State != CallEnded {
		r.End, r.Disposition, r.HungUpBy, r.Reason = now, cdr.Interrupted, cdr.System, cdr.ReasonServerStopped
	}
	return r
}

// address is the URI of a From or To value without its display name, as
// billing wants it; a value that does not parse is kept whole.
func address(v string) string {
	na, err := sip.ParseNameAddr(v)
	if err != nil {
		return v
	}
	return na.URI.String()
}

// dialled is the user part of the Request-URI the caller sent: the
// number or name it dialled.
func dialled(ruri string) string {
	u, err := sip.ParseURI(ruri)
	if err != nil {
		return ""
	}
	return u.User
}
