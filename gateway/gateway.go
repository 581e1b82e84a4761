// Package gateway holds the gateways calls reach the phone network
// through: their addresses, the Request-URI that reaches a number
// through each, whether each is in service (OPTIONS pings on a clock),
// and which source addresses are a gateway's, so that its calls are
// recognised as a trunk's.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-sip/parley/clock"
	"github.com/parley-sip/parley/dialog"
	"github.com/parley-sip/parley/outbound"
	"github.com/parley-sip/parley/sip"
)

// Config is one gateway, as the config's gateways list gives it.
type Config struct {
	Name string
	// Address is sip:host[:port][;params] or host[:port].
	Address string
	// Transport pins udp, tcp or tls; "" lets RFC 3263 choose.
	Transport string
	// PingInterval is the time between OPTIONS pings; 0 sends none and
	// the gateway is always in service.
	PingInterval time.Duration
	// Sources are more networks its requests come from.
	Sources []netip.Prefix
	// Username and Password are the account's digest credentials, for
	// whoever answers the gateway's challenges (registration, a B2BUA leg).
	Username, Password string
}

// Sender sends a request Parley originates and waits for its final
// response: outbound.Service.Do.
type Sender interface {
	Do(ctx context.Context, req outbound.Request) (*sip.Message, error)
}

// HostResolver finds a host name's address, to recognise a gateway's
// requests by their source: outbound's resolver.
type HostResolver interface {
	ResolveHost(ctx context.Context, host string) (netip.Addr, error)
}

// Options are what a Set needs beside the gateways.
type Options struct {
	Sender   Sender
	Resolver HostResolver
	Clock    clock.Clock
	// FromHost is the host of the pings' From (a served domain).
	FromHost string
	// UserAgent is sent as User-Agent when not empty.
	UserAgent string
	Log       *slog.Logger
}

// Gateway is one gateway and its state.
type Gateway struct {
	cfg   Config
	uri   sip.URI // Address as a URI, transport applied
	up    atomic.Bool
	addr  atomic.Pointer[netip.Addr] // its host's address, for source recognition
	named bool                       // the host is a name, looked up again before each ping
	// unresolved is set once a failed lookup is logged, so that a name
	// that never resolves is logged once, not at every ping.
	unresolved atomic.Bool
	since      atomic.Int64 // unix nanoseconds of the last change of up
	pings      atomic.Uint64
	fails      atomic.Uint64
	seq        atomic.Uint32 // CSeq of the pings
	timer      clock.Timer
}

// Set is every configured gateway. It is safe for concurrent use.
type Set struct {
	opt    Options
	list   []*Gateway
	byName map[string]*Gateway

	mu      sync.Mutex // guards stopped and the timers
	stopped bool
	ctx     context.Context
}

// ParseAddress reads a gateway's address as a URI: a bare host[:port]
// becomes sip:host[:port]; transport, when set, becomes its parameter.
func ParseAddress(address, transport string) (sip.URI, error) {
	s := address
	if !strings.HasPrefix(s, "sip:") && !strings.HasPrefix(s, "sips:") {
		s = "sip:" + s
	}
	u, err := sip.ParseURI(s)
	if err != nil || !u.IsSIP() || u.Host == "" {
		return sip.URI{}, fmt.Errorf("gateway: address %q is not a SIP URI or host[:port]", address)
	}
	u = u.Rebuild()
	u.User, u.Password, u.Headers = "", "", ""
	if transport != "" {
		p := u.Params.Without("transport")
		if p != "" {
			p += ";"
		}
		u.Params = p + sip.Params("transport="+transport)
	}
	return u, nil
}

// New builds the set; an address that does not parse is an error.
func New(cfgs []Config, opt Options) (*Set, error) {
	if opt.Clock == nil {
		opt.Clock = clock.Default()
	}
	if opt.Log == nil {
		opt.Log = slog.Default()
	}
	if opt.FromHost == "" {
		opt.FromHost = "parley.invalid"
	}
	s := &Set{opt: opt, byName: make(map[string]*Gateway, len(cfgs))}
	for _, c := range cfgs {
		u, err := ParseAddress(c.Address, c.Transport)
		if err != nil {
			return nil, err
		}
		g := &Gateway{cfg: c, uri: u}
		g.up.Store(true) // in service until a ping says otherwise
		if a, err := netip.ParseAddr(sip.TrimBrackets(u.Host)); err == nil {
			g.addr.Store(&a)
		} else {
			g.named = true
		}
		s.list = append(s.list, g)
		s.byName[c.Name] = g
	}
	return s, nil
}

// Up reports whether the named gateway is in service.
func (s *Set) Up(name string) bool {
	g := s.byName[name]
	return g != nil && g.up.Load()
}

// URI returns the Request-URI that reaches user (unescaped) through the
// named gateway.
func (s *Set) URI(name, user string) (string, bool) {
	g := s.byName[name]
	if g == nil {
		return "", false
	}
	u := g.uri
	u.User = sip.EscapeUser(user)
	return u.String(), true
}

// Credentials returns the named gateway's digest credentials; ok is
// false for an unknown gateway or one configured without them.
func (s *Set) Credentials(name string) (user, password string, ok bool) {
	g := s.byName[name]
	if g == nil || g.cfg.Username == "" {
		return "", "", false
	}
	return g.cfg.Username, g.cfg.Password, true
}

// Source returns the name of the gateway whose address addr is.
func (s *Set) Source(addr netip.Addr) (string, bool) {
	addr = addr.Unmap()
	for _, g := range s.list {
		if a := g.addr.Load(); a != nil && a.Unmap() == addr {
			return g.cfg.Name, true
		}
		for _, p := range g.cfg.Sources {
			if p.Contains(addr) {
				return g.cfg.Name, true
			}
		}
	}
	return "", false
}

