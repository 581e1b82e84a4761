package server

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/parley-sip/parley/admin"
	"github.com/parley-sip/parley/auth"
	"github.com/parley-sip/parley/config"
	"github.com/parley-sip/parley/hep"
	"github.com/parley-sip/parley/observe"
	"github.com/parley-sip/parley/proxy"
	"github.com/parley-sip/parley/subscriber"
	"github.com/parley-sip/parley/transaction"
	"github.com/parley-sip/parley/transport"
)

// observability is what watches the server: the message observer behind
// metrics, the console and the call records, the admin HTTP listener and
// the HEP exporter. The Server's field is nil when admin, HEP and call
// records are all off, which makes the taps on the message path a nil
// check.
type observability struct {
	obs     *observe.Observer
	admin   *admin.Server // nil when admin.listen is empty
	hep     *hep.Exporter // nil when hep.address is empty
	agentID uint32
	authKey string
	started time.Time
	lastErr time.Time // of HEP export, to log failures once a minute
	// capture: the messages go to the observer. Not in mode b2bua with
	// neither the admin listener nor HEP: every call is then the B2BUA's,
	// which reports its own steps (watchB2BUA), so the tracker would
	// only disown what it was given, and nobody reads the capture or its
	// counters. At 400 calls/s with CDRs on, the copy, scan and queue of
	// each message were 13 % of Parley's CPU and 15 % of the bytes it
	// allocated (docs/PERFORMANCE.md, issue 16's latency at half load).
	capture bool
}

// newObservability builds the observer, admin server and exporter from
// cfg.
func (s *Server) newObservability(cfg *config.Config) error {
	if cfg.Admin.Listen == "" && cfg.HEP.Address == "" && s.records == nil && s.packages == nil {
		return nil
	}
	o := &observability{agentID: uint32(cfg.HEP.AgentID), authKey: cfg.HEP.Password, started: time.Now(),
		capture: cfg.Admin.Listen != "" || cfg.HEP.Address != "" || cfg.Mode != config.ModeB2BUA}
	oc := observe.Config{Sources: s.metricSources(), Logger: s.log, OnCall: s.withLamps(s.onCall()),
		// With neither the admin listener nor HEP, nothing reads the
		// capture, its counters or its latency: only the calls are
		// followed, for the call records and the busy lamps.
		CallsOnly: cfg.Admin.Listen == "" && cfg.HEP.Address == ""}
	if s.b2b != nil {
		oc.Owned = b2buaCalls{s.b2b}
	}
	if cfg.Admin.Listen != "" {
		oc.CaptureMessages, oc.CaptureBytes = cfg.Admin.CaptureMessages, cfg.Admin.CaptureBytes
	}
	if cfg.HEP.Address != "" {
		exp, err := hep.Dial(cfg.HEP.Address)
		if err != nil {
			return fmt.Errorf("hep.address %s: %w", cfg.HEP.Address, err)
		}
		o.hep = exp
		oc.Export = func(m *observe.Message) { s.exportHEP(o, m) }
	}
	o.obs = observe.New(oc)
	if cfg.Admin.Listen != "" {
		o.admin = admin.New(admin.Config{
			Listen: cfg.Admin.Listen, Token: cfg.Admin.Token, Observer: o.obs, Store: s.store, CDRs: s.storage.cdrs,
			Users: s.userLister(), Ready: s.ready, Stats: func() any { return s.stats(o) }, Reload: func() any { return s.ReloadState() },
			Messages: s.MessageStore(), Watchers: s.watcherStore(), PendingWatchers: s.pendingWatchers(),
			Calls: s.callControl(), Cluster: s.clusterAPI(), Logger: s.log,
		})
	}
	s.obs = o
	return nil
}

// metricSources reads the layers' counters when /metrics is scraped.
func (s *Server) metricSources() observe.Sources {
	src := observe.Sources{
		Registrations: func() int { n, _ := s.store.Count(); return n },
		Stages:        s.stageStats,
		Relays:        s.relayStats,
		Dropped: func() map[string]uint64 {
			st := s.tp.Stats()
			return map[string]uint64{"malformed": st.Malformed, "framing": st.FramingErrors,
				"overflow": st.Overflows, "send_failed": st.SendErrors, "denied": st.Denied}
		},
		// The transport counts TCP and TLS connections together.
		Connections: func() map[string]int { return map[string]int{"stream": s.tp.Stats().Open} },
	}
	if s.txs != nil {
		src.Transactions = func() (int64, int64) { st := s.txs.Stats(); return st.ServerActive, st.ClientActive }
		src.TransactionBounds = func() observe.TransactionBounds {
			st := s.txs.Stats()
			return observe.TransactionBounds{Rejected: st.Rejected, InFlight: st.InFlight, Lingering: st.Lingering, LingerBytes: st.LingerBytes}
		}
	}
	src.Auth = func() (uint64, int) {
		a := s.authn.Load()
		if a == nil {
			return 0, 0
		}
		st := a.Stats()
		return st.Failures, st.BlockedNow
	}
	if s.records != nil {
		src.CDR = s.records.w.Stats
		if s.cluster != nil {
			src.CDRLeftToNode = s.cluster.leftRecords.Load
		}
	}
	if s.presence != nil {
		src.Presence = s.presence.stats
	}
	if s.storage != nil && s.storage.cached != nil {
		src.SubscriberCache = func() (uint64, uint64, int, int) {
			st := s.storage.cached.Stats()
			return st.Hits, st.Misses, st.Entries, st.Unknown
		}
	}
	return src
}

