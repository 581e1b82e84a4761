package transport

import (
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"runtime"
	"time"

	"github.com/parley-sip/parley/clock"
	"github.com/parley-sip/parley/sip"
)

// ListenerConfig is one socket to listen on.
type ListenerConfig struct {
	// Proto is UDP, TCP or TLS.
	Proto Proto
	// Host is an IP address, or a name resolved once at Start. "0.0.0.0"
	// binds every IPv4 address and "::" every IPv6 address; the two are
	// separate sockets (IPv6 sockets are v6-only), so a dual-stack server
	// lists both.
	Host string
	// Port is the port to bind; 0 lets the kernel choose (tests).
	Port int
	// Advertise is "host[:port]" to put in Via and Record-Route instead of
	// the bound address, for a server behind NAT or a load balancer. The
	// port defaults to the bound one. IPv6 hosts are written in brackets.
	Advertise string
}

// ClientAuth is how a TLS listener treats client certificates.
type ClientAuth string

// Client-auth policies: none asks for no certificate; request asks for one
// and verifies it when given; require refuses peers without a valid one.
const (
	ClientAuthNone    ClientAuth = "none"
	ClientAuthRequest ClientAuth = "request"
	ClientAuthRequire ClientAuth = "require"
)

// Config configures a Manager. The zero value of every field but
// Listeners means its default, so the config package can pass through
// only what it knows about.
type Config struct {
	// Listeners are the sockets Start binds.
	Listeners []ListenerConfig
	// Bound, when set, runs in Start once every listener is bound and
	// before any is served: what only the one process holding these
	// addresses may do (a second server started on them by mistake
	// fails to bind first). An error closes the listeners and is
	// Start's.
	Bound func() error

	// TCPIdleTimeout closes a TCP/TLS connection that has received nothing
	// for this long (default 10 min). Every read, CRLF keep-alives
	// included, restarts it, so a phone that pings keeps its connection.
	TCPIdleTimeout time.Duration
	// TCPMessageTimeout bounds how long one message may take to arrive
	// once its first byte has (default 32 s, 64*T1): a peer that trickles
	// a header a byte at a time is cut off even below MaxBuffer.
	TCPMessageTimeout time.Duration
	// TCPWriteTimeout bounds one write to a connection (default 10 s), so
	// a peer that stops reading cannot block a sender forever.
	TCPWriteTimeout time.Duration
	// MaxConnections bounds open TCP/TLS/WS/WSS connections, accepted and dialed
	// (default 10000). Accepts past it are closed at once.
	MaxConnections int
	// MaxConnectionsPerIP bounds connections accepted from one source IP
	// (default 100), so that one host cannot take every slot.
	MaxConnectionsPerIP int
	// MaxBuffer is the bytes of an incomplete message a connection may
	// buffer (default 64 KiB); past it the peer is cut off. It should be
	// at least Limits.MaxSize, or larger messages can never arrive.
	MaxBuffer int
	// DialTimeout bounds opening a connection for Send, TLS handshake
	// included (default 2 s).
	DialTimeout time.Duration

	// TLSCertFile and TLSKeyFile are PEM files for TLS listeners, re-read
	// when they change on disk. When both are empty and TLS is used, a
	// self-signed certificate is generated into DataDir.
	TLSCertFile, TLSKeyFile string
	// TLSNames are names the self-signed certificate must carry besides
	// the listeners' own: the domains the server is responsible for.
	// A certificate generated before without one of them is replaced.
	TLSNames []string
	// ClientAuth is the client-certificate policy (default none).
	ClientAuth ClientAuth
	// ClientCAFile is a PEM bundle of CAs that client certificates must
	// chain to; empty means the system roots.
	ClientCAFile string
	// TLSRootCAs verifies servers this manager connects to; nil means the
	// system roots.
	TLSRootCAs *x509.CertPool
	// TLSInsecureSkipVerify turns off server certificate checks on
	// outgoing TLS connections. For tests only.
	TLSInsecureSkipVerify bool
	// TLSHandshakeTimeout bounds an incoming TLS handshake (default 10 s),
	// so half-open handshakes do not pile up.
	TLSHandshakeTimeout time.Duration
	// DataDir holds the generated self-signed certificate (tls.crt,
	// tls.key), reused on the next start. Empty keeps it in memory only.
	DataDir string

	// WSAllowedOrigins are the web origins ("https://app.example.com")
	// whose pages may open WebSocket connections; empty allows any. A
	// request without an Origin header (a phone, not a browser) passes:
	// the check guards against other sites' pages, which browsers always
	// name.
	WSAllowedOrigins []string
	// WSPingInterval is how often a WebSocket connection is pinged
	// (default 30 s). A connection that has received nothing, not even a
	// pong, for two intervals is closed: a browser tab answers pings by
	// itself, so a live one keeps its connection without SIP traffic.
	WSPingInterval time.Duration
	// WSHandshakeTimeout bounds the TLS handshake and the HTTP upgrade
	// request of an incoming WebSocket connection (default 10 s).
	WSHandshakeTimeout time.Duration
	// WSMaxRequestBytes bounds the HTTP upgrade request's headers
	// (default 16 KiB), cookies included.
	WSMaxRequestBytes int

	// Admit, when set, is asked about the source of every datagram,
	// every accepted connection and every message framed on a stream,
	// before any parsing: false drops the datagram or message, or closes
	// the connection at once. It is where per-source rate limits and bans
	// apply, so that a flood costs a lookup and nothing more. It is called
	// from every reading goroutine at once.
	Admit func(src netip.Addr) bool

	// Limits bound each message parsed (default sip.DefaultLimits).
	Limits sip.Limits
	// UDPSockets is the number of SO_REUSEPORT sockets per UDP listener
	// (default runtime.NumCPU()).
	UDPSockets int
	// UDPReaders is the number of goroutines reading each UDP socket
	// (default DefaultUDPReaders). SO_REUSEPORT hashes by the peer's
	// address, so everything one peer sends (an edge proxy, a trunk, a
	// load balancer) reaches one socket; with one reader, that peer
	// could use one core at most. The readers take turns at the socket
	// and handle what they read in parallel, so two datagrams of a peer
	// may be handled out of arrival order, as UDP may deliver them.
	UDPReaders int
	// UDPReadBuffer is SO_RCVBUF per UDP socket (default 4 MiB), so a
	// burst waits in the kernel instead of being dropped. Linux caps it
	// at net.core.rmem_max unless the process may use SO_RCVBUFFORCE.
	UDPReadBuffer int

	// Logger receives the transport's logs (default slog.Default()).
	Logger *slog.Logger
	// Clock times the STUN keepalives of UDP flows (LastKeepAlive);
	// nil is the process's timing wheel. Tests use a fake.
	Clock clock.Clock
}

