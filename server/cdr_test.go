package server

import (
	"context"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parley-sip/parley/cdr"
	"github.com/parley-sip/parley/config"
	"github.com/parley-sip/parley/subscriber"
	"github.com/parley-sip/parley/subscriber/storetest"
)

// TestRecordsInEachEngine: a call to a user who is not registered ends
// 404, and its record lands in the database of storage.engine, where a
// store opened after the server stopped finds it.
func TestRecordsInEachEngine(t *testing.T) {
	tests := []struct {
		engine config.Engine
		reopen func(t *testing.T, cfg *config.Config) cdr.Store
	}{
		{config.EngineSQLite, func(t *testing.T, cfg *config.Config) cdr.Store {
			s, err := cdr.OpenSQLite(filepath.Join(cfg.DataDir, subscriber.DBFile))
			if err != nil {
				t.Fatal(err)
			}
			return s
		}},
		{config.EnginePostgres, func(t *testing.T, cfg *config.Config) cdr.Store {
			s, err := cdr.OpenPostgres(context.Background(), cfg.Storage.DSN)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}},
	}
	for _, tt := range tests {
		t.Run(string(tt.engine), func(t *testing.T) {
			cfg := testConfig(t)
			cfg.Admin.Listen, cfg.Storage.Engine, cfg.CDR.Node, cfg.CDR.Enabled = "", tt.engine, "node-a", true
			if tt.engine == config.EnginePostgres {
				cfg.Storage.DSN = storetest.PostgresDSN(t)
			}
			s, err := New(cfg, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Start(); err != nil {
				t.Fatal(err)
			}
			status := inviteNobody(t, s.Listeners()[0].Bound)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := s.Shutdown(ctx); err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(status, "SIP/2.0 404") {
				t.Fatalf("INVITE answered %q, want 404", status)
			}
			store := tt.reopen(t, cfg)
			defer store.Close()
			recs, err := store.List(ctx, cdr.Query{})
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) != 1 {
				t.Fatalf("%d records, want 1: %+v", len(recs), recs)
			}
			r := recs[0]
			if r.Node != "node-a" || r.CallID != "cdr-test@127.0.0.1" || r.Dialled != "nobody" || r.Disposition != cdr.Failed ||
				r.Status != 404 || r.HungUpBy != cdr.Callee || r.Caller != "sip:alice@example.com" || r.End.Before(r.Setup) {
				t.Errorf("record %+v", r)
			}
		})
	}
}

// inviteNobody sends an INVITE for an unregistered user over UDP and
// returns the first line of its final response.
func inviteNobody(t *testing.T, server netip.AddrPort) string {
	t.Helper()
	conn, local := udpClient(t)
	req := "INVITE sip:nobody@example.com SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP " + local + ";branch=z9hG4bK-cdr-1;rport\r\n" +
		"Max-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=a1\r\nTo: <sip:nobody@example.com>\r\n" +
		"Call-ID: cdr-test@127.0.0.1\r\nCSeq: 1 INVITE\r\nContact: <sip:alice@" + local + ">\r\nContent-Length: 0\r\n\r\n"
	if _, err := conn.WriteToUDPAddrPort([]byte(req), server); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 65535)
	for {
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, _, err := conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatalf("no final response to the INVITE: %v", err)
		}
		line, _, _ := strings.Cut(string(buf[:n]), "\r\n")
		if !strings.HasPrefix(line, "SIP/2.0 1") {
			return line
		}
	}
}
