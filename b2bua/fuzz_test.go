package b2bua

import (
	"strconv"
	"strings"
	"testing"

	"github.com/parley-sip/parley/sip"
)

// FuzzParseRAck: any RAck value is read without panic, and one it
// accepts names the response number it was written with.
func FuzzParseRAck(f *testing.F) {
	for _, s := range []string{"1 10 INVITE", "4711 1 INVITE", " 77  1 INVITE ", "", "1 INVITE", "x 1 INVITE",
		"99999999999 1 INVITE", "1 99999999999 INVITE", "1 2 3 4"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, ok := parseRAck(s)
		if !ok {
			return
		}
		if first := strings.Fields(s)[0]; strings.TrimLeft(first, "0") != strings.TrimLeft(strconv.FormatUint(uint64(n), 10), "0") {
			t.Errorf("parseRAck(%q) = %d", s, n)
		}
	})
}

func TestParseRAck(t *testing.T) {
	tests := []struct {
		in   string
		want uint32
		ok   bool
	}{
		{"1 10 INVITE", 1, true},
		{"4711 1 INVITE", 4711, true},
		{"\t77 1 INVITE ", 77, true},
		{"", 0, false},
		{"1 INVITE", 0, false},
		{"-1 1 INVITE", 0, false},
		{"4294967296 1 INVITE", 0, false},
		{"1 x INVITE", 0, false},
	}
	for _, tt := range tests {
		if n, ok := parseRAck(tt.in); n != tt.want || ok != tt.ok {
			t.Errorf("parseRAck(%q) = %d, %v; want %d, %v", tt.in, n, ok, tt.want, tt.ok)
		}
	}
}

// FuzzInDialog: whatever request either far end sends inside an answered
// call (any method, any header, any body, RAck and CSeq included), the
// B2BUA answers or relays it without panicking, and a BYE still ends the
// call afterwards.
func FuzzInDialog(f *testing.F) {
	f.Add("INFO", "Content-Type", "application/dtmf-relay", []byte("Signal=5"), false, 11)
	f.Add("PRACK", "RAck", "1 10 INVITE", []byte{}, false, 12)
	f.Add("INVITE", "Content-Type", "application/sdp", []byte("v=0\r\n"), true, 1)
	f.Add("UPDATE", "Require", "100rel", []byte{}, true, 2)
	f.Add("ACK", "X-Odd", "\x00", []byte{}, false, 10)
	f.Add("NOTIFY", "Event", "refer", []byte("SIP/2.0 200 OK"), true, 3)
	f.Add("BYE", "Reason", "Q.850;cause=16", []byte{}, false, 1)
	f.Fuzz(func(t *testing.T, method, name, value string, body []byte, fromBob bool, seq int) {
		if !validToken(method) || !validToken(name) || seq < 0 || seq > 1<<30 {
			return
		}
		fx := newFixture(t)
		aTx, inv := answered(t, fx)
		var req *sip.Message
		if fromBob {
			req = bRequest(t, inv.req, "bob-1", method, seq)
		} else {
			req = aRequest(t, aTx, method, seq)
		}
		if sip.HeaderIDOf(name) == sip.HUnknown {
			req.AddHeader(name, value)
		}
		if len(body) > 0 {
			req.SetBody("application/octet-stream", body)
		}
		re, err := sip.Parse(append([]byte(nil), req.Bytes()...))
		if err != nil || re.Validate() != nil {
			return
		}
		if fx.b.leg(re) == nil {
			return
		}
		fx.deliver(re)
		for _, c := range fx.txs.txs { // answer whatever went out
			if c.req.Method() != "ACK" && c.req.Method() != "CANCEL" && len(fx.txs.txs) < 50 {
				c.onResponse(sip.NewResponse(c.req, 200, "", ""))
			}
		}
		if fx.b.Len() == 1 {
			fx.b.Hangup(fx.b.Calls()[0].ID)
		}
		if fx.b.Len() != 0 {
			t.Fatalf("the call outlived its hang-up")
		}
	})
}

func validToken(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for _, r := range s {
		if !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}
