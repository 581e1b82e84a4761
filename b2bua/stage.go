package b2bua

import (
	"github.com/parley-sip/parley/proxy"
	"github.com/parley-sip/parley/sip"
)

// Stage names, as /metrics and proxy.Insert know them.
const (
	DialogStageName   = "b2bua-dialog"
	ReplacesStageName = "b2bua-replaces"
	RouteStageName    = "b2bua-route"
	StageName         = "b2bua"
)

// Dialogs is the stage for requests inside the B2BUA's calls: the ACKs,
// CANCELs and in-dialog requests addressed to Parley's Contact. It goes
// before the proxy's cancel stage (proxy.Insert(stages, "cancel", …)):
// a CANCEL of a B2BUA call matches no proxy context, and an in-dialog
// request names no Route of ours, which the route stage would answer
// 404. Nothing it takes is challenged: the dialog's tags are the
// credentials, as for any user agent (§22.1 leaves in-dialog requests
// to the UA's judgement). An INVITE with Replaces is not in a dialog and
// is left to Replacing, after authentication.
func (b *B2BUA) Dialogs() proxy.Stage {
	return proxy.StageFunc{StageName: DialogStageName, Fn: b.serveDialog}
}

func (b *B2BUA) serveDialog(r *proxy.Request, next func()) {
	m := r.Msg
	method := m.Method()
	if method == "CANCEL" {
		if c := b.setup(cancelKey(m)); c != nil {
			r.Respond(200, "OK")
			c.Post(c.onCancel)
			return
		}
		next()
		return
	}
	if m.ToTag() == "" {
		next()
		return
	}
	l := b.leg(m)
	if l == nil {
		next()
		return
	}
	if method == "ACK" {
		r.Respond(0, "") // an ACK is absorbed, never answered
	}
	c := l.call
	tx := r.Tx
	if method == "REFER" {
		tx = senderTx{ServerTx: tx, accountable: b.accountable(r)}
	}
	c.Post(func() { c.inDialog(l, tx, m) })
}

// accountable reports whether someone answers for r's sender
// (Config.Accountable).
func (b *B2BUA) accountable(r *proxy.Request) bool {
	return b.cfg.Accountable == nil || b.cfg.Accountable(r)
}

// Replacing is the stage for initial INVITEs whose Replaces header names
// a call of the B2BUA's: an attended transfer a phone completes, or a
// pickup of a ringing call. It goes after authentication
// (proxy.Insert(stages, "local", …)): a dialog's identifiers are no
// secret — busy lamps show them to every watcher of the domain — so the
// phone taking a call over proves who it is as for any new call
// (RFC 3891 §7), and the pickup's domain check reads a From that the auth
// stage has matched to the credentials.
func (b *B2BUA) Replacing() proxy.Stage {
	return proxy.StageFunc{StageName: ReplacesStageName, Fn: b.serveReplacing}
}

func (b *B2BUA) serveReplacing(r *proxy.Request, next func()) {
	if r.Msg.Method() == "INVITE" && r.Msg.ToTag() == "" && r.Tx != nil && b.replacing(r) {
		return
	}
	next()
}

// Routed is the stage that asks Config.Router about initial INVITEs and
// takes those it routes. It goes after authentication and before the
// location stage (proxy.Insert(stages, "location", …)), so that a
// dialled number that is no local user still finds its trunk.
func (b *B2BUA) Routed() proxy.Stage {
	return proxy.StageFunc{StageName: RouteStageName, Fn: b.serveRouted}
}

func (b *B2BUA) serveRouted(r *proxy.Request, next func()) {
	if b.cfg.Router == nil || !initialInvite(r) {
		next()
		return
	}
	plan, ok := b.cfg.Router(r.Context(), r.Msg)
	if !ok {
		next()
		return
	}
	if len(plan.Destinations) == 0 {
		r.Respond(404, "No Route")
		return
	}
	ts := make([]target, len(plan.Destinations))
	for i, d := range plan.Destinations {
		ts[i] = target{uri: d.URI, trunk: d.Trunk}
	}
	b.take(r, plan, ts)
}

// Located is the stage of mode: b2bua, and of the trunks' calls that
// Config.Inbound names. It goes before the relay stage
// (proxy.Insert(stages, "relay", …)) and takes every such initial INVITE
// there, with the targets the location stage found as its B legs, forked
// in parallel.
func (b *B2BUA) Located() proxy.Stage {
	return proxy.StageFunc{StageName: StageName, Fn: b.serveLocated}
}

func (b *B2BUA) serveLocated(r *proxy.Request, next func()) {
	if !initialInvite(r) || len(r.Targets) == 0 {
		next()
		return
	}
	trunk, fromTrunk := b.inbound(r.In)
	if !b.cfg.All && !fromTrunk {
		next()
		return
	}
	plan := Plan{Trunk: trunk}
	if b.cfg.Routing != nil {
		ruri, _ := receivedURI(r.Msg)
		var to sip.URI
		if na, err := r.Msg.To(); err == nil {
			to = na.URI
		}
		o := b.cfg.Routing(r.In.Source.Addr(), ruri, to)
		plan.DialledUser, plan.Route, plan.Callee = o.Dialled, o.Route, o.Callee
	}
	ts := make([]target, len(r.Targets))
	for i, t := range r.Targets {
		uri := t.URI
		if uri == "" {
			uri = r.Msg.RequestURI()
		}
		ts[i] = target{uri: uri, route: t.Route, dest: t.Dest}
	}
	b.take(r, plan, ts)
}

// initialInvite reports whether r is an INVITE outside any dialog, in a
// transaction the B2BUA can answer on.
func initialInvite(r *proxy.Request) bool {
	return r.Msg.Method() == "INVITE" && r.Msg.ToTag() == "" && r.Tx != nil
}

func (b *B2BUA) take(r *proxy.Request, plan Plan, ts []target) {
	plan.unproved = b.cfg.Vouched != nil && !b.cfg.Vouched(r)
	plan.stranger = !b.accountable(r)
	b.takeCall(r.Context(), r.Tx, r.In, plan, ts)
}