// State is a gateway's state for the admin API and metrics.
type State struct {
	Name    string    `json:"name"`
	Address string    `json:"address"`
	Up      bool      `json:"up"`
	Since   time.Time `json:"since,omitzero"`
	Pings   uint64    `json:"pings"`
	Failed  uint64    `json:"failed_pings"`
}

// States lists every gateway, in config order.
func (s *Set) States() []State {
	out := make([]State, 0, len(s.list))
	for _, g := range s.list {
		st := State{Name: g.cfg.Name, Address: g.uri.String(), Up: g.up.Load(), Pings: g.pings.Load(), Failed: g.fails.Load()}
		if ns := g.since.Load(); ns != 0 {
			st.Since = time.Unix(0, ns).UTC()
		}
		out = append(out, st)
	}
	return out
}

// Start resolves the gateways' names and starts their pings; ctx ends
// them. Each gateway's next ping is timed on the clock from the end of
// the last, so a slow gateway never has two pings in flight.
func (s *Set) Start(ctx context.Context) {
	s.mu.Lock()
	s.ctx = ctx
	s.mu.Unlock()
	for _, g := range s.list {
		go s.resolve(ctx, g)
		if g.cfg.PingInterval > 0 {
			s.schedule(g, 0)
		}
	}
	context.AfterFunc(ctx, s.stop)
}

func (s *Set) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopped = true
	for _, g := range s.list {
		if g.timer != nil {
			g.timer.Stop()
		}
	}
}

// schedule runs g's next ping after d. Pings run on goroutines of their
// own: clock callbacks must not block.
func (s *Set) schedule(g *Gateway, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return
	}
	g.timer = s.opt.Clock.AfterFunc(d, func() {
		go func() {
			s.resolve(s.ctx, g) // a provider may move; its calls must still be known
			s.Ping(s.ctx, g.cfg.Name)
			s.schedule(g, g.cfg.PingInterval)
		}()
	})
}

// resolve learns the address of a gateway named by a host name. A
// failure keeps the address known before, and is logged only while
// none is known.
func (s *Set) resolve(ctx context.Context, g *Gateway) {
	if !g.named || s.opt.Resolver == nil {
		return
	}
	a, err := s.opt.Resolver.ResolveHost(ctx, sip.TrimBrackets(g.uri.Host))
	if err != nil {
		if g.addr.Load() == nil && !g.unresolved.Swap(true) {
			s.opt.Log.Warn("gateway: cannot resolve its host; its calls will not be recognised by source", "gateway", g.cfg.Name, "error", err)
		}
		return
	}
	if g.unresolved.Swap(false) {
		s.opt.Log.Info("gateway: host resolved", "gateway", g.cfg.Name, "addr", a)
	}
	if old := g.addr.Load(); old == nil || *old != a {
		g.addr.Store(&a)
	}
}

// errNoAnswer is a ping's failure when the response was made locally.
var errNoAnswer = errors.New("no answer")

// Ping sends one OPTIONS to the named gateway and records the outcome:
// any response the gateway sends proves it alive (a 404 or 405 too);
// a timeout, a transport error or 503 marks it down. It waits at most
// the ping interval (32 s without one).
func (s *Set) Ping(ctx context.Context, name string) error {
	g := s.byName[name]
	if g == nil {
		return fmt.Errorf("gateway: no gateway %q", name)
	}
	wait := g.cfg.PingInterval
	if wait <= 0 || wait > 32*time.Second {
		wait = 32 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	req, err := s.options(g)
	if err != nil {
		return err
	}
	g.pings.Add(1)
	resp, err := s.opt.Sender.Do(ctx, outbound.Request{Msg: req, Quiet: true}) // the state change is logged once, here
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		// Said in SIP terms: "context deadline exceeded" in the log
		// tells an operator nothing about what the gateway failed to do.
		err = fmt.Errorf("%w to OPTIONS within %s", errNoAnswer, wait)
	case err == nil && (resp.StatusCode() == 408 || resp.StatusCode() == 503):
		err = fmt.Errorf("%w: %d %s", errNoAnswer, resp.StatusCode(), resp.Reason())
	}
	s.record(g, err)
	return err
}

// record sets g's state, logging once per change.
func (s *Set) record(g *Gateway, err error) {
	if err != nil {
		g.fails.Add(1)
	}
	up := err == nil
	if g.up.Swap(up) == up {
		return
	}
	g.since.Store(s.opt.Clock.Now().UnixNano())
	if up {
		s.opt.Log.Info("gateway: up again, answering pings", "gateway", g.cfg.Name)
		return
	}
	s.opt.Log.Warn("gateway: down, skipped until it answers a ping", "gateway", g.cfg.Name, "error", err)
}

// options builds a ping for g.
func (s *Set) options(g *Gateway) (*sip.Message, error) {
	seq := g.seq.Add(1)
	uri := g.uri.String()
	b := sip.NewRequestBuilder("OPTIONS", uri).
		Header("Max-Forwards", "70").
		Header("From", "<sip:parley@"+s.opt.FromHost+">;tag="+dialog.NewTag()).
		Header("To", "<"+uri+">").
		Header("Call-ID", dialog.NewTag()+"@"+s.opt.FromHost).
		Header("CSeq", strconv.FormatUint(uint64(seq), 10)+" OPTIONS")
	if s.opt.UserAgent != "" {
		b.Header("User-Agent", s.opt.UserAgent)
	}
	return b.Header("Accept", "application/sdp").Message("", nil)
}
