package transport

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/parley-sip/parley/sip"
)

// Names of the generated certificate's files in DataDir.
const (
	selfSignedCert = "tls.crt"
	selfSignedKey  = "tls.key"
	// selfSignedLife is how long a generated certificate is valid; one
	// that is about to expire is replaced at start.
	selfSignedLife = 825 * 24 * time.Hour
)

// selfSigned makes TLS work out of the box: it reuses the certificate a
// previous start generated in DataDir when it still carries every name it
// needs, else generates one there (or only in memory when DataDir is
// empty), and logs its fingerprint, which is how peers come to trust it.
func selfSigned(cfg *Config, log *slog.Logger) (*certStore, error) {
	s := &certStore{log: log, selfSigned: true, listeners: cfg.Listeners}
	if cfg.DataDir != "" {
		s.certFile = filepath.Join(cfg.DataDir, selfSignedCert)
		s.keyFile = filepath.Join(cfg.DataDir, selfSignedKey)
	}
	if err := s.ensureNames(cfg.TLSNames); err != nil {
		return nil, fmt.Errorf("transport: self-signed certificate: %w", err)
	}
	return s, nil
}

// ensureNames makes sure the self-signed certificate carries every name
// the listeners and names need, generating a new one when it does not
// (or when there is none, or it is about to expire). A name the
// certificate carries but no longer needs is no reason to replace it:
// every new certificate has a new fingerprint, which phones that pinned
// the old one refuse.
func (s *certStore) ensureNames(names []string) error {
	hosts := certHosts(s.listeners, names)
	current := s.current()
	loaded := current != nil
	if !loaded {
		current = s.onDisk()
	}
	why := renewReason(current, hosts)
	if why == "" {
		if !loaded {
			_, err := s.get()
			return err
		}
		return nil
	}
	cert, err := generateCert(hosts)
	if err != nil {
		return err
	}
	return s.install(cert, why)
}

// onDisk returns the certificate a previous start generated, nil when
// there is none that loads.
func (s *certStore) onDisk() *tls.Certificate {
	if s.certFile == "" {
		return nil
	}
	c, err := tls.LoadX509KeyPair(s.certFile, s.keyFile)
	if err != nil {
		return nil
	}
	return &c
}

// renewReason says why cert must be replaced to serve hosts, "" when it
// need not be.
func renewReason(cert *tls.Certificate, hosts []string) string {
	if cert == nil {
		return "none yet"
	}
	if missing := missingNames(cert, hosts); len(missing) > 0 {
		return "the previous one lacked " + strings.Join(missing, ", ")
	}
	if !time.Now().Add(24 * time.Hour).Before(cert.Leaf.NotAfter) {
		return "the previous one expires within a day"
	}
	return ""
}

// install makes a freshly generated certificate the one served: written
// to the data directory when there is one, else kept in memory.
func (s *certStore) install(cert *tls.Certificate, why string) error {
	if s.certFile == "" {
		s.mu.Lock()
		s.cert, s.staticOnly = cert, true
		s.mu.Unlock()
		s.log.Warn("generated an in-memory self-signed TLS certificate (no data directory); it changes at every start",
			"reason", why, "names", certNames(cert.Leaf), "sha256", fingerprint(cert.Certificate[0]))
		return nil
	}
	if err := writeCert(filepath.Dir(s.certFile), s.certFile, s.keyFile, cert); err != nil {
		return err
	}
	s.log.Warn("generated a self-signed TLS certificate; peers must trust it or pin its fingerprint",
		"reason", why, "cert", s.certFile, "names", certNames(cert.Leaf), "sha256", fingerprint(cert.Certificate[0]))
	s.mu.Lock()
	s.certStamp = fileStamp{} // load the new files at once, whatever their mtime
	s.mu.Unlock()
	_, err := s.get()
	return err
}

// current returns the certificate being served, nil before the first.
func (s *certStore) current() *tls.Certificate {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cert
}

// missingNames returns the hosts cert does not carry (all of them when
// cert is nil). Wildcard addresses name nothing and are never missing.
func missingNames(cert *tls.Certificate, hosts []string) []string {
	var missing []string
	for _, h := range hosts {
		if a, err := netip.ParseAddr(h); err == nil && a.IsUnspecified() {
			continue
		}
		if cert == nil || cert.Leaf == nil || cert.Leaf.VerifyHostname(h) != nil {
			missing = append(missing, h)
		}
	}
	return missing
}

