package transport

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// certStore serves the TLS certificate, re-reading its files when their
// modification time or size changes, so a renewed certificate (certbot,
// cert-manager) takes effect at the next handshake without a restart.
type certStore struct {
	certFile, keyFile string
	log               *slog.Logger

	mu         sync.Mutex
	cert       *tls.Certificate
	certStamp  fileStamp
	keyStamp   fileStamp
	failStamps [2]fileStamp // the files a reload last failed on, not retried until they change
	staticOnly bool         // an in-memory certificate with no files behind it

	// selfSigned marks a certificate Parley generates, whose names it
	// keeps up to date (ensureNames) for the listeners below.
	selfSigned bool
	listeners  []ListenerConfig
}

// fileStamp is what tells a changed file: mtime and size.
type fileStamp struct {
	mod  time.Time
	size int64
}

func stampOf(path string) (fileStamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{fi.ModTime(), fi.Size()}, nil
}

// newCertStore loads the configured certificate, or the self-signed one
// from DataDir, generating it when missing.
func newCertStore(cfg *Config, log *slog.Logger) (*certStore, error) {
	if cfg.TLSCertFile == "" {
		return selfSigned(cfg, log)
	}
	s := &certStore{certFile: cfg.TLSCertFile, keyFile: cfg.TLSKeyFile, log: log}
	if _, err := s.get(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCertificate, err)
	}
	return s, nil
}

// get returns the current certificate, reloading it when its files
// changed. A reload that fails (a file half written, a key that does not
// match yet) keeps serving the previous certificate and retries at the
// next handshake.
func (s *certStore) get() (*tls.Certificate, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.staticOnly {
		return s.cert, nil
	}
	cs, cerr := stampOf(s.certFile)
	ks, kerr := stampOf(s.keyFile)
	if s.cert != nil && (cerr != nil || kerr != nil ||
		(cs == s.certStamp && ks == s.keyStamp) || [2]fileStamp{cs, ks} == s.failStamps) {
		return s.cert, nil
	}
	cert, err := tls.LoadX509KeyPair(s.certFile, s.keyFile)
	if err != nil {
		if s.cert != nil {
			s.failStamps = [2]fileStamp{cs, ks}
			s.log.Warn("tls certificate reload failed; keeping the previous one", "cert", s.certFile, "err", err)
			return s.cert, nil
		}
		return nil, err
	}
	s.log.Info("tls certificate loaded", "cert", s.certFile, "self_signed", s.selfSigned,
		"names", certNames(cert.Leaf), "not_after", cert.Leaf.NotAfter.UTC().Format(time.DateOnly),
		"sha256", fingerprint(cert.Certificate[0]))
	s.cert, s.certStamp, s.keyStamp = &cert, cs, ks
	return s.cert, nil
}

// UseTLSFiles makes the handshakes that follow use another certificate
// and key (both empty: the self-signed pair in DataDir), as a reloaded
// configuration asks. The new pair is loaded first; when that fails the
// running certificate stays and the error says why. Without TLS
// listeners there is nothing to switch.
func (m *Manager) UseTLSFiles(certFile, keyFile string) error {
	if m.certs == nil {
		return nil
	}
	cfg := m.cfg
	cfg.TLSCertFile, cfg.TLSKeyFile = certFile, keyFile
	if err := cfg.validate(); err != nil {
		return err
	}
	next, err := newCertStore(&cfg, m.log)
	if err != nil {
		return err
	}
	m.certs.replace(next)
	return nil
}

// replace takes over next's files and certificate.
func (s *certStore) replace(next *certStore) {
	next.mu.Lock()
	defer next.mu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.certFile, s.keyFile, s.cert = next.certFile, next.keyFile, next.cert
	s.certStamp, s.keyStamp, s.failStamps, s.staticOnly = next.certStamp, next.keyStamp, next.failStamps, next.staticOnly
	// Whether Parley made the certificate decides whether SetTLSNames may
	// write over its files: never a configured one.
	s.selfSigned, s.listeners = next.selfSigned, next.listeners
}

