package b2bua

import (
	"github.com/parley-sip/parley/auth"
	"github.com/parley-sip/parley/outbound"
	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transport"
)

// TrunkAccount is what a provider knows Parley by on a trunk: the digest
// credentials its challenges are answered with, and the identity its B
// legs carry in From.
type TrunkAccount struct {
	// Username and Password answer a 401 or 407 to a B leg's INVITE.
	Username, Password string
	// FromUser and FromHost, when set, replace the user and the host of
	// the caller's From on the B leg: providers bill, and often only
	// accept, calls from the account itself, not from an extension.
	FromUser, FromHost string
	// IdentityHeader, HeaderPAI or HeaderPPI, puts the caller's number
	// (or IdentityUser) at FromHost on the B leg's INVITE, in place of
	// any the caller sent (identity.go); empty sends none.
	IdentityHeader, IdentityUser string
}

// trunkFrom is the From of a B leg to t: the caller's, with the trunk
// account's identity where it sets one.
func (c *Call) trunkFrom(from *sip.NameAddr, t target) *sip.NameAddr {
	if t.trunk == "" || c.b.cfg.Trunks == nil {
		return from
	}
	acc, ok := c.b.cfg.Trunks(t.trunk)
	if !ok || acc.FromUser == "" && acc.FromHost == "" {
		return from
	}
	out := *from
	u := from.URI
	if acc.FromUser != "" {
		u.User = sip.EscapeUser(acc.FromUser)
	}
	if acc.FromHost != "" {
		u.Host, u.Port = acc.FromHost, 0
	}
	// The caller's URI parameters (a user=phone, a transport) describe
	// the caller's address, not the account's.
	u.Params, u.Headers, u.Password = "", "", ""
	out.URI = u.Rebuild()
	return &out
}

// challenged handles a 401 or 407 to the INVITE of a branch to a trunk:
// the first is answered once with the trunk's credentials, in a new
// INVITE with the next CSeq (RFC 3261 §22.2) to the same destination;
// a second one, or one Parley cannot answer, is the caller's answer as
// 403, since the challenge is the provider's business and the caller's
// phone has no credentials for it. It reports whether it took resp; a
// challenge from a destination that is no trunk goes on as any failure.
func (br *branch) challenged(resp *sip.Message) bool {
	c := br.c
	if br.t.trunk == "" || c.b.cfg.Trunks == nil {
		return false
	}
	if c.state != stateSetup || c.cancelled {
		br.final(resp)
		return true
	}
	acc, ch, refusal := c.b.trunkAnswer(br.t.trunk, br.authorized, resp)
	if refusal != "" {
		br.final(sip.NewResponse(c.aInvite, 403, refusal, ""))
		return true
	}
	req, err := c.newInvite(br.t)
	if err == nil {
		err = authorize(req, resp.StatusCode(), ch, br.t.uri, acc)
	}
	if err != nil {
		br.final(sip.NewResponse(c.aInvite, 500, "Cannot Answer Trunk Challenge", ""))
		return true
	}
	br.done = true
	br.flight.Release()
	_, dst := br.flight.Sent()
	nb := &branch{c: c, t: br.t, authorized: true}
	c.su.branches = append(c.su.branches, nb)
	// The nonce is the challenging server's: the retry goes to it, not
	// to whichever address DNS gives next.
	c.b.cfg.Outbound.Start(c.ctx(), &nb.flight, outbound.Request{Msg: req, Route: br.t.route, Dest: dst}, nb)
	return true
}

// trunkAnswer picks what answers trunk's challenge resp to an INVITE:
// its account and the challenge to answer. Parley answers once, since a
// second challenge means the provider refused the credentials; when it
// cannot answer, refusal is the reason of the 403 that ends the call's
// attempt (or a transfer's).
func (b *B2BUA) trunkAnswer(trunk string, answered bool, resp *sip.Message) (acc TrunkAccount, ch auth.DigestChallenge, refusal string) {
	acc, ok := b.cfg.Trunks(trunk)
	switch {
	case !ok || acc.Username == "":
		return acc, ch, "Trunk Needs Credentials"
	case answered:
		return acc, ch, "Trunk Refused Credentials"
	}
	ch, ok = auth.PickChallenge(resp)
	if !ok {
		return acc, ch, "Unsupported Trunk Challenge"
	}
	return acc, ch, ""
}

// authorize adds the answer to challenge ch of a response with code to
// req, a request to uri.
func authorize(req *sip.Message, code int, ch auth.DigestChallenge, uri string, acc TrunkAccount) error {
	name := "Authorization"
	if code == 407 {
		name = "Proxy-Authorization"
	}
	v, err := ch.Answer(req.Method(), uri, acc.Username, acc.Password, 1)
	if err != nil {
		return err
	}
	req.AddHeader(name, v)
	return nil
}

// inbound reports whether in is a trunk's call that Config.Inbound
// sends through the B2BUA, and which trunk's.
func (b *B2BUA) inbound(in *transport.Incoming) (string, bool) {
	if b.cfg.Inbound == nil {
		return "", false
	}
	return b.cfg.Inbound(in)
}
