package b2bua

import (
	"github.com/parley-sip/parley/sip"
)

// The identity headers of RFC 3325 that a trunk account may ask for.
const (
	HeaderPAI = "P-Asserted-Identity"
	HeaderPPI = "P-Preferred-Identity"
)

// trunkIdentity puts the trunk account's identity header on m, a B leg's
// INVITE to t from the caller from: the caller's number (or the account's
// fixed one) at the account's From host. Parley is the trust domain's
// edge towards the provider, so whatever identity the caller's phone
// claimed in either header gives way to it.
func (c *Call) trunkIdentity(m *sip.Message, from *sip.NameAddr, t target) {
	if t.trunk == "" || c.b.cfg.Trunks == nil {
		return
	}
	acc, ok := c.b.cfg.Trunks(t.trunk)
	if !ok || acc.IdentityHeader == "" {
		return
	}
	u := sip.URI{Scheme: "sip", User: from.URI.User, Host: from.URI.Host}
	if !from.URI.IsSIP() {
		u.User = ""
	}
	if acc.IdentityUser != "" {
		u.User = sip.EscapeUser(acc.IdentityUser)
	}
	if acc.FromHost != "" {
		u.Host = acc.FromHost
	}
	if u.User == "" || u.Host == "" {
		return
	}
	id := sip.NameAddr{Display: from.Display, URI: u.Rebuild()}
	m.RemoveHeader(HeaderPAI)
	m.RemoveHeader(HeaderPPI)
	m.SetHeader(acc.IdentityHeader, id.String())
}
