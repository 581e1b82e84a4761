package proxy

import (
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/parley-sip/parley/location"
)

// terminatingTx is a server transaction that records Terminate, as the
// transaction layer's does.
type terminatingTx struct {
	fakeServerTx
	terminated atomic.Bool
}

func (t *terminatingTx) Terminate() { t.terminated.Store(true) }

// scannerConfig drops requests whose User-Agent contains "scanner".
func scannerConfig() Config {
	cfg := defaultConfig()
	cfg.DropScanner = func(_ netip.Addr, ua string) bool { return strings.Contains(ua, "scanner") }
	return cfg
}

func TestScannerStage(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		edits   []string
		file    string
		dropped bool
	}{
		{"scanner OPTIONS dropped", scannerConfig(), []string{"User-Agent: friendly-scanner"}, "options.sip", true},
		{"scanner INVITE dropped", scannerConfig(), []string{"User-Agent: friendly-scanner"}, "invite.sip", true},
		{"scanner REGISTER dropped", scannerConfig(), []string{"User-Agent: friendly-scanner"}, "register.sip", true},
		{"phone answered", scannerConfig(), []string{"User-Agent: Linphone/5.2"}, "options.sip", false},
		{"no User-Agent answered", scannerConfig(), nil, "options.sip", false},
		{"filter off", defaultConfig(), []string{"User-Agent: friendly-scanner"}, "options.sip", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.cfg)
			tx := &terminatingTx{}
			f.p.ServeRequest(tx, incoming(req(t, tt.file, tt.edits...)))
			got := tx.statuses()
			if tt.dropped {
				if len(got) != 0 || !tx.terminated.Load() || len(f.txs.all("")) != 0 {
					t.Errorf("answered %q, terminated %v, forwarded %d: want dropped silently",
						got, tx.terminated.Load(), len(f.txs.all("")))
				}
				return
			}
			if len(got) == 0 && len(f.txs.all("")) == 0 || tx.terminated.Load() {
				t.Errorf("answered %q, terminated %v: want it served", got, tx.terminated.Load())
			}
		})
	}
}

// TestScannerStageSource: the hook sees the request's source address.
func TestScannerStageSource(t *testing.T) {
	cfg := defaultConfig()
	var seen netip.Addr
	cfg.DropScanner = func(src netip.Addr, _ string) bool { seen = src; return false }
	f := newFixture(t, cfg)
	f.serve(req(t, "options.sip", "User-Agent: x"))
	if seen != uacAddr.Addr() {
		t.Errorf("hook saw %v, want %v", seen, uacAddr.Addr())
	}
}

// TestAuthSkippedForTrusted: with Trusted set, a trusted source's
// REGISTER and INVITE need no credentials; others are still challenged.
func TestAuthSkippedForTrusted(t *testing.T) {
	f := authFixture(t)
	f.p.cfg.Trusted = func(src netip.Addr) bool { return src == uacAddr.Addr() }
	if got := f.serve(req(t, "register.sip")).statuses(); len(got) != 1 || got[0] != "200 OK" {
		t.Errorf("trusted REGISTER: %q, want [200 OK]", got)
	}
	f.bind("sip:bob@example.com", location.Binding{Contact: phoneContact(0), Source: ap(phoneAddr(0))})
	f.serve(req(t, "invite.sip"))
	if n := len(f.txs.all("INVITE")); n != 1 {
		t.Errorf("trusted INVITE: %d forwarded, want 1", n)
	}
	in := incoming(req(t, "register.sip"))
	in.Source = netip.MustParseAddrPort("203.0.113.9:5060")
	if got := f.serveIn(in).statuses(); len(got) != 1 || got[0] != "401 Unauthorized" {
		t.Errorf("untrusted REGISTER: %q, want [401 Unauthorized]", got)
	}
}
