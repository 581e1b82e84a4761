package server

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/parley-sip/parley/cdr"
	"github.com/parley-sip/parley/config"
	"github.com/parley-sip/parley/observe"
	"github.com/parley-sip/parley/presence/busylamp"
	"github.com/parley-sip/parley/presence/dialoginfo"
	"github.com/parley-sip/parley/presence/mailbox"
	"github.com/parley-sip/parley/presence/notify"
	"github.com/parley-sip/parley/presence/registrations"
	"github.com/parley-sip/parley/proxy"
	"github.com/parley-sip/parley/sip"
)

// presencePackages are the event packages served beside presence: busy
// lamps (dialog), registrations (reg) and message waiting
// (message-summary), with the stage that takes a voicemail system's
// updates.
type presencePackages struct {
	lamps *busylamp.Tracker
	regs  *registrations.Package
	mail  mailbox.Store
	mwi   *mailbox.Stage
	// share tells the other nodes of a cluster of a step of a call for
	// their busy lamps; nil on a single server.
	share func(busylamp.CallEvent)
}

// newPresencePackages builds the packages; changed is the notifier's
// Changed. The location store must be open.
func (s *Server) newPresencePackages(cfg *config.Config, changed func(event, resource string)) (*presencePackages, error) {
	mail, err := openMailbox(cfg)
	if err != nil {
		return nil, err
	}
	tell := func(event string) func(string) { return func(r string) { changed(event, r) } }
	mwi := mailbox.StageConfig{Store: mail, Changed: tell(mailbox.Event), Trusted: s.guard.Trusted,
		Serves: s.isOurDomain, Logger: s.events}
	if s.storage.cached != nil {
		mwi.Users = s.storage.cached
	}
	// The busy lamps' state is the calls, which no store keeps: each node
	// applies every node's steps of calls (share) and notifies its own
	// watchers.
	lamps := func(r string) { s.presence.n.Changed(busylamp.Event, r) }
	var share func(busylamp.CallEvent)
	if s.presence.relay != nil {
		share = s.presence.relay.Call
	}
	return &presencePackages{
		share: share,
		lamps: busylamp.New(busylamp.Config{Changed: lamps, Resource: s.lampResource}),
		// The relay tells the other nodes of each registration change
		// itself: the reg package's notices stay here.
		regs: registrations.New(registrations.Config{Store: s.store,
			Changed: func(r string) { s.presence.n.Changed(registrations.Event, r) }}),
		mail: mail,
		mwi:  mailbox.NewStage(mwi),
	}, nil
}

// openMailbox opens the message summaries in the storage engine's
// database: parley.db, PostgreSQL, or memory.
func openMailbox(cfg *config.Config) (mailbox.Store, error) {
	if cfg.Storage.Engine == config.EngineMemory {
		return mailbox.NewMemory(), nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := mailbox.Open(ctx, string(cfg.Storage.Engine), cfg.DataDir, cfg.Storage.DSN)
	if err != nil {
		return nil, fmt.Errorf("message summaries: %w", err)
	}
	return st, nil
}

// wirePresencePackages registers the packages with the notifier and puts
// the mwi stage before the notifier's (which answers a PUBLISH no
// package took with 489). It runs in New once the notifier is built,
// before the proxy is; with presence off it does nothing.
func (s *Server) wirePresencePackages(cfg *config.Config, stages []proxy.Stage) ([]proxy.Stage, error) {
	if s.presence == nil {
		return stages, nil
	}
	n := s.presence.n
	pp, err := s.newPresencePackages(cfg, s.presence.changed)
	if err != nil {
		return nil, err
	}
	for _, p := range []notify.Package{pp.lamps, pp.regs, mailbox.NewPackage(pp.mail)} {
		n.Register(p)
	}
	before := "location"
	for _, st := range stages {
		if st.Name() == "notify" {
			before = "notify"
		}
	}
	if stages, err = proxy.Insert(stages, before, pp.mwi); err != nil {
		pp.close()
		return nil, err
	}
	s.packages = pp
	return stages, nil
}

// watchPresencePackages has the registration package follow the
// registrar; it runs once the registrar is the server's.
func (s *Server) watchPresencePackages() {
	if s.packages != nil {
		s.watchRegistrations(s.packages.regs.Watch)
	}
}

// lampResource is the resource a party of a call is watched as: the
// user of one of the server's domains, or no one.
func (s *Server) lampResource(identity string) (string, bool) {
	r, ok := busylamp.ResourceOf(identity)
	if !ok {
		return "", false
	}
	_, domain, _ := strings.Cut(r, "@")
	return r, s.isOurDomain(domain)
}

// onCall feeds the busy lamps from the observer's call tracking; it runs
// on the observer's worker.
func (pp *presencePackages) onCall(change observe.CallChange, c observe.Call) {
	if ev, ok := lampEvent(change, &c); ok {
		pp.lamps.Update(ev)
		if pp.share != nil {
			pp.share(ev)
		}
	}
}

// lampEvent is a step of a proxied call as busy lamps see it.
func lampEvent(change observe.CallChange, c *observe.Call) (busylamp.CallEvent, bool) {
	ev := busylamp.CallEvent{CallID: c.CallID,
		Caller: busylamp.Leg{Party: party(c.Caller, c.CallerTarget), Tag: c.CallerTag},
		Callee: busylamp.Leg{Party: party(c.Callee, c.CalleeTarget), Tag: calleeTag(c)}}
	switch change {
	case observe.CallStarted:
		ev.State = dialoginfo.Trying
	case observe.CallAlerting:
		ev.State = dialoginfo.Early
	case observe.CallAnswered:
		ev.State = dialoginfo.Confirmed
	case observe.CallFinished:
		ev.State = dialoginfo.Terminated
		if c.Answered.IsZero() {
			ev.Code = c.Status
		}
		ev.HungUpBy = map[cdr.Party]busylamp.Side{cdr.Caller: busylamp.Caller, cdr.Callee: busylamp.Callee}[c.HungUpBy]
	default:
		return busylamp.CallEvent{}, false
	}
	return ev, true
}

// calleeTag is the callee's side of the call: the branch that answered,
// else the latest that rang.
func calleeTag(c *observe.Call) string {
	tag := ""
	for _, b := range c.Branches {
		if b.State == "confirmed" {
			return b.Tag
		}
		tag = b.Tag
	}
	return tag
}

// party reads a From or To value; one that does not parse (forwarded as
// the leniency table allows) shows no identity.
func party(nameAddr, target string) dialoginfo.Party {
	p := dialoginfo.Party{Target: target}
	if na, err := sip.ParseNameAddr(nameAddr); err == nil {
		p.Identity, p.Display = na.URI.String(), na.DisplayName()
	}
	return p
}

func (pp *presencePackages) close() {
	if pp != nil {
		_ = pp.mail.Close()
	}
}

// withLamps adds the busy lamps to the observer's OnCall, when wired.
func (s *Server) withLamps(onCall func(observe.CallChange, observe.Call)) func(observe.CallChange, observe.Call) {
	pp := s.packages
	if pp == nil {
		return onCall
	}
	return func(change observe.CallChange, c observe.Call) {
		onCall(change, c)
		pp.onCall(change, s.lampCall(c))
	}
}
