package main

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parley-sip/parley/transport"
)

// generatedCert has the transport generate its self-signed certificate
// into dataDir, as parley serve does, and returns its description.
func generatedCert(t *testing.T, dataDir string, names ...string) transport.CertInfo {
	t.Helper()
	m, err := transport.New(transport.Config{
		Listeners: []transport.ListenerConfig{{Proto: transport.TLS, Host: "127.0.0.1"}},
		DataDir:   dataDir, TLSNames: names, Logger: slog.New(slog.DiscardHandler),
	}, transport.HandlerFunc(func(*transport.Incoming) {}))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	info, ok := m.Certificate()
	if !ok {
		t.Fatal("no certificate")
	}
	return info
}

func TestTLSCommand(t *testing.T) {
	withCert := t.TempDir()
	self := generatedCert(t, withCert, "example.com")
	configured := filepath.Join(t.TempDir(), "parley.yaml")
	os.WriteFile(configured, []byte("tls:\n  cert_file: "+self.File+"\n  key_file: "+filepath.Join(withCert, "tls.key")+"\n"), 0o644)
	empty := t.TempDir()
	tests := []struct {
		name      string
		args      []string
		code      int
		out, errs []string
	}{
		{name: "self-signed", args: []string{"--data-dir", withCert}, code: 0,
			out: []string{"sha256       " + self.SHA256, "self-signed", "example.com", "127.0.0.1", self.File}},
		{name: "configured file", args: []string{"--config", configured, "--data-dir", empty}, code: 0,
			out: []string{"sha256       " + self.SHA256, "configured (tls.cert_file)"}},
		{name: "none yet", args: []string{"--data-dir", empty}, code: 1,
			errs: []string{"no certificate yet at " + filepath.Join(empty, "tls.crt"), "parley serve"}},
		{name: "stray argument", args: []string{"extra"}, code: 2, errs: []string{"Usage:"}},
		{name: "help", args: []string{"--help"}, code: 0, out: []string{"fingerprint"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errs bytes.Buffer
			code := run(append([]string{"tls"}, tt.args...), &out, &errs)
			if code != tt.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, out.String(), errs.String())
			}
			for _, want := range tt.out {
				if !strings.Contains(out.String(), want) {
					t.Errorf("stdout lacks %q:\n%s", want, out.String())
				}
			}
			for _, want := range tt.errs {
				if !strings.Contains(errs.String(), want) {
					t.Errorf("stderr lacks %q:\n%s", want, errs.String())
				}
			}
		})
	}
}