// startObservability runs the observer and binds the admin listener. A
// listener that cannot bind stops the start: an operator who configured a
// dashboard, health checks and metrics would otherwise run blind without
// knowing it (the default port 8080 is often taken).
func (s *Server) startObservability() error {
	o := s.obs
	if o == nil {
		return nil
	}
	o.obs.Start()
	if o.admin != nil {
		if err := o.admin.Start(); err != nil {
			o.admin = nil
			return fmt.Errorf("admin.listen %s: %w (move it with --admin HOST:PORT, or turn it off with --admin '' or admin.listen: \"\")",
				s.Config().Admin.Listen, err)
		}
	}
	return nil
}

// stopObservability runs after the transports have closed, so that the
// admin listener answers /readyz (not ready) during the drain and the
// observer has seen the last message before it exports and stops.
func (s *Server) stopObservability() {
	o := s.obs
	if o == nil {
		return
	}
	o.obs.Close()
	if o.admin != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = o.admin.Shutdown(ctx)
	}
	if o.hep != nil {
		_ = o.hep.Close()
	}
}

// tapReceived captures a message as it arrived, before any processing.
func (s *Server) tapReceived(in *transport.Incoming) {
	if o := s.obs; o != nil && o.capture {
		o.obs.Capture(observe.Received, string(in.Proto), localAddr(in.Local, in.Listener), in.Source, in.Msg.Raw())
	}
}

// tapSent captures a message about to be sent to dst.
func (s *Server) tapSent(dst transport.Target, msg []byte) {
	o := s.obs
	if o == nil || !o.capture {
		return
	}
	// On a connection the message goes where the connection does (as the
	// received side shows it), not to the Via's port of a response.
	if local, peer, ok := s.tp.ConnAddrs(dst.Conn); ok {
		o.obs.Capture(observe.Sent, string(dst.Proto), local, peer, msg)
		return
	}
	l := dst.Listener
	if l == nil || l.Proto != dst.Proto {
		l = s.tp.ListenerFor(dst.Proto, dst.Addr.Addr())
	}
	var local netip.AddrPort
	if l != nil {
		local = localAddr(l.Bound, l)
	}
	o.obs.Capture(observe.Sent, string(dst.Proto), local, dst.Addr, msg)
}

// localAddr is the address to show for our side: the bound one, or for a
// wildcard bind the advertised address, the best guess of where a peer
// reached us without asking the kernel per datagram.
func localAddr(bound netip.AddrPort, l *transport.ListenerInfo) netip.AddrPort {
	if !bound.Addr().IsUnspecified() || l == nil {
		return bound
	}
	if a, err := netip.ParseAddr(strings.Trim(l.Host, "[]")); err == nil {
		return netip.AddrPortFrom(a, bound.Port())
	}
	return bound
}

// exportHEP sends one captured message to the collector, on the
// observer's worker goroutine.
func (s *Server) exportHEP(o *observability, m *observe.Message) {
	proto := uint8(hep.ProtoUDP)
	if transport.Proto(m.Proto).Stream() {
		proto = hep.ProtoTCP // TLS rides on TCP
	}
	p := hep.Packet{Proto: proto, Src: m.Src(), Dst: m.Dst(), Time: m.Time, Type: hep.TypeSIP,
		AgentID: o.agentID, AuthKey: o.authKey, Payload: m.Text}
	if err := o.hep.Send(&p); err != nil && time.Since(o.lastErr) > time.Minute {
		o.lastErr = time.Now()
		s.log.Warn("hep: export failed (logged once a minute)", "error", err)
	}
}

