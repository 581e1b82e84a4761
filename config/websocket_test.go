package config

import (
	"testing"

	"github.com/parley-sip/parley/transport"
)

// The config accepts exactly the origins the transport can use: one it
// passed and the transport refused would stop the server at start with
// an error that names no file and line.
func FuzzOriginAgreement(f *testing.F) {
	for _, s := range []string{"https://app.example.com", "http://127.0.0.1:8000", "https://[::1]:8443",
		"null", "https://a.example/path", "HTTPS://A.EXAMPLE:443", " https://a.example", "a://:", "x://0:0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_, err := transport.NormalizeOrigin(s)
		if ok := validOrigin(s); ok && err != nil {
			t.Fatalf("config accepts %q, the transport refuses it: %v", s, err)
		}
	})
}
