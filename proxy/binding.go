package proxy

import "github.com/parley-sip/parley/location"

// BindingTarget is where a request to binding b goes: its Contact as the
// Request-URI, its Path as a preloaded route, and the flow it registered
// on when the phone is behind NAT. A request Parley originates to a
// phone (a stored MESSAGE) thus goes the way the relay sends a call.
func (p *Proxy) BindingTarget(b location.Binding) Target { return p.bindingTarget(b) }