// fingerprint is the SHA-256 of a DER certificate as openssl prints it,
// AB:CD:…, which peers pin a self-signed certificate by.
func fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	h := strings.ToUpper(hex.EncodeToString(sum[:]))
	var b strings.Builder
	for i := 0; i < len(h); i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(h[i : i+2])
	}
	return b.String()
}

// serverTLSConfig is the config of every TLS listener: TLS 1.2 and up
// (Go's default cipher suites, all AEAD with forward secrecy), the
// certificate from the store, and the client-certificate policy.
func serverTLSConfig(cfg *Config, s *certStore) (*tls.Config, error) {
	tc := &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return s.get()
		},
	}
	switch cfg.ClientAuth {
	case ClientAuthRequest:
		tc.ClientAuth = tls.VerifyClientCertIfGiven
	case ClientAuthRequire:
		tc.ClientAuth = tls.RequireAndVerifyClientCert
	}
	if cfg.ClientCAFile != "" {
		pem, err := os.ReadFile(cfg.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("transport: client CA file: %w", err)
		}
		tc.ClientCAs = x509.NewCertPool()
		if !tc.ClientCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("transport: client CA file %s: no certificates", cfg.ClientCAFile)
		}
	}
	return tc, nil
}

// clientTLSConfig is the base config for outgoing TLS. It offers the
// server's own certificate when a peer asks for one, which is how two
// servers authenticate each other (RFC 5922 §7.3).
func clientTLSConfig(cfg *Config, s *certStore) *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS12,
		RootCAs:            cfg.TLSRootCAs,
		InsecureSkipVerify: cfg.TLSInsecureSkipVerify, //nolint:gosec // tests only, documented on Config
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			if s == nil {
				return &tls.Certificate{}, nil // none: the peer decides
			}
			return s.get()
		},
	}
}

// CertInfo describes the certificate TLS listeners serve, for the
// startup log, the admin API and "parley tls".
type CertInfo struct {
	// File is the certificate's PEM file; empty for an in-memory one.
	File string `json:"file"`
	// SelfSigned is true for a certificate Parley generated.
	SelfSigned bool `json:"self_signed"`
	// SHA256 is the fingerprint as openssl prints it (AB:CD:…), which
	// is what a phone pins a self-signed certificate by.
	SHA256 string `json:"sha256"`
	// Names are the DNS names and addresses the certificate is valid for.
	Names []string `json:"names"`
	// NotAfter is when it expires.
	NotAfter time.Time `json:"not_after"`
}

func certInfo(cert *tls.Certificate, file string, selfSigned bool) CertInfo {
	return CertInfo{File: file, SelfSigned: selfSigned, SHA256: fingerprint(cert.Certificate[0]),
		Names: certNames(cert.Leaf), NotAfter: cert.Leaf.NotAfter}
}

// ReadCertInfo describes the first certificate of a PEM file.
func ReadCertInfo(path string, selfSigned bool) (CertInfo, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return CertInfo{}, err
	}
	for {
		var block *pem.Block
		if block, b = pem.Decode(b); block == nil {
			return CertInfo{}, fmt.Errorf("%s: no certificate in the file", path)
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		leaf, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return CertInfo{}, fmt.Errorf("%s: %w", path, err)
		}
		return certInfo(&tls.Certificate{Certificate: [][]byte{block.Bytes}, Leaf: leaf}, path, selfSigned), nil
	}
}

// SelfSignedCertFile is where a certificate generated for dataDir lives.
func SelfSignedCertFile(dataDir string) string { return filepath.Join(dataDir, selfSignedCert) }

// Certificate describes the certificate TLS listeners serve now; false
// without TLS listeners.
func (m *Manager) Certificate() (CertInfo, bool) {
	if m.certs == nil {
		return CertInfo{}, false
	}
	cert, err := m.certs.get()
	if err != nil || cert == nil {
		return CertInfo{}, false
	}
	return certInfo(cert, m.certs.certFile, m.certs.selfSigned), true
}

// SetTLSNames gives the self-signed certificate a new list of names it
// must carry (the served domains after a reload) and replaces it when one
// is missing. A configured certificate is left alone: its names are its
// issuer's business.
func (m *Manager) SetTLSNames(names []string) error {
	if m.certs == nil || !m.certs.selfSigned {
		return nil
	}
	return m.certs.ensureNames(names)
}
