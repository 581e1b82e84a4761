package mailbox

import (
	"context"
	"errors"
	"time"

	"github.com/parley-sip/parley/presence/mwi"
	"github.com/parley-sip/parley/presence/notify"
)

// Event is the package's Event token.
const Event = "message-summary"

// storeTimeout bounds a store call made for the notifier, which gives
// Body no context of its own.
const storeTimeout = 3 * time.Second

// noMessages is the body for an account no voicemail system has told of.
var noMessages, _ = mwi.Summary{}.Marshal()

// Package serves message-summary to the notifier from a Store.
type Package struct {
	store Store
}

// NewPackage returns the event package reading store.
func NewPackage(store Store) *Package { return &Package{store: store} }

// Event implements notify.Package.
func (p *Package) Event() string { return Event }

// ContentType implements notify.Package.
func (p *Package) ContentType() string { return mwi.ContentType }

// Body implements notify.Package: the account's latest summary, or
// "Messages-Waiting: no" when there is none, so that a phone subscribing
// to an empty mailbox turns its lamp off.
func (p *Package) Body(w notify.Watch) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	s, err := p.store.Get(ctx, w.Resource)
	switch {
	case errors.Is(err, ErrNotFound):
		return append([]byte(nil), noMessages...), nil
	case err != nil:
		return nil, err
	}
	return s.Body, nil
}

var _ notify.Package = (*Package)(nil)
