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
	"net/netip"
	"os"
	"path/filepath"
	"time"
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
// previous start generated in DataDir, else generates one there (or only
// in memory when DataDir is empty), and logs its fingerprint, which is
// how peers come to trust it.
func selfSigned(cfg *Config, log *slog.Logger) (*certStore, error) {
	hosts := certHosts(cfg)
	if cfg.DataDir == "" {
		cert, err := generateCert(hosts)
		if err != nil {
			return nil, err
		}
		log.Warn("generated an in-memory self-signed TLS certificate (no data directory); it changes at every start",
			"sha256", fingerprint(cert.Certificate[0]))
		return &certStore{cert: cert, staticOnly: true, log: log}, nil
	}
	certPath := filepath.Join(cfg.DataDir, selfSignedCert)
	keyPath := filepath.Join(cfg.DataDir, selfSignedKey)
	if !usableCert(certPath, keyPath) {
		cert, err := generateCert(hosts)
		if err == nil {
			err = writeCert(cfg.DataDir, certPath, keyPath, cert)
		}
		if err != nil {
			return nil, fmt.Errorf("transport: self-signed certificate: %w", err)
		}
		log.Warn("generated a self-signed TLS certificate; peers must trust it or pin its fingerprint",
			"cert", certPath, "sha256", fingerprint(cert.Certificate[0]))
	}
	s := &certStore{certFile: certPath, keyFile: keyPath, log: log}
	if _, err := s.get(); err != nil {
		return nil, fmt.Errorf("transport: self-signed certificate: %w", err)
	}
	return s, nil
}

// usableCert reports whether a generated certificate can be reused: it
// loads and stays valid for at least another day.
func usableCert(certPath, keyPath string) bool {
	cert, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		return false
	}
	return time.Now().Add(24 * time.Hour).Before(cert.Leaf.NotAfter)
}

// certHosts are the names the certificate should carry: localhost, the
// machine's name, and every listener's address and advertised host.
func certHosts(cfg *Config) []string {
	hosts := []string{"localhost", "127.0.0.1", "::1"}
	if h, err := os.Hostname(); err == nil {
		hosts = append(hosts, h)
	}
	for _, l := range cfg.Listeners {
		hosts = append(hosts, trimBrackets(l.Host))
		if l.Advertise != "" {
			h, _, _ := splitAdvertise(l.Advertise, 0)
			hosts = append(hosts, trimBrackets(h))
		}
	}
	return hosts
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
