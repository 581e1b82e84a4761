package server

import (
	"log/slog"
	"net/netip"
	"testing"

	"github.com/parley-sip/parley/config"
	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transport"
)

// TestCaptureOnlyWhenRead: with CDRs on, the observer runs in every mode,
// but in mode b2bua without the admin listener or HEP the messages do not
// go to it: every call is the B2BUA's, which reports its own steps, and
// nothing reads the capture or its counters. Each captured message costs
// a copy, a scan and a queue (issue 16's latency at half load).
func TestCaptureOnlyWhenRead(t *testing.T) {
	for _, tt := range []struct {
		name    string
		mode    config.Mode
		admin   string
		hep     string
		capture bool
	}{
		{"b2bua, CDRs only", config.ModeB2BUA, "", "", false},
		{"b2bua with HEP", config.ModeB2BUA, "", "127.0.0.1:9060", true},
		{"stateful, CDRs only: the tracker records proxied calls", config.ModeStateful, "", "", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := config.Default()
			cfg.Mode, cfg.Admin.Listen, cfg.HEP.Address = tt.mode, tt.admin, tt.hep
			s := &Server{log: slog.Default(), events: slog.Default(), records: &records{}}
			if err := s.newObservability(cfg); err != nil {
				t.Fatal(err)
			}
			if s.obs == nil {
				t.Fatal("no observer with CDRs on")
			}
			if s.obs.hep != nil {
				defer s.obs.hep.Close()
			}
			msg := []byte("OPTIONS sip:a@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n" +
				"From: <sip:b@example.com>;tag=1\r\nTo: <sip:a@example.com>\r\nCall-ID: c1\r\nCSeq: 1 OPTIONS\r\n" +
				"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
			m, err := sip.Parse(msg)
			if err != nil {
				t.Fatal(err)
			}
			s.tapReceived(&transport.Incoming{Proto: transport.UDP, Source: netip.MustParseAddrPort("192.0.2.1:5060"), Msg: m})
			if got := s.obs.obs.Stats().Captured; (got > 0) != tt.capture {
				t.Errorf("%d messages captured after one received, want capture %v", got, tt.capture)
			}
		})
	}
}
