package proxy

import (
	"context"
	"errors"

	"github.com/parley-sip/parley/sip"
)

// ErrNoBinding is Locate's answer for a user of ours with no phone
// registered now.
var ErrNoBinding = errors.New("proxy: no binding")

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
		return nil, ErrNoBinding
	}
	out := make([]Target, len(bindings))
	for i, b := range bindings {
		out[i] = p.bindingTarget(b)
	}
	return out, nil
}
