// Package server wires Parley together from a config: transports, the
// transaction layer, the proxy core with its registrar and location
// store. It owns start, reload and graceful shutdown.
package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/parley-sip/parley/auth"
	"github.com/parley-sip/parley/b2bua"
	"github.com/parley-sip/parley/calllimit"
	"github.com/parley-sip/parley/cluster"
	"github.com/parley-sip/parley/config"
	"github.com/parley-sip/parley/eventlog"
	"github.com/parley-sip/parley/guard"
	"github.com/parley-sip/parley/location"
	"github.com/parley-sip/parley/memlimit"
	"github.com/parley-sip/parley/outbound"
	"github.com/parley-sip/parley/proxy"
	"github.com/parley-sip/parley/registrar"
	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transaction"
	"github.com/parley-sip/parley/transport"
)

// Server is one running Parley.
type Server struct {
	log    *slog.Logger
	events *slog.Logger // SIP events: the log, within a budget per kind of line
	level  *slog.LevelVar

	settings atomic.Pointer[settings] // what SIGHUP may change
	draining atomic.Bool

	reloadMu    sync.Mutex // serialises reloads
	reloadState atomic.Pointer[ReloadState]
	authn       atomic.Pointer[auth.Authenticator] // nil while auth is off
	lastAuth    *auth.Authenticator                // the last one built, which the next continues

	tp    *transport.Manager
	txs   *transaction.Layer
	proxy *proxy.Proxy
	out   *outbound.Service // sends what the proxy relays and what Parley originates
	store location.Store
	// reg answers REGISTERs; regWatchers hear of every binding change
	// (see watchRegistrations).
	reg         *registrar.Registrar
	regWatchers []func(registrar.Change)
	storage     *storage
	obs         *observability                    // nil when admin, HEP and call records are off
	pressure    atomic.Pointer[memlimit.Pressure] // the live heap against the memory limit; nil until started
	records     *records                          // nil when cdr.enabled is off
	b2b         *b2bua.B2BUA                      // nil unless mode: b2bua
	guard       *guard.Guard                      // per-source rate limits, bans, scanner filter
	trunks      *trunks                           // gateways, upstream registrations, dial plan; nil without any
	secret      string                            // salts the To tags of local responses
	b2bLimits   *calllimit.Limiter
	stop        context.CancelFunc
	bg          sync.WaitGroup // the expiry sweep and the ban watch
	// endLife ends the lifetime every request's context derives from:
	// a store query or DNS lookup still running at shutdown gives up.
	endLife context.CancelFunc
	// msgs keeps MESSAGEs for offline users (server/messages.go).
	msgs *offlineMessages
	// watchers is who may watch whom (server/watchers.go).
	watchers *watcherLists

	presence *presenceServer // nil when presence.enabled is off

	// cluster is the heartbeat, call snapshots and takeover of a
	// cluster node; nil without cluster.node.
	cluster *clusterNode

	// packages are the event packages beside presence (busy lamps, reg,
	// message-summary); nil until wired with the notifier.
	packages *presencePackages
}

// settings is the part of the config a reload swaps in at once.
type settings struct {
	cfg    *config.Config
	served *served
	names  map[string]bool // the server's own names: aliases and the host name
	trace  bool
}

func newSettings(cfg *config.Config) *settings {
	s := &settings{cfg: cfg, served: newServed(cfg), names: map[string]bool{}, trace: cfg.Trace}
	for _, a := range cfg.Aliases {
		s.names[strings.ToLower(sip.TrimBrackets(a))] = true
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		s.names[strings.ToLower(h)] = true
	}
	return s
}

