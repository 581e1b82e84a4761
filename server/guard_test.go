package server

import (
	"bytes"
	"log/slog"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/parley-sip/parley/config"
)

// guardServer starts a server on loopback UDP with the memory store and
// the security block edited by edit.
func guardServer(t *testing.T, edit func(*config.SecurityConfig)) (*Server, netip.AddrPort) {
	t.Helper()
	cfg := config.Default()
	cfg.Listen = []config.Listener{{Proto: config.ProtoUDP, Host: "127.0.0.1", Port: freePort(t)}}
	cfg.Domains = []string{"example.com"}
	cfg.DataDir = t.TempDir()
	cfg.Storage.Engine = config.EngineMemory
	cfg.Admin.Listen = ""
	edit(&cfg.Security)
	s := startLogging(t, cfg, slog.New(slog.DiscardHandler))
	return s, s.Listeners()[0].Bound
}

// probeFrom sends n OPTIONS from host with the given User-Agent and
// counts the 200s that come back within wait.
func probeFrom(t *testing.T, srv netip.AddrPort, host, userAgent string, n int, wait time.Duration) int {
	t.Helper()
	c := listenUDP(t, host)
	for i := range n {
		req := optionsRequest(srv, "UDP", c.LocalAddr().String(), "g-"+host+"-"+strconv.Itoa(i))
		if userAgent != "" {
			req = bytes.Replace(req, []byte("Content-Length"), []byte("User-Agent: "+userAgent+"\r\nContent-Length"), 1)
		}
		c.WriteToUDPAddrPort(req, srv)
	}
	got := 0
	buf := make([]byte, 65536)
	c.SetReadDeadline(time.Now().Add(wait))
	for got < n {
		m, _, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			break
		}
		if bytes.HasPrefix(buf[:m], []byte("SIP/2.0 200 ")) {
			got++
		}
	}
	return got
}

// TestGuardDropsFlood: a source past its burst is dropped before parsing,
// then banned; another source is still served.
func TestGuardDropsFlood(t *testing.T) {
	s, srv := guardServer(t, func(sc *config.SecurityConfig) {
		sc.Rate, sc.Burst, sc.BanAfter, sc.BanFor = 1, 5, 0, config.Duration(time.Minute)
	})
	if got := probeFrom(t, srv, "127.0.0.3", "", 50, time.Second); got != 5 {
		t.Errorf("flooding source: %d answers, want its burst of 5", got)
	}
	if got := probeFrom(t, srv, "127.0.0.1", "", 3, 5*time.Second); got != 3 {
		t.Errorf("other source: %d of 3 answered", got)
	}
	if got := probeFrom(t, srv, "127.0.0.3", "", 1, 300*time.Millisecond); got != 0 {
		t.Errorf("banned source answered")
	}
	gs, ts := s.GuardStats(), s.tp.Stats()
	if gs.Bans != 1 || gs.BannedNow != 1 || ts.Denied < 45 || ts.Malformed != 0 {
		t.Errorf("guard %+v, transport denied %d", gs, ts.Denied)
	}
}

// TestGuardScannerAndTrusted: a scanner's request gets no answer; from a
// trusted network it does, and trusted networks bypass the rate.
func TestGuardScannerAndTrusted(t *testing.T) {
	s, srv := guardServer(t, func(sc *config.SecurityConfig) {
		sc.Rate, sc.Burst = 1, 1
		sc.Trusted = []string{"127.0.0.4/32"}
	})
	if got := probeFrom(t, srv, "127.0.0.1", "friendly-scanner", 1, 500*time.Millisecond); got != 0 {
		t.Errorf("scanner answered")
	}
	if got := probeFrom(t, srv, "127.0.0.4", "friendly-scanner", 20, 5*time.Second); got != 20 {
		t.Errorf("trusted source: %d of 20 answered", got)
	}
	if gs := s.GuardStats(); gs.ScannerDrops != 1 || gs.Trusted != 20 {
		t.Errorf("guard %+v", gs)
	}
}

// TestGuardReload: a reload's security block applies at once.
func TestGuardReload(t *testing.T) {
	s, srv := guardServer(t, func(sc *config.SecurityConfig) { sc.Rate, sc.Burst = 1, 1 })
	if got := probeFrom(t, srv, "127.0.0.5", "", 5, 500*time.Millisecond); got != 1 {
		t.Fatalf("before reload: %d answers, want 1", got)
	}
	cfg := *s.settings.Load().cfg
	cfg.Security.Trusted = []string{"127.0.0.5"}
	s.Reload(&cfg)
	if got := probeFrom(t, srv, "127.0.0.5", "", 5, 5*time.Second); got != 5 {
		t.Errorf("after reload trusting it: %d of 5 answered", got)
	}
}

// TestGuardScannerInviteSilent: a scanner's INVITE gets nothing at all,
// not even the 100 Trying the transaction layer sends at once.
func TestGuardScannerInviteSilent(t *testing.T) {
	s, srv := guardServer(t, func(*config.SecurityConfig) {})
	c := listenUDP(t, "127.0.0.1")
	req := bytes.Replace(optionsRequest(srv, "UDP", c.LocalAddr().String(), "scan-invite"),
		[]byte("Content-Length"), []byte("User-Agent: friendly-scanner\r\nContent-Length"), 1)
	req = bytes.ReplaceAll(req, []byte("OPTIONS"), []byte("INVITE"))
	req = bytes.Replace(req, []byte("INVITE sip:"), []byte("INVITE sip:100@"), 1)
	c.WriteToUDPAddrPort(req, srv)
	c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	if n, _, err := c.ReadFromUDPAddrPort(make([]byte, 65536)); err == nil {
		t.Errorf("the scanner got %d bytes back", n)
	}
	if gs := s.GuardStats(); gs.ScannerDrops != 1 {
		t.Errorf("guard %+v", gs)
	}
}
