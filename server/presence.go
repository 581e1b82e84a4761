package server

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/parley-sip/parley/clock"
	"github.com/parley-sip/parley/config"
	"github.com/parley-sip/parley/observe"
	"github.com/parley-sip/parley/presence"
	"github.com/parley-sip/parley/presence/agent"
	"github.com/parley-sip/parley/presence/busylamp"
	"github.com/parley-sip/parley/presence/dialoginfo"
	"github.com/parley-sip/parley/presence/notify"
	"github.com/parley-sip/parley/presence/relay"
	"github.com/parley-sip/parley/proxy"
	"github.com/parley-sip/parley/registrar"
	"github.com/parley-sip/parley/sip"
)

// presenceServer is the presence server of the served domains: the
// notifier with its subscription store, and the presence agent with the
// store of published state. The Server's field is nil with
// presence.enabled off.
type presenceServer struct {
	n     *notify.Notifier
	agent *agent.Agent
	subs  notify.Store // nil with the memory engine
	pubs  presence.Store
	// relay tells the other nodes of a cluster of the changes made here,
	// and this node of theirs; nil on a single server.
	relay *relay.Relay
	stop  context.CancelFunc
	bg    sync.WaitGroup
}

// newPresence opens the presence stores in the storage engine's database
// and builds the notifier and the agent; addStages puts their stages in
// the request route.
func (s *Server) newPresence(cfg *config.Config) (*presenceServer, error) {
	if !cfg.Presence.Enabled {
		return nil, nil
	}
	if cfg.Mode == config.ModeStateless {
		// NOTIFYs need client transactions, which a stateless proxy has none of.
		s.log.Warn("presence is off in stateless mode: SUBSCRIBE and PUBLISH are forwarded to the phones")
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ps := &presenceServer{}
	engine := string(cfg.Storage.Engine)
	if cfg.Storage.Engine == config.EngineMemory {
		// No subscription store: the notifier holds them, and a copy kept
		// for the next start would end with the process anyway.
		ps.pubs = presence.NewMemory(clock.Default())
	} else {
		subs, err := notify.OpenSQL(ctx, engine, cfg.DataDir, cfg.Storage.DSN)
		if err != nil {
			return nil, err
		}
		pubs, err := presence.Open(ctx, engine, cfg.DataDir, cfg.Storage.DSN, clock.Default())
		if err != nil {
			subs.Close()
			return nil, err
		}
		ps.subs, ps.pubs = subs, pubs
	}
	ps.n = notify.New(notify.Config{Sender: s.out, Domains: s.isOurDomain, Store: ps.subs, Node: cfg.Cluster.Node,
		Policy: notifyPolicy(cfg), Authorizer: s.WatcherPolicy(), Known: s.watchable, Log: s.events})
	ps.agent = agent.New(agent.Config{Store: ps.pubs, Domains: s.isOurDomain, Contacts: s.contactsOf,
		Changed: func(r string) { ps.changed(agent.Event, r) }, Policy: agentPolicy(cfg), Log: s.events})
	ps.n.Register(ps.agent)
	if b := s.storage.bus; b != nil {
		ps.relay = relay.New(relay.Config{Bus: b, Notify: ps.n.Changed, Remote: ps.remoteChanged,
			Remember: s.rememberRegistration, Call: s.remoteCall, Resume: ps.resume})
		if cfg.Storage.Engine != config.EnginePostgres {
			s.log.Warn("presence: published state, message summaries and offline messages stay on this node "+
				"with this storage.engine; use postgres to share them across the cluster", "engine", engine)
		}
	}
	return ps, nil
}

// watchable reports whether resource ("user@domain") is a user whose
// state may be watched: with passwords on, a subscriber; with them off
// (or no subscriber database), anyone of the served domains, since a
// phone that merely registers is a user then.
func (s *Server) watchable(ctx context.Context, resource string) (bool, error) {
	users := s.storage.cached
	if users == nil || !s.settings.Load().cfg.Auth.Enabled {
		return true, nil
	}
	at := strings.LastIndexByte(resource, '@')
	return users.Exists(ctx, resource[:at], resource[at+1:])
}

// changed says resource's state in event's package changed here: the
// watchers of every node of a cluster are told.
func (ps *presenceServer) changed(event, resource string) {
	if ps.relay != nil {
		ps.relay.Changed(event, resource)
	} else {
		ps.n.Changed(event, resource)
	}
}

// remoteChanged is a change another node made: the presence document
// this node cached is stale.
func (ps *presenceServer) remoteChanged(event, resource string) {
	if event == agent.Event {
		ps.agent.Stale(resource)
	}
	ps.n.Changed(event, resource)
}

// resume notifies every watcher afresh after the cluster's bus was down;
// the calls other nodes told of are forgotten, their ends may have been
// lost.
func (ps *presenceServer) resume() {
	ps.agent.ForgetRemoteCalls()
	ps.n.ChangedAll()
}

// remoteCall puts a step of a call another node saw on this node's busy
// lamps and, answered or ended, in its parties' presence (on-the-phone).
func (s *Server) remoteCall(ev busylamp.CallEvent) {
	if s.packages != nil {
		s.packages.lamps.Update(ev)
	}
	ps := s.presence
	if ev.State != dialoginfo.Confirmed && ev.State != dialoginfo.Terminated {
		return
	}
	for _, leg := range []busylamp.Leg{ev.Caller, ev.Callee} {
		r, ok := busylamp.ResourceOf(leg.Party.Identity)
		if ok && ps.agent.SetCall(r, ev.CallID, ev.State == dialoginfo.Confirmed, true) {
			ps.remoteChanged(agent.Event, r)
		}
	}
}

// rememberRegistration has the registration event package record a
// binding change another node made, and returns its resource.
func (s *Server) rememberRegistration(c registrar.Change) (string, bool) {
	if s.packages == nil {
		return "", false
	}
	return s.packages.regs.Remember(c)
}

// stats is what /metrics shows of presence.
func (ps *presenceServer) stats() observe.PresenceStats {
	st := ps.n.Stats()
	accepted, refused := ps.agent.Publications()
	return observe.PresenceStats{Subscriptions: st.Subscriptions, NotifiesSent: st.Delivered,
		NotifiesFailed: st.Failed, PublishAccepted: accepted, PublishRefused: refused}
}

func notifyPolicy(cfg *config.Config) notify.Policy {
	p := cfg.Presence
	return notify.Policy{MinExpires: p.MinExpires.Duration(), MaxExpires: p.MaxExpires.Duration(),
		DefaultExpires: p.DefaultExpires.Duration(), Throttle: p.NotifyThrottle.Duration()}
}

func agentPolicy(cfg *config.Config) agent.Policy {
	p := cfg.Presence
	return agent.Policy{MinExpires: p.MinExpires.Duration(), MaxExpires: p.MaxExpires.Duration(),
		DefaultExpires: p.DefaultExpires.Duration()}
}

// addStages puts the presence stages in the request route: PUBLISH and
// new SUBSCRIBEs after authentication, before the location service
// would forward them to phones; refreshes in the notifier's own dialogs
// before the route stage, which relays only dialogs Parley proxies.
func (ps *presenceServer) addStages(stages []proxy.Stage) ([]proxy.Stage, error) {
	if ps == nil {
		return stages, nil
	}
	stages, err := proxy.Insert(stages, "location", ps.agent.Stage())
	if err == nil {
		stages, err = proxy.Insert(stages, "location", ps.n.Stage())
	}
	if err == nil {
		stages, err = proxy.Insert(stages, "route", ps.n.DialogStage())
	}
	return stages, err
}

// contactsOf returns the Contact URIs registered for aor ("user@domain").
func (s *Server) contactsOf(ctx context.Context, aor string) ([]string, error) {
	bs, err := s.store.Lookup(ctx, "sip:"+aor, time.Now())
	if err != nil {
		return nil, err
	}
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = b.Contact
	}
	return out, nil
}