// New builds a server from cfg. level, when not nil, is set from the
// config's log level now and on every reload.
func New(cfg *config.Config, log *slog.Logger, level *slog.LevelVar) (*Server, error) {
	if log == nil {
		log = slog.Default()
	}
	if level == nil {
		level = new(slog.LevelVar)
	}
	s := &Server{log: log, events: eventlog.Limit(log, 0, 0), level: level}
	s.apply(cfg)
	s.reloadState.Store(&ReloadState{LoadedAt: time.Now(), PendingRestart: []string{}})
	st, err := openStorage(cfg, log, s.events)
	if err != nil {
		return nil, err
	}
	s.storage = st
	s.store = st.bindings
	grus, tokens, err := outboundKeys(cfg)
	if err != nil {
		st.Close()
		return nil, err
	}
	reg := &registrar.Registrar{
		Store:     s.store,
		Serves:    s.isOurDomain,
		PolicyFor: s.policyFor,
		Logger:    s.events,
		GRUU:      grus,
	}
	if cfg.Cluster.Enabled() {
		reg.NodePath = cluster.New(cfg.Cluster.Node, cfg.Cluster.Address, tokens).Path
		log.Info("cluster node", "node", cfg.Cluster.Node, "address", cfg.Cluster.Address)
	}
	if s.cluster, err = openCluster(cfg, s.events); err != nil { // a line per call in an outage: within the events budget
		st.Close()
		return nil, err
	}
	s.guard = newGuard(cfg, log, s.events)
	tc := s.guardTransport(transportConfig(cfg, log))
	tc.Bound = s.recoverJournal
	tp, err := transport.New(tc, transport.HandlerFunc(s.handle))
	if err != nil {
		st.Close()
		if errors.Is(err, transport.ErrCertificate) {
			// Name the keys: the file passed check-config, its paths did not.
			err = fmt.Errorf("tls.cert_file %s, tls.key_file %s: %w", cfg.TLS.CertFile, cfg.TLS.KeyFile, err)
		}
		return nil, err
	}
	s.tp = tp
	traced := &tracingTransport{Manager: tp, s: s}
	var txs outbound.Transactions
	if cfg.Mode != config.ModeStateless {
		tc := transactionConfig(cfg, log)
		tc.MemoryFull = s.memoryFull
		s.txs = transaction.New(tc, traced, coreAdapter{s})
		txs = outbound.FromLayer(s.txs)
	}
	a, pol, err := s.newAuth(cfg)
	if err != nil {
		st.Close()
		return nil, err
	}
	s.authn.Store(a)
	s.out = outbound.New(outbound.Config{Transport: traced, Transactions: txs, Log: s.events})
	if s.trunks, err = s.newTrunks(cfg); err != nil {
		st.Close()
		return nil, err
	}
	pcfg := s.proxyConfig(cfg, a, pol)
	pcfg.Outbound = s.out
	pcfg.GRUU = grus
	pcfg.FlowTokens = tokens
	if pcfg.Stages, err = s.addFeatureStages(cfg, &pcfg); err != nil {
		s.abandon()
		return nil, err
	}
	pcfg.Lifetime, s.endLife = context.WithCancel(context.Background())
	if pcfg.Stages, err = s.newB2BUA(cfg, traced, pcfg.Lifetime, s.trunks.router(cfg), pcfg.Stages); err != nil {
		st.Close()
		return nil, err
	}
	s.secret = pcfg.Secret
	if st.cached != nil {
		pcfg.Users = st.cached
	}
	if cfg.Storage.LocationEngine() != config.EngineMemory {
		// Enough in flight to fill a group commit, or to keep Redis's
		// round trips from holding up the transport's readers.
		pcfg.RegisterWorkers = 512
	}
	s.proxy = proxy.New(pcfg, traced, txs, s.store, reg, log)
	reg.ForUs = s.proxy.IsUs
	s.reg = reg
	s.startMessages()
	s.watchPresence()
	s.watchPresencePackages()
	s.records = s.newRecords(cfg)
	if err := s.newObservability(cfg); err != nil {
		s.closeRecords()
		s.abandon()
		return nil, err
	}
	if s.obs != nil {
		s.registerMessageMetrics(s.obs.obs.Metrics().Registry())
		s.registerClusterMetrics(s.obs.obs.Metrics().Registry())
	}
	return s, nil
}

// addFeatureStages opens what the feature stages keep (watcher lists,
// presence, event packages, offline messages) and places their stages
// in the chain: the dial plan after local, then presence, the event
// packages and offline messages before location.
func (s *Server) addFeatureStages(cfg *config.Config, pcfg *proxy.Config) ([]proxy.Stage, error) {
	stages, err := s.trunks.stages(proxy.DefaultStages())
	if err != nil {
		return nil, err
	}
	if err := s.openWatchers(cfg); err != nil {
		return nil, err
	}
	if s.presence, err = s.newPresence(cfg); err != nil {
		return nil, err
	}
	if s.presence != nil {
		pcfg.AllowEvents = s.presence.n.AllowEvents
		s.watchWatcherLists(s.presence.n.Reauthorize)
	}
	if stages, err = s.presence.addStages(stages); err != nil {
		return nil, err
	}
	if stages, err = s.wirePresencePackages(cfg, stages); err != nil {
		return nil, err
	}
	pcfg.Stages = stages
	if err := s.addMessages(cfg, pcfg); err != nil {
		return nil, err
	}
	return pcfg.Stages, nil
}

// abandon closes what New opened when New fails part way; each close
// is a no-op for what was never opened.
func (s *Server) abandon() {
	s.closeMessages()
	s.packages.close()
	s.presence.close()
	s.closeWatchers()
	s.closeCluster()
	_ = s.storage.Close()
}

