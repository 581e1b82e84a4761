package transport

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func tlsConfig(f family, dataDir string) Config {
	return Config{Listeners: []ListenerConfig{{Proto: TLS, Host: f.host}}, DataDir: dataDir}
}

func dialTLS(t testing.TB, f family, m *Manager, cfg *tls.Config) *tls.Conn {
	t.Helper()
	d := &net.Dialer{Timeout: wait}
	c, err := tls.DialWithDialer(d, f.tcp, m.Listeners()[0].Bound.String(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func poolFromFile(t testing.TB, path string) *x509.CertPool {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(b) {
		t.Fatal("no certificate in " + path)
	}
	return p
}

// With no certificate configured, one is generated into the data
// directory, verifies for the loopback addresses, serves SIP over TLS,
// and is reused by the next start.
func TestTLSSelfSigned(t *testing.T) {
	forFamilies(t, func(t *testing.T, f family) {
		dir := filepath.Join(t.TempDir(), "data")
		m, _ := startAnswering(t, tlsConfig(f, dir))
		certPath := filepath.Join(dir, "tls.crt")
		keyInfo, err := os.Stat(filepath.Join(dir, "tls.key"))
		if err != nil || keyInfo.Mode().Perm() != 0o600 {
			t.Fatalf("key file: %v %v", keyInfo, err)
		}
		pool := poolFromFile(t, certPath)
		for _, cc := range []*tls.Config{
			{RootCAs: pool, ServerName: f.host},
			{RootCAs: pool, ServerName: "localhost"},
			{InsecureSkipVerify: true},
		} {
			c := dialTLS(t, f, m, cc)
			if v := c.ConnectionState().Version; v < tls.VersionTLS12 {
				t.Errorf("TLS version %x", v)
			}
			c.Write(request(TLS, "192.0.2.9", ""))
			if r := readMessage(t, c); r.StatusCode() != 200 {
				t.Fatalf("status %d", r.StatusCode())
			}
		}
		first, _ := os.ReadFile(certPath)
		m.Close()
		m2, _ := startAnswering(t, tlsConfig(f, dir))
		again, _ := os.ReadFile(certPath)
		if !bytes.Equal(first, again) {
			t.Error("certificate regenerated on the second start")
		}
		c := dialTLS(t, f, m2, &tls.Config{RootCAs: pool, ServerName: f.host})
		c.Write(request(TLS, "192.0.2.9", ""))
		readMessage(t, c)
	})
}

// writePair writes a fresh certificate and key to the given paths.
func writePair(t testing.TB, certPath, keyPath string, hosts ...string) *x509.Certificate {
	t.Helper()
	cert, err := generateCert(hosts)
	if err != nil {
		t.Fatal(err)
	}
	if err := writeCert(filepath.Dir(certPath), certPath, keyPath, cert); err != nil {
		t.Fatal(err)
	}
	return cert.Leaf
}

// A certificate from files is served, and replaced at the next handshake
// when the files change; a broken replacement keeps the last good one.
func TestTLSCertFilesReload(t *testing.T) {
	dir := t.TempDir()
	certPath, keyPath := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	first := writePair(t, certPath, keyPath, "127.0.0.1")
	cfg := tlsConfig(families[0], "")
	cfg.TLSCertFile, cfg.TLSKeyFile = certPath, keyPath
	m, _ := startAnswering(t, cfg)
	served := func() *x509.Certificate {
		c := dialTLS(t, families[0], m, &tls.Config{InsecureSkipVerify: true})
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0]
	}
	if !served().Equal(first) {
		t.Fatal("not serving the configured certificate")
	}
	second := writePair(t, certPath, keyPath, "127.0.0.1")
	future := time.Now().Add(time.Minute) // a changed mtime even on coarse clocks
	os.Chtimes(certPath, future, future)
	os.Chtimes(keyPath, future, future)
	if !served().Equal(second) {
		t.Fatal("certificate not reloaded after the files changed")
	}
	os.WriteFile(certPath, []byte("not a certificate"), 0o644)
	if !served().Equal(second) {
		t.Fatal("a broken certificate file replaced the good one")
	}
}

// UseTLSFiles switches to other files for the next handshake, refuses a
// broken pair while serving the running one, and goes back to the
// self-signed certificate with both names empty.
func TestUseTLSFiles(t *testing.T) {
	dir := t.TempDir()
	cfg := tlsConfig(families[0], filepath.Join(dir, "data"))
	m, _ := startAnswering(t, cfg)
	served := func() *x509.Certificate {
		c := dialTLS(t, families[0], m, &tls.Config{InsecureSkipVerify: true})
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0]
	}
	selfSigned := served()
	certPath, keyPath := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	real := writePair(t, certPath, keyPath, "127.0.0.1")
	steps := []struct {
		name, cert, key string
		wantErr         bool
		want            *x509.Certificate
	}{
		{"to files", certPath, keyPath, false, real},
		{"missing files", filepath.Join(dir, "nope.pem"), keyPath, true, real},
		{"only a cert", certPath, "", true, real},
		{"back to self-signed", "", "", false, selfSigned},
	}
	for _, st := range steps {
		err := m.UseTLSFiles(st.cert, st.key)
		if (err != nil) != st.wantErr {
			t.Errorf("%s: error %v, want error %v", st.name, err, st.wantErr)
		}
		if !served().Equal(st.want) {
			t.Errorf("%s: serving the wrong certificate", st.name)
		}
	}
}

// New fails early on a missing or mismatched certificate.
func TestTLSBadCertFiles(t *testing.T) {
	dir := t.TempDir()
	c1, k1 := filepath.Join(dir, "c1"), filepath.Join(dir, "k1")
	c2, k2 := filepath.Join(dir, "c2"), filepath.Join(dir, "k2")
	writePair(t, c1, k1, "localhost")
	writePair(t, c2, k2, "localhost")
	for _, pair := range [][2]string{{filepath.Join(dir, "none"), k1}, {c1, k2}} {
		cfg := tlsConfig(families[0], "")
		cfg.TLSCertFile, cfg.TLSKeyFile, cfg.Logger = pair[0], pair[1], testLogger()
		if _, err := New(cfg, newCollector()); err == nil {
			t.Errorf("New accepted cert %s key %s", pair[0], pair[1])
		}
	}
}

// Manager to manager over TLS: the client verifies the server against
// its roots (failing without them), and with client auth required the
// server accepts only a peer whose certificate it trusts.
func TestTLSManagerToManager(t *testing.T) {
	dir := t.TempDir()
	srvCert, srvKey := filepath.Join(dir, "srv.crt"), filepath.Join(dir, "srv.key")
	cliCert, cliKey := filepath.Join(dir, "cli.crt"), filepath.Join(dir, "cli.key")
	writePair(t, srvCert, srvKey, "sip.example.test", "127.0.0.1")
	writePair(t, cliCert, cliKey, "client.example.test")

	srvCfg := tlsConfig(families[0], "")
	srvCfg.TLSCertFile, srvCfg.TLSKeyFile = srvCert, srvKey
	srvCfg.ClientAuth, srvCfg.ClientCAFile = ClientAuthRequire, cliCert
	srv, _ := startAnswering(t, srvCfg)
	dst := Target{Proto: TLS, Addr: srv.Listeners()[0].Bound, ServerName: "sip.example.test"}

	cliCfg := tlsConfig(families[0], "")
	cliCfg.TLSCertFile, cliCfg.TLSKeyFile = cliCert, cliKey
	cliCfg.TLSRootCAs = poolFromFile(t, srvCert)
	col := newCollector()
	cli := start(t, cliCfg, col)
	if err := cli.Send(dst, request(TLS, "192.0.2.9", "")); err != nil {
		t.Fatal(err)
	}
	if in := col.next(t); in.Msg.StatusCode() != 200 || in.Proto != TLS || in.Listener != cli.Listeners()[0] {
		t.Fatalf("incoming %+v", in)
	}

	untrusting := start(t, tlsConfig(families[0], ""), newCollector())
	if err := untrusting.Send(dst, []byte("x")); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("send without trusting the server: %v", err)
	}
	insecure := tlsConfig(families[0], "") // trusts anything, but has no certificate the server trusts
	insecure.TLSInsecureSkipVerify = true
	anon := start(t, insecure, newCollector())
	err := anon.Send(dst, request(TLS, "192.0.2.9", ""))
	if err == nil {
		// TLS 1.3 reports the server's refusal of the client certificate
		// after the handshake: the connection is closed instead.
		eventually(t, "refused connection closed", func() bool { return anon.Stats().Open == 0 })
	}
}

