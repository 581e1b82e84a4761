// Package admin serves Parley's admin HTTP listener: health checks,
// Prometheus metrics, a JSON API over registrations, users, calls and
// captured messages, a live event stream, pprof, and the web console that
// shows it all, embedded in the binary.
//
// The listener holds personal data (who is registered from where, who
// calls whom) and can remove registrations, so everything but the health
// checks and the console's static files requires the configured bearer
// token. Without a token (allowed only on loopback) requests must name a
// loopback host, which stops a web page from reaching the API through DNS
// rebinding.
package admin

import (
	"context"
	"crypto/subtle"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"sync"
	"time"

	"github.com/parley-sip/parley/cdr"
	"github.com/parley-sip/parley/location"
	offlinemsg "github.com/parley-sip/parley/message"
	"github.com/parley-sip/parley/observe"
	"github.com/parley-sip/parley/presence/watchers"
)

// UserLister lists the users (subscribers) an operator can look up. The
// subscriber store implements it; nil lists nobody.
type UserLister interface {
	ListUsers(ctx context.Context) ([]string, error)
}

// Config is what the admin server shows and how it is reached.
type Config struct {
	// Listen is HOST:PORT to bind; port 0 picks a free one (see Addr).
	Listen string
	// Token, when set, is required as "Authorization: Bearer TOKEN".
	Token string
	// Observer supplies metrics, calls, captured messages and live events.
	Observer *observe.Observer
	// Store is the location store whose bindings the API lists and removes.
	Store location.Store
	// CDRs is the call detail records' store for /api/cdrs; nil lists
	// none.
	CDRs cdr.Store
	// Users lists subscribers; nil lists none.
	Users UserLister
	// Messages is the store of MESSAGEs waiting for offline users
	// (/api/messages); nil lists none.
	Messages offlinemsg.Store
	// Watchers is the watcher lists (/api/watchers); nil has none.
	Watchers watchers.Store
	// PendingWatchers returns the subscriptions to a user left pending
	// (/api/watchers/pending); nil lists none.
	PendingWatchers func(user string) []watchers.Request
	// Ready reports whether the server can take traffic (/readyz); nil
	// means always.
	Ready func(ctx context.Context) error
	// Stats returns the server's counters for /api/stats, JSON-encoded
	// as they are; nil shows only the capture's.
	Stats func() any
	// Reload returns the configuration's reload state for /api/config
	// (when it was loaded, which keys wait for a restart), JSON-encoded
	// as it is; nil answers 404.
	Reload func() any
	// Calls, when set, controls the calls a B2BUA holds
	// (/api/b2bua/calls); nil answers 404 there.
	Calls CallControl
	// Cluster, when set, returns the cluster's nodes and calls for
	// /api/cluster, JSON-encoded as it is; nil answers 404 there.
	Cluster func(ctx context.Context) (any, error)
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Now defaults to time.Now.
	Now func() time.Time
}

// maxStreams bounds open /api/stream connections, each a goroutine and an
// event buffer.
const maxStreams = 32

// Server is the admin HTTP server.
type Server struct {
	cfg     Config
	handler http.Handler
	srv     *http.Server
	ln      net.Listener

	ctx     context.Context // ends the event streams at Shutdown
	cancel  context.CancelFunc
	streams chan struct{} // one token per open stream
	once    sync.Once
}

// New builds the server; Start binds it.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Server{cfg: cfg, streams: make(chan struct{}, maxStreams)}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.handler = s.routes()
	return s
}

// Handler returns the server's routes, for tests and for mounting
// elsewhere.
func (s *Server) Handler() http.Handler { return s.handler }

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("/", consoleHandler())

	api := http.NewServeMux()
	if s.cfg.Observer != nil {
		api.Handle("GET /metrics", s.cfg.Observer.Metrics().Handler())
	}
	api.HandleFunc("GET /api/registrations", s.listRegistrations)
	api.HandleFunc("DELETE /api/registrations", s.removeRegistration)
	api.HandleFunc("GET /api/users", s.listUsers)
	api.HandleFunc("GET /api/calls", s.listCalls)
	api.HandleFunc("GET /api/cdrs", s.listCDRs)
	api.HandleFunc("GET /api/calls/{callid}/messages", s.callMessages)
	api.HandleFunc("GET /api/messages", s.listMessages)
	api.HandleFunc("GET /api/watchers", s.listWatchers)
	api.HandleFunc("GET /api/watchers/pending", s.pendingWatchers)
	api.HandleFunc("PUT /api/watchers", s.putWatcher)
	api.HandleFunc("DELETE /api/watchers", s.removeWatcher)
	api.HandleFunc("GET /api/b2bua/calls", s.listB2BUACalls)
	api.HandleFunc("DELETE /api/b2bua/calls/{id}", s.hangupB2BUACall)
	api.HandleFunc("GET /api/stats", s.stats)
	api.HandleFunc("GET /api/cluster", s.cluster)
	api.HandleFunc("GET /api/config", s.config)
	api.HandleFunc("GET /api/stream", s.stream)
	api.HandleFunc("/debug/pprof/", pprof.Index)
	api.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	api.HandleFunc("/debug/pprof/profile", pprof.Profile)
	api.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	api.HandleFunc("/debug/pprof/trace", pprof.Trace)
	guarded := s.authorize(api)
	for _, p := range []string{"/metrics", "/api/", "/debug/pprof/"} {
		mux.Handle(p, guarded)
	}
	return securityHeaders(mux)
}

// authorize checks the bearer token, or without one that the request
// names a loopback host.
func (s *Server) authorize(next http.Handler) http.Handler {
	want := []byte("Bearer " + s.cfg.Token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.cfg.Token != "" {
			if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="parley"`)
				httpError(w, http.StatusUnauthorized, "a bearer token is required")
				return
			}
		} else if !loopbackHost(r.Host) {
			httpError(w, http.StatusForbidden, "without admin.token the API answers only requests to a loopback host")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// loopbackHost reports whether a Host header names this machine.
func loopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// securityHeaders keeps the console's pages from being framed or running
// anything but its own script: SIP headers are attacker-chosen text, and
// the console shows them.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		csp := "default-src 'self'; frame-ancestors 'none'"
		if r.URL.Path == "/phone.html" {
			// The web phone talks SIP to a ws or wss listener, another
			// origin than this one.
			csp += "; connect-src 'self' wss: ws:"
		}
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		next.ServeHTTP(w, r)
	})
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte("ok\n"))
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if s.cfg.Ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := s.cfg.Ready(ctx); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte("not ready: " + err.Error() + "\n"))
			return
		}
	}
	w.Write([]byte("ready\n"))
}

// Start binds the listener and serves in the background.
func (s *Server) Start() error {
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return err
	}
	s.ln = ln
	s.srv = &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		BaseContext:       func(net.Listener) context.Context { return s.ctx },
		ErrorLog:          slog.NewLogLogger(s.cfg.Logger.Handler(), slog.LevelDebug),
	}
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.cfg.Logger.Error("admin: serve failed", "error", err)
		}
	}()
	s.cfg.Logger.Info("admin listening", "addr", ln.Addr().String(), "token", s.cfg.Token != "")
	return nil
}

// Addr returns the bound address, or nil before Start.
func (s *Server) Addr() net.Addr {
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Shutdown ends the event streams, then stops the server gracefully
// until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	s.once.Do(s.cancel)
	if s.srv == nil {
		return nil
	}
	return s.srv.Shutdown(ctx)
}