func (s *Server) apply(cfg *config.Config) {
	s.settings.Store(newSettings(cfg))
	s.level.Set(cfg.LogLevel.Slog())
}

func (s *Server) isOurDomain(d string) bool {
	return s.settings.Load().served.has(d)
}

// isOurName reports whether host is one of the server's own names beside
// its listen addresses: a configured alias or the machine's host name.
func (s *Server) isOurName(host string) bool {
	return s.settings.Load().names[strings.ToLower(host)]
}

func (s *Server) policyFor(domain string) registrar.Policy {
	r := s.settings.Load().cfg.RegistrarFor(domain)
	return registrar.Policy{
		DefaultExpires: r.DefaultExpires.Duration(),
		MinExpires:     r.MinExpires.Duration(),
		MaxExpires:     r.MaxExpires.Duration(),
		RaiseToMin:     r.BelowMin == config.BelowMinRaise,
		MaxContacts:    r.MaxContacts,
		ReplaceOldest:  r.OverMaxContacts == config.OverMaxReplaceOldest,
		FlowTimer:      r.FlowTimer.Duration(),
	}
}

// Start binds the listeners (SIP, then admin) and starts serving. When a
// listener cannot bind, Start closes everything New opened and says which
// one failed.
func (s *Server) Start() error {
	if err := s.tp.Start(); err != nil {
		s.closeMessages()
		s.closeWatchers()
		_ = s.storage.Close()
		return withListenHint(err)
	}
	if err := s.startObservability(); err != nil {
		_ = s.tp.Close()
		s.stopObservability()
		s.closeMessages()
		s.closeWatchers()
		_ = s.storage.Close()
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	s.bg.Go(func() { _ = location.RunSweeps(ctx, s.store, time.Second, nil, s.expired) })
	s.bg.Go(func() { s.watchBans(ctx) })
	s.startTrunks(ctx)
	s.bg.Go(func() { s.sweepMessages(ctx) })
	s.bg.Go(func() { s.followWatcherLists(ctx) })
	if err := s.presence.start(s); err != nil {
		s.log.Warn("presence: subscriptions not restored; phones subscribe again when their refreshes get 481", "error", err)
	}
	s.startMemoryBound(ctx)
	s.startCluster(ctx)
	s.warnIfOpen()
	s.logStarted()
	s.logRelayPolicy()
	return nil
}

// expired is what the expiry sweep calls with each binding it removes:
// it logs the binding, when info lines are on (a reload may turn them on).
func (s *Server) expired(b location.Binding) {
	if s.events.Enabled(context.Background(), slog.LevelInfo) {
		registrar.LogExpired(s.events, b)
	}
	s.registrationChanged(registrar.Change{Kind: registrar.Expired, AOR: b.AOR, Binding: b})
}

// watchRegistrations makes fn hear of every binding a REGISTER adds,
// refreshes or removes and of every one that expires: how presence,
// the registration event package and offline messages follow phones.
// It is wiring, called from New before the server starts; fn must not
// block (it runs on the REGISTER's goroutine or the expiry sweep's).
func (s *Server) watchRegistrations(fn func(registrar.Change)) {
	s.regWatchers = append(s.regWatchers, fn)
	s.reg.OnChange = s.registrationChanged
}

func (s *Server) registrationChanged(c registrar.Change) {
	for _, fn := range s.regWatchers {
		fn(c)
	}
}

// warnIfOpen says loudly that anyone may register when the server listens
// beyond loopback without authentication. With auth.enabled it says
// nothing: a warning next to `auth="on (MD5)"` would contradict it.
func (s *Server) warnIfOpen() {
	if s.Config().Auth.Enabled {
		return
	}
	for _, l := range s.tp.Listeners() {
		if a := l.Bound.Addr(); !a.IsLoopback() {
			s.log.Warn("registrations are open to anyone: no authentication is configured", "addr", l.Bound.String())
			return
		}
	}
}

// logStarted writes the one line that tells an operator what is
// running: mode, domains, authentication, storage, listeners and admin.
func (s *Server) logStarted() {
	cfg := s.Config()
	domains := strings.Join(cfg.Domains, ",")
	if len(cfg.Domains) == 0 {
		domains = "own names: " + strings.Join(s.settings.Load().served.list(), ",")
	}
	authState := "off"
	if cfg.Auth.Enabled {
		authState = "on (" + strings.Join(cfg.Auth.Algorithms, ",") + ")"
	}
	var listeners []string
	for _, l := range s.tp.Listeners() {
		listeners = append(listeners, string(l.Proto)+":"+l.Bound.String())
	}
	adminAddr := "off"
	if o := s.obs; o != nil && o.admin != nil {
		adminAddr = o.admin.Addr().String()
	}
	s.log.Info("parley started", "mode", string(cfg.Mode), "domains", domains, "auth", authState,
		"storage", StorageName(cfg), "listeners", strings.Join(listeners, " "), "admin", adminAddr)
}

// Listeners returns the bound listeners (ports chosen by the kernel
// included).
func (s *Server) Listeners() []*transport.ListenerInfo { return s.tp.Listeners() }

// Shutdown drains: new requests are refused with 503, transactions in
// flight may finish until ctx ends, then everything closes.
func (s *Server) Shutdown(ctx context.Context) error {
	s.draining.Store(true)
	s.log.Info("draining", "in_flight", s.inFlight())
	if s.b2b != nil {
		s.b2b.Stop() // its records go to the writer closeRecords flushes
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var err error
wait:
	for s.inFlight() > 0 {
		select {
		case <-ctx.Done():
			err = errors.New("shutdown: transactions still in flight at the deadline")
			break wait
		case <-tick.C:
		}
	}
	s.stopTrunks()
	s.presence.close() // before the transport: no NOTIFY left half sent
	cerr := s.tp.Close()
	s.endLife()
	s.stopObservability()
	s.closeRecords()
	if s.stop != nil {
		s.stop()
		s.bg.Wait()
	}
	s.closeCluster()
	s.closeMessages()
	s.closeWatchers()
	_ = s.storage.Close()
	s.packages.close()
	return errors.Join(err, cerr)
}

// secret is a per-process random salt for stateless branches and tags.
func secret() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// handle is the transport handler: it traces, then hands the message to
// the transaction layer, or in stateless mode straight to the proxy.
func (s *Server) handle(in *transport.Incoming) {
	s.tapReceived(in)
	if s.settings.Load().trace {
		s.log.Info("recv", "proto", string(in.Proto), "from", in.Source.String(), "msg", "\n"+string(in.Msg.Bytes()))
	}
	if s.dropScanner(in) {
		in.Release() // nothing keeps what is dropped
		return
	}
	if s.txs != nil {
		s.txs.HandleMessage(in)
		return
	}
	switch {
	case !in.Msg.IsRequest():
		s.proxy.ServeStrayResponse(in)
	case in.Msg.Method() == "ACK":
		s.proxy.ServeACK(in)
	case s.draining.Load():
		s.refuseDraining(nil, in)
		in.Release() // answered statelessly: nothing keeps it
	default:
		s.proxy.ServeRequest(nil, in)
	}
}

func (s *Server) refuseDraining(tx *transaction.ServerTx, in *transport.Incoming) {
	resp := sip.NewResponse(in.Msg, 503, "Shutting Down", sip.LocalToTag(in.Msg, s.secret), "Retry-After", "30")
	if tx != nil {
		_ = tx.Respond(resp)
		return
	}
	_ = s.tp.Send(transport.ResponseTarget(in), resp.Bytes())
}

// tracingTransport logs every message sent when trace is on.
type tracingTransport struct {
	*transport.Manager
	s *Server
}

// Send traces and sends.
func (t *tracingTransport) Send(dst transport.Target, msg []byte) error {
	if t.s.settings.Load().trace {
		t.s.log.Info("send", "proto", string(dst.Proto), "to", dst.Addr.String(), "msg", "\n"+string(msg))
	}
	t.s.tapSent(dst, msg)
	return t.Manager.Send(dst, msg)
}

// ListenerFor exists so tracingTransport satisfies proxy.Transport with
// the embedded manager's method.
func (t *tracingTransport) ListenerFor(p transport.Proto, dst netip.Addr) *transport.ListenerInfo {
	return t.Manager.ListenerFor(p, dst)
}

// withListenHint adds to a SIP listener's bind error what an operator can
// do about it, as the admin listener's error does: a new admin meets the
// taken port 5060 (another SIP server, a softphone on the same machine)
// and the privileged port in their first minute.
func withListenHint(err error) error {
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return fmt.Errorf("%w (another program holds it, often another SIP server or a softphone: stop it, or move Parley with --listen PROTO:HOST:PORT or the listen key)", err)
	case errors.Is(err, syscall.EACCES):
		return fmt.Errorf("%w (ports below 1024 need root or the CAP_NET_BIND_SERVICE capability, which contrib/systemd/parley.service grants; or listen on a higher port with --listen PROTO:HOST:PORT or the listen key)", err)
	}
	return err
}