// ready is /readyz: the listeners are bound, the server is not draining
// and the stores can be written. A durable location store answers
// lookups from memory even while its database is down, and the Redis
// store from its cache until it notices, so each is asked whether its
// writes succeed (Ready), not only whether a lookup does.
func (s *Server) ready(ctx context.Context) error {
	if len(s.tp.Listeners()) == 0 {
		return errors.New("SIP listeners not bound")
	}
	if s.draining.Load() {
		return errors.New("draining")
	}
	if _, err := s.store.Lookup(ctx, "sip:readiness-probe@invalid", time.Now()); err != nil {
		return fmt.Errorf("location store: %w", err)
	}
	if w, ok := s.store.(interface{ Ready() error }); ok {
		if err := w.Ready(); err != nil {
			return err
		}
	}
	if s.storage.users != nil {
		if err := s.storage.users.Ping(ctx); err != nil {
			return fmt.Errorf("subscriber store: %w", err)
		}
	}
	return nil
}

// serverStats is the server part of /api/stats.
type serverStats struct {
	UptimeSeconds float64  `json:"uptime_seconds"`
	Mode          string   `json:"mode"`
	Listeners     []string `json:"listeners"`
	Registrations struct {
		Bindings int `json:"bindings"`
		AORs     int `json:"aors"`
	} `json:"registrations"`
	Transport    transport.Stats    `json:"transport"`
	Transactions *transaction.Stats `json:"transactions,omitempty"`
	Auth         *auth.Stats        `json:"auth,omitempty"`
	// TLS is the certificate TLS listeners serve, with the fingerprint a
	// phone pins; absent without TLS listeners.
	TLS *transport.CertInfo `json:"tls,omitempty"`
	HEP *struct {
		Sent   uint64 `json:"sent"`
		Failed uint64 `json:"failed"`
	} `json:"hep,omitempty"`
	// Trunks is the gateways' and upstream registrations' state.
	Trunks *trunkStats `json:"trunks,omitempty"`
}

func (s *Server) stats(o *observability) serverStats {
	st := serverStats{
		UptimeSeconds: time.Since(o.started).Round(time.Second).Seconds(),
		Mode:          string(s.settings.Load().cfg.Mode),
		Transport:     s.tp.Stats(),
	}
	for _, l := range s.tp.Listeners() {
		st.Listeners = append(st.Listeners, string(l.Proto)+":"+l.Bound.String())
	}
	st.Registrations.Bindings, st.Registrations.AORs = s.store.Count()
	if s.txs != nil {
		ts := s.txs.Stats()
		st.Transactions = &ts
	}
	if a := s.authn.Load(); a != nil {
		as := a.Stats()
		st.Auth = &as
	}
	if cert, ok := s.tp.Certificate(); ok {
		st.TLS = &cert
	}
	if o.hep != nil {
		sent, failed := o.hep.Stats()
		st.HEP = &struct {
			Sent   uint64 `json:"sent"`
			Failed uint64 `json:"failed"`
		}{sent, failed}
	}
	st.Trunks = s.trunkStats()
	return st
}

// userLister lists subscribers as user@domain, or nil without a
// subscriber database.
func (s *Server) userLister() admin.UserLister {
	if s.storage == nil || s.storage.users == nil {
		return nil
	}
	return subscriberUsers{s.storage.users}
}

type subscriberUsers struct{ db *subscriber.SQL }

func (u subscriberUsers) ListUsers(ctx context.Context) ([]string, error) {
	subs, err := u.db.List(ctx, "")
	if err != nil {
		return nil, err
	}
	out := make([]string, len(subs))
	for i, sub := range subs {
		out[i] = sub.User + "@" + sub.Domain
	}
	return out, nil
}

// stageStats turns the proxy's stage counters into what /metrics shows.
// relayStats converts the transport's relay histograms for /metrics.
func (s *Server) relayStats() map[string]observe.Histogram {
	st := s.tp.RelayStats()
	out := make(map[string]observe.Histogram, len(st))
	for i, h := range st {
		out[transport.RelayKinds[i]] = histogram(h)
	}
	return out
}

func histogram(h transport.RelayHistogram) observe.Histogram {
	o := observe.Histogram{Count: h.Count, Sum: h.Sum.Seconds(), Buckets: make(map[float64]uint64, len(h.Buckets))}
	for i, n := range h.Buckets {
		o.Buckets[transport.RelayBuckets[i].Seconds()] = n
	}
	return o
}

func (s *Server) stageStats() []observe.StageStats {
	in := s.proxy.StageStats()
	out := make([]observe.StageStats, len(in))
	for i, st := range in {
		o := observe.StageStats{Name: st.Name, Count: st.Count, Sum: st.Sum.Seconds(),
			Outcomes: make(map[string]uint64, len(st.Outcomes)), Buckets: make(map[float64]uint64, len(st.Buckets))}
		for k, n := range st.Outcomes {
			o.Outcomes[proxy.Outcome(k).String()] = n
		}
		for b, n := range st.Buckets {
			o.Buckets[proxy.StageBuckets[b].Seconds()] = n
		}
		out[i] = o
	}
	return out
}