// certHosts are the names the certificate should carry: localhost, the
// machine's name, every listener's address and advertised host (for a
// wildcard listener, the machine's addresses), and names, the domains
// the server is responsible for, which is what a phone that checks the
// certificate compares with the server it asked for.
func certHosts(listeners []ListenerConfig, names []string) []string {
	hosts := []string{"localhost", "127.0.0.1", "::1"}
	if h, err := os.Hostname(); err == nil {
		hosts = append(hosts, strings.ToLower(h))
	}
	wildcard := false
	for _, l := range listeners {
		hosts = append(hosts, sip.TrimBrackets(l.Host))
		if a, err := netip.ParseAddr(sip.TrimBrackets(l.Host)); err == nil && a.IsUnspecified() {
			wildcard = true
		}
		if l.Advertise != "" {
			h, _, _ := splitAdvertise(l.Advertise, 0)
			hosts = append(hosts, sip.TrimBrackets(h))
		}
	}
	if wildcard {
		for _, a := range MachineAddrs() {
			hosts = append(hosts, a.String())
		}
	}
	for _, n := range names {
		hosts = append(hosts, strings.ToLower(sip.TrimBrackets(n)))
	}
	return slices.DeleteFunc(hosts, func(h string) bool { return !certifiable(h) })
}

// certifiable reports whether a host can be a certificate name that
// clients match: an address, or a DNS name of letters, digits and
// hyphens. A machine name like "my_box" cannot; keeping it would make
// every start regenerate the certificate for a name it never carries.
func certifiable(h string) bool {
	if _, err := netip.ParseAddr(h); err == nil {
		return true
	}
	if h == "" || len(h) > 253 {
		return false
	}
	for label := range strings.SplitSeq(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			if c := label[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// MachineAddrs returns the addresses of the machine's interfaces that a
// peer could use to reach it: loopback and global unicast, not
// link-local (which needs a zone) or multicast.
func MachineAddrs() []netip.Addr {
	ifaddrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	var out []netip.Addr
	for _, ia := range ifaddrs {
		ipn, ok := ia.(*net.IPNet)
		if !ok {
			continue
		}
		if a, ok := netip.AddrFromSlice(ipn.IP); ok {
			if a = a.Unmap(); a.IsLoopback() || a.IsGlobalUnicast() {
				out = append(out, a)
			}
		}
	}
	return out
}

// certNames lists what a certificate is valid for, DNS names then
// addresses, for logs and "parley tls".
func certNames(leaf *x509.Certificate) []string {
	if leaf == nil {
		return nil
	}
	out := append([]string(nil), leaf.DNSNames...)
	for _, ip := range leaf.IPAddresses {
		out = append(out, ip.String())
	}
	return out
}

// generateCert makes an ECDSA P-256 certificate for hosts, usable both
// as a server certificate and as the client certificate this server
// offers when it connects to another.
func generateCert(hosts []string) (*tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "Parley self-signed", Organization: []string{"Parley"}},
		NotBefore:             now.Add(-time.Hour), // tolerate clocks a little behind
		NotAfter:              now.Add(selfSignedLife),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
	}
	addSANs(tmpl, hosts)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

// addSANs puts each host in the certificate once, as an IP address or a
// DNS name; wildcard bind addresses name nothing and are left out.
func addSANs(tmpl *x509.Certificate, hosts []string) {
	seen := make(map[string]bool)
	for _, h := range hosts {
		if h == "" || seen[h] {
			continue
		}
		seen[h] = true
		if a, err := netip.ParseAddr(h); err == nil {
			if !a.IsUnspecified() {
				tmpl.IPAddresses = append(tmpl.IPAddresses, a.AsSlice())
			}
			continue
		}
		tmpl.DNSNames = append(tmpl.DNSNames, h)
	}
}

// writeCert stores a generated certificate, the key readable by the
// owner only. Each file is written whole and renamed into place, so a
// crash never leaves half a key behind.
func writeCert(dir, certPath, keyPath string, cert *tls.Certificate) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		return err
	}
	if err := writeAtomic(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return err
	}
	return writeAtomic(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}), 0o644)
}

func writeAtomic(path string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path))
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // after a successful rename there is nothing left to remove
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(perm)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
