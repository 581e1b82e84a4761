package server

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/parley-sip/parley/config"
	"github.com/parley-sip/parley/subscriber"
)

// TestBusyLampUnknownUser: with passwords on, a busy lamp key set to a
// user who is no subscriber (a mistyped extension) is answered 404, so
// the desk phone shows the key as failed rather than an idle colleague
// forever; a subscriber's key is subscribed. With passwords off anyone
// who registers is a user, so any name is taken.
func TestBusyLampUnknownUser(t *testing.T) {
	tests := []struct {
		name     string
		auth     bool
		resource string
		code     int
	}{
		{"subscriber", true, "bob", 200},
		{"mistyped extension", true, "bbo", 404},
		{"passwords off", false, "bbo", 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := config.Default()
			cfg.Listen = []config.Listener{{Proto: config.ProtoUDP, Host: "127.0.0.1", Port: freePort(t)}}
			cfg.Domains = []string{"example.com"}
			cfg.DataDir = t.TempDir()
			cfg.Admin.Listen = ""
			cfg.Auth.Enabled = tt.auth
			// The watcher is trusted and skips the challenge: what is
			// checked is the subscription, not the digest.
			cfg.Security.Trusted = []string{"127.0.0.1"}
			cfg.Security.TrustedSkipAuth = true
			users, err := subscriber.Open(context.Background(), "sqlite", cfg.DataDir, "")
			if err != nil {
				t.Fatal(err)
			}
			if err := users.Put(context.Background(), subscriber.New("bob", "example.com", "pw")); err != nil {
				t.Fatal(err)
			}
			users.Close()
			s, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Shutdown(context.Background()) })
			conn, local := udpClient(t)
			w := &watcherUA{t: t, conn: conn, local: local, srv: s.Listeners()[0].Bound}
			w.request("SUBSCRIBE", "sip:"+tt.resource+"@example.com", "blf1", "a1", "", 1,
				"Event", "dialog", "Accept", "application/dialog-info+xml", "Expires", "300")
			if r := w.response(); r.StatusCode() != tt.code {
				t.Fatalf("SUBSCRIBE for %s answered %d %s, want %d", tt.resource, r.StatusCode(), r.Reason(), tt.code)
			}
		})
	}
}
