package proxy

import (
	"context"
	"sync/atomic"
	"time"
)

// lifetime gives requests their contexts: derived from the server's, with
// a deadline. A context of its own per request would cost a timer and a
// place in the parent's child set on every request; requests of the
// same second share one instead, whose deadline is that second's end
// plus the timeout, so a request may get up to a second more than it
// asked for, never less.
type lifetime struct {
	parent  context.Context
	timeout time.Duration
	current atomic.Pointer[secondContext]
}

// secondContext is the context of the requests that arrive in one second.
type secondContext struct {
	second int64 // Unix seconds
	ctx    context.Context
	// cancel is never called: requests share the context, so none may
	// end it, and its own deadline releases it.
	cancel context.CancelFunc
}

func (l *lifetime) init(parent context.Context, timeout time.Duration) {
	if parent == nil {
		parent = context.Background()
	}
	if timeout <= 0 {
		timeout = 32 * time.Second // 64*T1: no client waits longer for an answer
	}
	l.parent, l.timeout = parent, timeout
}

// context returns the context for a request arriving now.
func (l *lifetime) context(now time.Time) context.Context {
	sec := now.Unix()
	if cur := l.current.Load(); cur != nil && cur.second == sec {
		return cur.ctx
	}
	ctx, cancel := context.WithDeadline(l.parent, time.Unix(sec+1, 0).Add(l.timeout))
	l.current.Store(&secondContext{second: sec, ctx: ctx, cancel: cancel})
	return ctx
}

// requestContext returns the context of a request arriving now.
func (p *Proxy) requestContext() context.Context { return p.lifetime.context(time.Now()) }
