package transport

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
)

// Errors Send and Start return.
var (
	// ErrClosed is returned once the manager is closed.
	ErrClosed = errors.New("transport: closed")
	// ErrNoListener means no listener of the protocol and address family
	// exists to send from (UDP) or to name in Via.
	ErrNoListener = errors.New("transport: no listener for this protocol and address family")
	// ErrNoConnection means a stream target has neither an open
	// connection nor an address to connect to.
	ErrNoConnection = errors.New("transport: no connection and no address")
	// ErrTooManyConnections means MaxConnections is reached.
	ErrTooManyConnections = errors.New("transport: too many connections")
	// ErrCertificate wraps why New could not load the configured
	// certificate files (TLSCertFile, TLSKeyFile).
	ErrCertificate = errors.New("transport: tls certificate")
)

// Manager owns every listener and connection. It implements Sender and
// hands every message it reads to one Handler, on the goroutine that read
// it: one per UDP socket reader and one at a time per connection (see
// the package doc).
type Manager struct {
	cfg       Config
	h         Handler
	log       *slog.Logger
	serverTLS *tls.Config // nil without TLS listeners
	clientTLS *tls.Config
	certs     *certStore // nil without TLS listeners
	tagSalt   string     // keeps the To tags of refusals unpredictable
	origins   atomic.Pointer[originPolicy]

	mu        sync.Mutex // serialises Start and Close
	started   bool
	closed    atomic.Bool
	listeners atomic.Pointer[[]*listener]

	conns      connTable
	keepAlives *keepAlives // STUN keepalives of UDP flows
	wsPings    wsPings     // WebSocket pings
	ids        atomic.Uint64
	wg         sync.WaitGroup
	stats      counters
	relays     relays
}

// New checks cfg and prepares TLS (loading or generating the certificate,
// so that a bad certificate fails here rather than at the first
// handshake). It binds nothing; Start does.
func New(cfg Config, h Handler) (*Manager, error) {
	if h == nil {
		return nil, errors.New("transport: nil handler")
	}
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	m := &Manager{cfg: cfg, h: h, log: cfg.Logger.With("subsystem", "transport"), tagSalt: rand.Text()}
	m.SetAllowedOrigins(cfg.WSAllowedOrigins) // validated above
	m.conns.init()
	m.relays.wall = wallNanos
	m.wsPings.m = m
	m.keepAlives = newKeepAlives(cfg.Clock)
	if cfg.needsCert() {
		var err error
		if m.certs, err = newCertStore(&m.cfg, m.log); err != nil {
			return nil, err
		}
		if m.serverTLS, err = serverTLSConfig(&m.cfg, m.certs); err != nil {
			return nil, err
		}
	}
	m.clientTLS = clientTLSConfig(&m.cfg, m.certs)
	return m, nil
}

// Start binds every listener and starts reading. If any bind fails, the
// ones already bound are closed and the error names the listener, e.g.
// "listen udp 127.0.0.1:5060: address already in use".
func (m *Manager) Start() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed.Load() {
		return ErrClosed
	}
	if m.started {
		return errors.New("transport: already started")
	}
	ls, err := m.bindAll()
	if err != nil {
		return err
	}
	if m.cfg.Bound != nil {
		if err := m.cfg.Bound(); err != nil {
			for _, l := range ls {
				l.close()
			}
			return err
		}
	}
	m.listeners.Store(&ls)
	m.started = true
	for _, l := range ls {
		l.driver.serve(m, l)
		m.log.Info("listening", "proto", l.info.Proto, "bound", l.info.Bound,
			"host", l.info.Host, "port", l.info.Port, "sockets", max(len(l.socks), 1))
	}
	return nil
}

func (m *Manager) bindAll() ([]*listener, error) {
	ctx := context.Background()
	var ls []*listener
	for _, lc := range m.cfg.Listeners {
		l, err := m.bind(ctx, lc)
		if err != nil {
			for _, b := range ls {
				b.close()
			}
			return nil, err
		}
		ls = append(ls, l)
	}
	return ls, nil
}

func (m *Manager) bind(ctx context.Context, lc ListenerConfig) (*listener, error) {
	addr, err := bindAddr(ctx, lc)
	if err != nil {
		return nil, err
	}
	d, _ := Lookup(lc.Proto) // known: validated in New
	l := &listener{driver: d}
	bound, err := d.listen(ctx, m, l, addr)
	if err != nil {
		return nil, bindError(lc.Proto, addr, err)
	}
	l.info = newInfo(lc, bound)
	return l, nil
}

// bindError shortens Go's "listen udp4 127.0.0.1:5060: bind: address
// already in use" to the operator's terms.
func bindError(p Proto, addr netip.AddrPort, err error) error {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return fmt.Errorf("listen %s %s: %w", p, addr, errno)
	}
	return fmt.Errorf("listen %s %s: %w", p, addr, err)
}

func (m *Manager) all() []*listener {
	if p := m.listeners.Load(); p != nil {
		return *p
	}
	return nil
}

// Listeners describes the bound listeners in config order; empty before
// Start. With port 0 in the config, Bound and Port hold the chosen port.
func (m *Manager) Listeners() []*ListenerInfo {
	ls := m.all()
	out := make([]*ListenerInfo, len(ls))
	for i, l := range ls {
		out[i] = l.info
	}
	return out
}

// ListenerFor returns the listener whose address goes into Via when
// sending by p to dst: the first of dst's address family that can reach
// it (a loopback-bound listener cannot reach other hosts), else the first
// of the family, else nil. An invalid dst matches any family.
func (m *Manager) ListenerFor(p Proto, dst netip.Addr) *ListenerInfo {
	if l := pick(m.all(), p, dst); l != nil {
		return l.info
	}
	return nil
}

// Close closes every listener and connection and waits for the reading
// goroutines to return, so no Handler call runs or starts after it. It
// must not be called from a Handler, which Close would wait for.
func (m *Manager) Close() error {
	m.mu.Lock()
	if m.closed.Swap(true) {
		m.mu.Unlock()
		m.wg.Wait()
		return nil
	}
	for _, l := range m.all() {
		l.close()
	}
	m.wsPings.stop()
	m.conns.closeAll()
	m.mu.Unlock()
	m.wg.Wait()
	return nil
}

// Shutdown stops accepting connections and datagrams, closes every
// connection and waits for the reading goroutines, or for ctx to end, in
// which case it returns ctx.Err() and the goroutines finish on their own.
// A graceful stop drains transactions first (they need the transport to
// send their last responses) and calls Shutdown last.
func (m *Manager) Shutdown(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		m.Close()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
