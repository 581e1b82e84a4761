package config

import (
	"net/url"
	"strconv"
	"strings"
)

// WebSocketConfig configures ws and wss listeners: SIP over WebSocket
// (RFC 7118), what web phones and browser apps speak. Connection limits
// and the message size are the tcp and limits keys; wss takes the tls
// certificate.
type WebSocketConfig struct {
	// AllowedOrigins are the web origins (https://app.example.com) whose
	// pages may connect; empty allows any. A browser names the page that
	// opens a connection, so this keeps other sites' pages from using
	// a visitor's browser as a phone on this server. A reload applies it
	// to the connections that follow.
	AllowedOrigins []string `yaml:"allowed_origins" reload:"live"`
	// PingInterval is how often each connection is pinged; one that
	// answers nothing for two intervals is closed, so dead browser tabs
	// free their slots.
	PingInterval Duration `yaml:"ping_interval" reload:"restart"`
	// HandshakeTimeout bounds the TLS handshake and HTTP upgrade request
	// of a new connection, so that peers that open connections and say
	// nothing cannot hold slots.
	HandshakeTimeout Duration `yaml:"handshake_timeout" reload:"restart"`
	// MaxRequestBytes bounds the HTTP upgrade request's headers, which a
	// browser fills with cookies.
	MaxRequestBytes int `yaml:"max_request_bytes" reload:"restart"`
}

// websocket checks the WebSocket keys.
func (ch *checker) websocket(w WebSocketConfig) {
	for i, o := range w.AllowedOrigins {
		if !validOrigin(o) {
			ch.add("websocket.allowed_origins["+strconv.Itoa(i)+"]",
				"must be an origin like https://app.example.com (scheme, host and port only); got %q", o)
		}
	}
	positive(ch, "websocket.ping_interval", w.PingInterval)
	positive(ch, "websocket.handshake_timeout", w.HandshakeTimeout)
	atLeast(ch, "websocket.max_request_bytes", w.MaxRequestBytes, 1024)
}

// validOrigin accepts what a browser sends as Origin: a scheme and a
// host with an optional port, nothing after. The transport compares
// origins after the same normalisation (case, default port).
func validOrigin(s string) bool {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || u.Opaque != "" || u.User != nil ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
		return false
	}
	host := u.Hostname()
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return false
		}
	}
	return host != "" && !strings.ContainsAny(host, " ") && validHost(host)
}