// The fingerprint is written as openssl does.
func TestFingerprint(t *testing.T) {
	der, _ := pem.Decode([]byte("-----BEGIN CERTIFICATE-----\nAAEC\n-----END CERTIFICATE-----\n"))
	got := fingerprint(der.Bytes)
	if len(got) != 95 || strings.ToUpper(got) != got || strings.Count(got, ":") != 31 {
		t.Errorf("fingerprint %q", got)
	}
}

// A peer that opens a TLS connection and never completes the handshake
// is dropped after TLSHandshakeTimeout, freeing its slot.
func TestTLSHandshakeTimeout(t *testing.T) {
	cfg := tlsConfig(families[0], "")
	cfg.TLSHandshakeTimeout = 100 * time.Millisecond
	m := start(t, cfg, newCollector())
	// Timed from before the dial: the server's clock starts at accept,
	// after it, while a time taken after the dial returns may be late by
	// however long a loaded machine kept this goroutine waiting.
	t0 := time.Now()
	c := dialTCP(t, "tcp4", m.Listeners()[0].Bound)
	expectClosed(t, c, wait)
	if d := time.Since(t0); d < cfg.TLSHandshakeTimeout {
		t.Errorf("closed after %v, before the %v handshake timeout", d, cfg.TLSHandshakeTimeout)
	}
	eventually(t, "slot freed", func() bool { return m.Stats().Open == 0 })
}
