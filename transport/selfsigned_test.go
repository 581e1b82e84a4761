package transport

import (
	"bytes"
	"crypto/tls"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// servedCert returns the certificate a TLS listener of m presents.
func servedCert(t *testing.T, m *Manager) CertInfo {
	t.Helper()
	c := dialTLS(t, families[0], m, &tls.Config{InsecureSkipVerify: true})
	defer c.Close()
	leaf := c.ConnectionState().PeerCertificates[0]
	return certInfo(&tls.Certificate{Certificate: [][]byte{leaf.Raw}, Leaf: leaf}, "", true)
}

// The generated certificate carries the served domains; a start that
// needs a name it lacks replaces it, a start that needs fewer names keeps
// it (and its fingerprint, which phones may have pinned).
func TestSelfSignedNames(t *testing.T) {
	dir := t.TempDir()
	certPath := filepath.Join(dir, selfSignedCert)
	steps := []struct {
		names     []string
		renewed   bool
		mustCarry []string
	}{
		{names: []string{"example.com"}, renewed: true, mustCarry: []string{"example.com", "localhost", "127.0.0.1"}},
		{names: []string{"example.com"}, renewed: false, mustCarry: []string{"example.com"}},
		{names: []string{"example.com", "Example.ORG"}, renewed: true, mustCarry: []string{"example.com", "example.org"}},
		{names: []string{"example.org"}, renewed: false, mustCarry: []string{"example.com", "example.org"}},
		{names: []string{"bad_name.example"}, renewed: false}, // no certificate can carry it
	}
	var before []byte
	for i, st := range steps {
		cfg := tlsConfig(families[0], dir)
		cfg.TLSNames = st.names
		m, _ := startAnswering(t, cfg)
		after, err := os.ReadFile(certPath)
		if err != nil {
			t.Fatal(err)
		}
		if renewed := !bytes.Equal(before, after); renewed != st.renewed {
			t.Errorf("step %d (%v): renewed %v, want %v", i, st.names, renewed, st.renewed)
		}
		got := servedCert(t, m)
		for _, n := range st.mustCarry {
			if !slices.Contains(got.Names, n) {
				t.Errorf("step %d: served certificate names %v lack %s", i, got.Names, n)
			}
		}
		if info, ok := m.Certificate(); !ok || info.SHA256 != got.SHA256 || info.File != certPath || !info.SelfSigned {
			t.Errorf("step %d: Certificate() = %+v, %v; served %s", i, info, ok, got.SHA256)
		}
		m.Close()
		before = after
	}
}

// SetTLSNames, called on reload, replaces the certificate at once when a
// new domain is missing from it, and leaves a configured one alone.
func TestSetTLSNames(t *testing.T) {
	t.Run("self-signed in the data directory", func(t *testing.T) {
		testSetTLSNames(t, tlsConfig(families[0], t.TempDir()))
	})
	t.Run("self-signed in memory", func(t *testing.T) {
		testSetTLSNames(t, tlsConfig(families[0], ""))
	})
	t.Run("configured files", func(t *testing.T) {
		dir := t.TempDir()
		cfg := tlsConfig(families[0], "")
		cfg.TLSCertFile, cfg.TLSKeyFile = filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
		writePair(t, cfg.TLSCertFile, cfg.TLSKeyFile, "127.0.0.1")
		m, _ := startAnswering(t, cfg)
		first := servedCert(t, m)
		if err := m.SetTLSNames([]string{"example.net"}); err != nil {
			t.Fatal(err)
		}
		if got := servedCert(t, m); got.SHA256 != first.SHA256 {
			t.Errorf("a configured certificate was replaced")
		}
	})
}

func testSetTLSNames(t *testing.T, cfg Config) {
	cfg.TLSNames = []string{"example.com"}
	m, _ := startAnswering(t, cfg)
	first := servedCert(t, m)
	if err := m.SetTLSNames([]string{"example.com"}); err != nil {
		t.Fatal(err)
	}
	if got := servedCert(t, m); got.SHA256 != first.SHA256 {
		t.Errorf("replaced though no name was missing")
	}
	if err := m.SetTLSNames([]string{"example.com", "example.net"}); err != nil {
		t.Fatal(err)
	}
	got := servedCert(t, m)
	if got.SHA256 == first.SHA256 || !slices.Contains(got.Names, "example.net") {
		t.Errorf("after adding example.net: serving %v (%s), want a new certificate with it", got.Names, got.SHA256)
	}
}

// ReadCertInfo reads what "parley tls" prints from the file alone.
func TestReadCertInfo(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c.pem")
	leaf := writePair(t, path, filepath.Join(dir, "k.pem"), "sip.example.com", "192.0.2.10")
	info, err := ReadCertInfo(path, false)
	if err != nil {
		t.Fatal(err)
	}
	if info.SHA256 != fingerprint(leaf.Raw) || !slices.Equal(info.Names, []string{"sip.example.com", "192.0.2.10"}) || !info.NotAfter.Equal(leaf.NotAfter) {
		t.Errorf("ReadCertInfo = %+v", info)
	}
	os.WriteFile(path, []byte("junk"), 0o644)
	if _, err := ReadCertInfo(path, false); err == nil {
		t.Error("ReadCertInfo accepted a file without a certificate")
	}
}

// After a reload switched from the self-signed certificate to configured
// files, SetTLSNames must leave those files alone.
func TestSetTLSNamesAfterUseTLSFiles(t *testing.T) {
	dir := t.TempDir()
	m, _ := startAnswering(t, tlsConfig(families[0], filepath.Join(dir, "data")))
	certPath, keyPath := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	writePair(t, certPath, keyPath, "127.0.0.1")
	before, _ := os.ReadFile(certPath)
	if err := m.UseTLSFiles(certPath, keyPath); err != nil {
		t.Fatal(err)
	}
	if err := m.SetTLSNames([]string{"new.example"}); err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadFile(certPath)
	info, _ := m.Certificate()
	if !bytes.Equal(before, after) || info.SelfSigned || servedCert(t, m).SHA256 != info.SHA256 {
		t.Errorf("the configured certificate was replaced: self_signed %v, file changed %v", info.SelfSigned, !bytes.Equal(before, after))
	}
}
