package server

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-sip/parley/config"
	"github.com/parley-sip/parley/subscriber"
)

// reloadServer starts a server on loopback UDP with a SQLite store in a
// fresh data directory, holding the subscriber alice@example.com.
func reloadServer(t *testing.T, edit func(*config.Config)) (*Server, netip.AddrPort, *syncBuffer) {
	t.Helper()
	cfg := config.Default()
	cfg.Listen = []config.Listener{{Proto: config.ProtoUDP, Host: "127.0.0.1", Port: freePort(t)}}
	cfg.Domains = []string{"example.com"}
	cfg.DataDir = t.TempDir()
	cfg.Admin.Listen = ""
	edit(cfg)
	if cfg.Storage.Engine == config.EngineSQLite {
		users, err := subscriber.Open(context.Background(), "sqlite", cfg.DataDir, "")
		if err != nil {
			t.Fatal(err)
		}
		users.Put(context.Background(), subscriber.New("alice", "example.com", "pw"))
		users.Close()
	}
	logs := &syncBuffer{}
	s := startLogging(t, cfg, slog.New(slog.NewTextHandler(logs, nil)))
	return s, s.Listeners()[0].Bound, logs
}

// freePort returns a loopback port free for UDP and TCP a moment ago: a
// reload validates the whole configuration, which refuses port 0.
func freePort(t *testing.T) int {
	t.Helper()
	for range 20 {
		c := listenUDP(t, "127.0.0.1")
		port := c.LocalAddr().(*net.UDPAddr).Port
		c.Close()
		if l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port))); err == nil {
			l.Close()
			return port
		}
	}
	t.Fatal("no port free for both UDP and TCP")
	return 0
}

// syncBuffer is a log the server writes while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// register sends a REGISTER for alice@domain asking for expires and
// returns the status line of the final response.
func register(t *testing.T, srv netip.AddrPort, domain string, expires, seq int) string {
	t.Helper()
	c := listenUDP(t, "127.0.0.1")
	local := c.LocalAddr().String()
	id := "reload-" + strconv.Itoa(seq)
	req := "REGISTER sip:" + domain + " SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP " + local + ";branch=z9hG4bK-" + id + ";rport\r\n" +
		"Max-Forwards: 70\r\nFrom: <sip:alice@" + domain + ">;tag=" + id + "\r\nTo: <sip:alice@" + domain + ">\r\n" +
		"Call-ID: " + id + "\r\nCSeq: " + strconv.Itoa(seq) + " REGISTER\r\n" +
		"Contact: <sip:alice@" + local + ">\r\nExpires: " + strconv.Itoa(expires) + "\r\nContent-Length: 0\r\n\r\n"
	if _, err := c.WriteToUDPAddrPort([]byte(req), srv); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 65536)
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	for {
		n, _, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatalf("no final response to REGISTER: %v", err)
		}
		line, _, _ := strings.Cut(string(buf[:n]), "\r\n")
		if !strings.HasPrefix(line, "SIP/2.0 1") {
			return strings.TrimPrefix(line, "SIP/2.0 ")
		}
	}
}

// TestReloadAppliesLiveKeys: each step edits the running configuration
// and reloads; the next REGISTER is answered as the new one says.
func TestReloadAppliesLiveKeys(t *testing.T) {
	s, srv, _ := reloadServer(t, func(*config.Config) {})
	for i, step := range []struct {
		name    string
		edit    func(*config.Config)
		domain  string
		expires int
		want    string
	}{
		{"as started", func(*config.Config) {}, "example.com", 3600, "200 OK"},
		{"auth.enabled", func(c *config.Config) { c.Auth.Enabled = true }, "example.com", 3600, "401 Unauthorized"},
		{"auth.methods", func(c *config.Config) { c.Auth.Enabled, c.Auth.Methods = true, []string{"INVITE"} }, "example.com", 3600, "200 OK"},
		{"auth_overrides", func(c *config.Config) {
			c.Auth.Enabled, c.Auth.Methods = true, []string{"INVITE"}
			c.AuthOverrides = map[string]config.AuthOverride{"example.com": {Methods: []string{"REGISTER"}}}
		}, "example.com", 3600, "401 Unauthorized"},
		{"auth off", func(*config.Config) {}, "example.com", 3600, "200 OK"},
		{"registrar.min_expires", longMinimum, "example.com", 3600, "423 Interval Too Brief"},
		{"domain_overrides", func(c *config.Config) {
			longMinimum(c)
			c.DomainOverrides = map[string]config.RegistrarOverride{"example.com": {BelowMin: ptr(config.BelowMinRaise)}}
		}, "example.com", 3600, "200 OK"},
		{"domains", func(c *config.Config) { c.Domains = []string{"example.org"} }, "example.org", 3600, "200 OK"},
	} {
		next := config.Default()
		next.Listen, next.DataDir, next.Admin.Listen = s.Config().Listen, s.Config().DataDir, ""
		next.Domains = []string{"example.com"}
		step.edit(next)
		if err := s.Reload(next); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		if got := register(t, srv, step.domain, step.expires, i+1); got != step.want {
			t.Errorf("%s: REGISTER got %q, want %q", step.name, got, step.want)
		}
	}
}

