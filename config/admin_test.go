package config

import (
	"errors"
	"strings"
	"testing"
)

// TestAdminAndHEPErrors checks the admin and hep blocks' rules, each at
// the line and key the operator must change.
func TestAdminAndHEPErrors(t *testing.T) {
	tests := []struct {
		name string
		src  []byte
		line int
		key  string
		msg  string
	}{
		{"public listener without token", lines("admin:", "  listen: 0.0.0.0:8080"), 2, "admin.listen", "not a loopback address, so admin.token must be set"},
		{"all interfaces without token", lines("admin:", "  listen: :8080"), 2, "admin.listen", "admin.token must be set"},
		{"host name without token", lines("admin:", "  listen: admin.example.com:8080"), 2, "admin.listen", "admin.token must be set"},
		{"token set empty beside public listener", lines("admin:", "  token: ''", "  listen: 192.0.2.1:8080"), 2, "admin.token", "must be set when admin.listen (192.0.2.1:8080) is not a loopback address"},
		{"short token", lines("admin:", "  token: abc"), 2, "admin.token", "at least 16 characters, got 3"},
		{"token with space", lines("admin:", "  token: 'abcdefgh ijklmnopq'"), 2, "admin.token", "must not contain white space"},
		{"listener without port", lines("admin:", "  listen: 127.0.0.1"), 2, "admin.listen", "must be HOST:PORT"},
		{"listener port out of range", lines("admin:", "  listen: 127.0.0.1:80800"), 2, "admin.listen", `port must be between 0 and 65535, got "80800"`},
		{"listener bad host", lines("admin:", "  listen: '300.1.1.1:8080'"), 2, "admin.listen", "neither an IP address nor a host name"},
		{"negative capture", lines("admin:", "  capture_messages: -1"), 2, "admin.capture_messages", "must be at least 0, got -1"},
		{"negative capture bytes", lines("admin:", "  capture_bytes: -5"), 2, "admin.capture_bytes", "must be at least 0, got -5"},
		{"hep without port", lines("hep:", "  address: homer.example.com"), 2, "hep.address", "must be HOST:PORT"},
		{"hep port zero", lines("hep:", "  address: 192.0.2.9:0"), 2, "hep.address", "port must be between 1 and 65535"},
		{"hep agent id too large", lines("hep:", "  agent_id: 4294967296"), 2, "hep.agent_id", "must be between 0 and 4294967295"},
		{"hep agent id negative", lines("hep:", "  agent_id: -1"), 2, "hep.agent_id", "must be between 0 and 4294967295"},
		{"unknown admin key", lines("admin:", "  listen_address: x"), 2, "admin.listen_address", "unknown key; valid keys: listen, token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("t.yaml", tt.src)
			var errs Errors
			if !errors.As(err, &errs) || len(errs) != 1 {
				t.Fatalf("got %v, want one error", err)
			}
			e := errs[0]
			if e.Line != tt.line || e.Key != tt.key || !strings.Contains(e.Msg, tt.msg) {
				t.Errorf("got  %q\nwant line %d, key %s, ...%q...", e.Error(), tt.line, tt.key, tt.msg)
			}
		})
	}
}

// TestAdminAccepted lists configurations that must pass: loopback without
// a token, a public address with one, and the listener turned off.
func TestAdminAccepted(t *testing.T) {
	for _, src := range [][]byte{
		lines("admin:", "  listen: 127.0.0.1:0"),
		lines("admin:", "  listen: '[::1]:8080'"),
		lines("admin:", "  listen: localhost:8080"),
		lines("admin:", "  listen: 0.0.0.0:8080", "  token: 0123456789abcdef"),
		lines("admin:", "  listen: ''", "  capture_messages: 0", "  capture_bytes: 0"),
		lines("hep:", "  address: '[2001:db8::5]:9060'", "  agent_id: 4294967295"),
	} {
		if _, err := Parse("t.yaml", src); err != nil {
			t.Errorf("%s: %v", src, err)
		}
	}
}

func TestIsLoopbackHost(t *testing.T) {
	for host, want := range map[string]bool{
		"127.0.0.1": true, "127.9.9.9": true, "::1": true, "localhost": true, "LocalHost": true,
		"": false, "0.0.0.0": false, "::": false, "192.0.2.1": false, "admin.example.com": false,
		"localhost.example.com": false,
	} {
		if got := IsLoopbackHost(host); got != want {
			t.Errorf("IsLoopbackHost(%q) = %v, want %v", host, got, want)
		}
	}
}