// watch follows what presence is composed of beside publications: the
// registrations (registered is open) and, through the call tracker's
// OnCall, calls (on-the-phone).
func (s *Server) watchPresence() {
	ps := s.presence
	if ps == nil {
		return
	}
	if ps.relay != nil {
		// First, so that the other nodes have a change before the
		// presence notice that follows.
		s.watchRegistrations(ps.relay.Registered)
	}
	s.watchRegistrations(func(c registrar.Change) {
		if c.Kind != registrar.Refreshed {
			ps.agent.Changed(strings.TrimPrefix(c.AOR, "sip:"))
		}
	})
}

// presenceOnCall is the call tracker's news for presence: both parties of
// an answered call are on the phone until it ends.
func (ps *presenceServer) onCall(change observe.CallChange, c observe.Call) {
	if ps == nil {
		return
	}
	on := change == observe.CallAnswered
	if !on && (change != observe.CallFinished || c.Answered.IsZero()) {
		return
	}
	for _, party := range []string{c.Caller, c.Callee} {
		if aor := partyAOR(party); aor != "" {
			ps.agent.Call(aor, c.CallID, on)
		}
	}
}

// partyAOR is "user@domain" of a From or To address.
func partyAOR(addr string) string {
	na, err := sip.ParseNameAddr(addr)
	if err != nil || !na.URI.IsSIP() || na.URI.User == "" {
		return ""
	}
	return sip.Unescape(na.URI.User) + "@" + strings.ToLower(na.URI.Host)
}

// start restores the stored subscriptions, each of which gets a NOTIFY
// with the current state, and starts the publications' expiry.
func (ps *presenceServer) start(s *Server) error {
	if ps == nil {
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	ps.stop = cancel
	rctx, rcancel := context.WithTimeout(ctx, 60*time.Second)
	defer rcancel()
	n, err := ps.n.Restore(rctx)
	if err != nil {
		return fmt.Errorf("presence: restoring subscriptions: %w", err)
	}
	if n > 0 {
		s.log.Info("presence subscriptions restored", "subscriptions", n)
	}
	ps.bg.Go(func() { ps.agent.Run(ctx) })
	return nil
}

// reload applies the live presence keys.
func (ps *presenceServer) reload(cfg *config.Config) {
	if ps == nil {
		return
	}
	ps.n.SetPolicy(notifyPolicy(cfg))
	ps.agent.SetPolicy(agentPolicy(cfg))
}

// close stops notifying (subscriptions stay stored for the next start)
// and closes the stores.
func (ps *presenceServer) close() {
	if ps == nil {
		return
	}
	if ps.stop != nil {
		ps.stop()
	}
	ps.bg.Wait()
	ps.n.Close()
	if ps.subs != nil {
		_ = ps.subs.Close()
	}
	_ = ps.pubs.Close()
}