func ptr[T any](v T) *T { return &v }

// longMinimum asks for registrations of more than an hour.
func longMinimum(c *config.Config) {
	c.Registrar.MinExpires, c.Registrar.DefaultExpires = config.Duration(2*time.Hour), config.Duration(3*time.Hour)
}

// TestReloadKeepsRestartKeys: a key that needs a restart keeps its
// running value, is logged by name and listed in ReloadState until the
// file goes back to the running value.
func TestReloadKeepsRestartKeys(t *testing.T) {
	s, _, logs := reloadServer(t, func(*config.Config) {})
	next := *s.Config()
	next.Mode = config.ModeStateless
	next.Transaction.MaxTransactions = 7
	next.LogLevel = config.LogDebug
	if err := s.Reload(&next); err != nil {
		t.Fatal(err)
	}
	if got := s.ReloadState().PendingRestart; !slices.Equal(got, []string{"mode", "transaction.max_transactions"}) {
		t.Errorf("pending %v", got)
	}
	if c := s.Config(); c.Mode != config.ModeStateful || c.Transaction.MaxTransactions == 7 || c.LogLevel != config.LogDebug {
		t.Errorf("running mode %s, max_transactions %d, log_level %s", c.Mode, c.Transaction.MaxTransactions, c.LogLevel)
	}
	for _, key := range []string{"mode", "transaction.max_transactions"} {
		if !strings.Contains(logs.String(), `level=WARN msg="reload: key changed but takes effect only after a restart; keeping the running value" key=`+key) {
			t.Errorf("no warning naming %s in\n%s", key, logs.String())
		}
	}
	back := *s.Config()
	if err := s.Reload(&back); err != nil {
		t.Fatal(err)
	}
	if st := s.ReloadState(); len(st.PendingRestart) != 0 || st.Reloads != 2 {
		t.Errorf("after going back: %+v", st)
	}
}

// TestReloadFailureChangesNothing: a result that does not validate with
// the running values of the restart keys is refused as a whole.
func TestReloadFailureChangesNothing(t *testing.T) {
	s, srv, _ := reloadServer(t, func(c *config.Config) { c.Storage.Engine = config.EngineMemory })
	next := *s.Config()
	next.Storage.Engine = config.EngineSQLite // restart-only: stays memory
	next.Auth.Enabled = true                  // which cannot hold subscribers
	err := s.Reload(&next)
	if err == nil || !strings.Contains(err.Error(), "auth.enabled") {
		t.Fatalf("Reload: %v, want an error naming auth.enabled", err)
	}
	if got := register(t, srv, "example.com", 3600, 1); got != "200 OK" {
		t.Errorf("after the failed reload: %q, want 200 OK (auth still off)", got)
	}
	if st := s.ReloadState(); st.LastError == "" || st.Reloads != 1 {
		t.Errorf("state %+v", st)
	}
}

// TestReloadSwitchesTLSFiles: new tls.cert_file and key_file take effect
// at the next handshake; files that do not load fail the reload and the
// running certificate stays.
func TestReloadSwitchesTLSFiles(t *testing.T) {
	s, _, _ := reloadServer(t, func(c *config.Config) {
		c.Storage.Engine = config.EngineMemory
		c.Listen = append(c.Listen, config.Listener{Proto: config.ProtoTLS, Host: "127.0.0.1", Port: freePort(t)})
	})
	var tlsAddr string
	for _, l := range s.Listeners() {
		if l.Proto == "tls" {
			tlsAddr = l.Bound.String()
		}
	}
	served := func() []byte {
		c, err := tls.Dial("tcp", tlsAddr, &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].Raw
	}
	selfSigned := served()
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	want := writeCertPair(t, certFile, keyFile)

	next := *s.Config()
	next.TLS.CertFile, next.TLS.KeyFile = certFile, keyFile
	if err := s.Reload(&next); err != nil {
		t.Fatal(err)
	}
	if got := served(); !bytes.Equal(got, want) || bytes.Equal(got, selfSigned) {
		t.Error("not serving the reloaded certificate files")
	}
	broken := next
	broken.TLS.CertFile = filepath.Join(dir, "missing.pem")
	if err := s.Reload(&broken); err == nil || !strings.Contains(err.Error(), "tls.cert_file") {
		t.Errorf("reload with a missing certificate: %v, want an error naming tls.cert_file", err)
	}
	if !bytes.Equal(served(), want) || s.Config().TLS.CertFile != certFile {
		t.Error("a failed reload changed the certificate")
	}
}

// writeCertPair writes a self-signed certificate for 127.0.0.1 and its
// key as PEM, and returns the certificate's DER.
func writeCertPair(t *testing.T, certFile, keyFile string) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "reload test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600)
	return der
}
