package proxy

import (
	"context"
	"errors"
	"strings"

	"github.com/parley-sip/parley/sip"
)

// ErrNoBinding is Locate's answer for a subscriber of ours with no phone
// registered now (a call to it is answered 480).
var ErrNoBinding = errors.New("proxy: no binding")

// ErrUnknownUser is Locate's answer for a user of our domains with no
// phone that is no subscriber, or that Parley may not say is one (a
// call to it is answered 404).
var ErrUnknownUser = errors.New("proxy: unknown user")

// Locate returns the targets a request to u would be forked to: the
// bindings of a user of our domains, as the location stage finds them
// (the flow of a phone behind NAT included), or u itself for anyone
// else. It is how a B2BUA finds a transfer target (a REFER's Refer-To)
// without a request going through the stages.
func (p *Proxy) Locate(ctx context.Context, u sip.URI) ([]Target, error) {
	if !u.IsSIP() || !p.isOurDomain(u.Host) || p.store == nil {
		return []Target{{URI: u.String()}}, nil
	}
	bindings, err := p.store.Lookup(ctx, u.AOR(), p.now())
	if err != nil {
		return nil, err
	}
	if len(bindings) == 0 {
		return nil, p.noBinding(ctx, u)
	}
	out := make([]Target, len(bindings))
	for i, b := range bindings {
		out[i] = p.bindingTarget(b)
	}
	return out, nil
}

// noBinding tells a subscriber without a phone from a stranger, as
// answerNoBinding does for a call: only with passwords on, when the party
// who asks proved who it is (an unproved one may not transfer at all), so
// that nobody lists the subscribers by transferring to guesses.
func (p *Proxy) noBinding(ctx context.Context, u sip.URI) error {
	cfg := p.config()
	if cfg.Auth == nil || cfg.Users == nil {
		return ErrUnknownUser
	}
	if known, err := cfg.Users.Exists(ctx, sip.Unescape(u.User), strings.ToLower(u.Host)); err != nil || !known {
		return ErrUnknownUser
	}
	return ErrNoBinding
}