// Defaults for the Config fields left zero.
const (
	DefaultTCPIdleTimeout      = 10 * time.Minute
	DefaultTCPMessageTimeout   = 32 * time.Second
	DefaultTCPWriteTimeout     = 10 * time.Second
	DefaultMaxConnections      = 10000
	DefaultMaxConnectionsPerIP = 100
	DefaultMaxBuffer           = 64 << 10
	DefaultDialTimeout         = 2 * time.Second
	DefaultTLSHandshakeTimeout = 10 * time.Second
	DefaultUDPReadBuffer       = 4 << 20
	DefaultUDPReaders          = 2
	DefaultWSPingInterval      = 30 * time.Second
	DefaultWSHandshakeTimeout  = 10 * time.Second
	DefaultWSMaxRequestBytes   = 16 << 10
)

// withDefaults returns cfg with every zero field set to its default.
func (cfg Config) withDefaults() Config {
	setDur(&cfg.TCPIdleTimeout, DefaultTCPIdleTimeout)
	setDur(&cfg.TCPMessageTimeout, DefaultTCPMessageTimeout)
	setDur(&cfg.TCPWriteTimeout, DefaultTCPWriteTimeout)
	setDur(&cfg.DialTimeout, DefaultDialTimeout)
	setDur(&cfg.TLSHandshakeTimeout, DefaultTLSHandshakeTimeout)
	setInt(&cfg.MaxConnections, DefaultMaxConnections)
	setInt(&cfg.MaxConnectionsPerIP, DefaultMaxConnectionsPerIP)
	setInt(&cfg.MaxBuffer, DefaultMaxBuffer)
	setInt(&cfg.UDPSockets, runtime.NumCPU())
	setInt(&cfg.UDPReaders, DefaultUDPReaders)
	setInt(&cfg.UDPReadBuffer, DefaultUDPReadBuffer)
	setDur(&cfg.WSPingInterval, DefaultWSPingInterval)
	setDur(&cfg.WSHandshakeTimeout, DefaultWSHandshakeTimeout)
	setInt(&cfg.WSMaxRequestBytes, DefaultWSMaxRequestBytes)
	if cfg.Limits == (sip.Limits{}) {
		cfg.Limits = sip.DefaultLimits
	}
	if cfg.ClientAuth == "" {
		cfg.ClientAuth = ClientAuthNone
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Default()
	}
	return cfg
}

func setDur(d *time.Duration, def time.Duration) {
	if *d <= 0 {
		*d = def
	}
}

func setInt(n *int, def int) {
	if *n <= 0 {
		*n = def
	}
}

// validate reports a config that cannot work, before any socket is bound.
func (cfg *Config) validate() error {
	if len(cfg.Listeners) == 0 {
		return errors.New("transport: no listeners")
	}
	for i, l := range cfg.Listeners {
		if !l.Proto.Known() {
			return fmt.Errorf("transport: listener %d: unknown protocol %q", i, l.Proto)
		}
		if l.Port < 0 || l.Port > 65535 {
			return fmt.Errorf("transport: listener %d: port %d out of range", i, l.Port)
		}
		if l.Advertise != "" {
			if _, _, err := splitAdvertise(l.Advertise, l.Port); err != nil {
				return fmt.Errorf("transport: listener %d: advertise %q: %w", i, l.Advertise, err)
			}
		}
	}
	switch cfg.ClientAuth {
	case ClientAuthNone, ClientAuthRequest, ClientAuthRequire:
	default:
		return fmt.Errorf("transport: client auth %q: must be none, request or require", cfg.ClientAuth)
	}
	if (cfg.TLSCertFile == "") != (cfg.TLSKeyFile == "") {
		return errors.New("transport: TLS certificate and key files must be given together")
	}
	for _, o := range cfg.WSAllowedOrigins {
		if _, err := NormalizeOrigin(o); err != nil {
			return fmt.Errorf("transport: allowed origin %q: %w", o, err)
		}
	}
	return nil
}

// needsCert reports whether a listener's protocol is secure, and so
// needs the server certificate.
func (cfg *Config) needsCert() bool {
	for _, l := range cfg.Listeners {
		if l.Proto.Secure() {
			return true
		}
	}
	return false
}
