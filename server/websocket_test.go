package server

import (
	"crypto/tls"
	"net/http"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/parley-sip/parley/config"
)

// websocket.allowed_origins is live: a reload decides the upgrades that
// follow.
func TestReloadAllowedOrigins(t *testing.T) {
	s, _, _ := reloadServer(t, func(c *config.Config) {
		c.Listen = append(c.Listen, config.Listener{Proto: config.ProtoWSS, Host: "127.0.0.1", Port: freePort(t)})
		c.WebSocket.AllowedOrigins = []string{"https://one.example.com"}
	})
	url := "wss://" + s.Listeners()[1].Bound.String() + "/"
	status := func(origin string) int {
		d := websocket.Dialer{Subprotocols: []string{"sip"}, TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
		ws, resp, err := d.Dial(url, http.Header{"Origin": {origin}})
		if ws != nil {
			ws.Close()
		}
		if resp == nil {
			t.Fatalf("%s: %v", origin, err)
		}
		return resp.StatusCode
	}
	if a, b := status("https://one.example.com"), status("https://two.example.com"); a != 101 || b != 403 {
		t.Fatalf("before the reload: %d and %d, want 101 and 403", a, b)
	}
	next := config.Default()
	next.Listen, next.DataDir, next.Admin.Listen = s.Config().Listen, s.Config().DataDir, ""
	next.Domains = []string{"example.com"}
	next.WebSocket.AllowedOrigins = []string{"https://two.example.com"}
	if err := s.Reload(next); err != nil {
		t.Fatal(err)
	}
	if a, b := status("https://one.example.com"), status("https://two.example.com"); a != 403 || b != 101 {
		t.Fatalf("after the reload: %d and %d, want 403 and 101", a, b)
	}
}
