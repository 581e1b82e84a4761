package b2bua

import (
	"strings"
	"testing"
	"time"
)

// FuzzCallControl sends an answered call, from either side, an INVITE,
// UPDATE or REFER whose Session-Expires, Min-SE, Supported and Refer-To
// are the fuzzer's, with session timers on and transfers possible, then
// lets a day pass. Nothing may panic, every request must be answered,
// and the call must end cleanly when hung up.
func FuzzCallControl(f *testing.F) {
	f.Add("INVITE", "120;refresher=uac", "90", "timer", "", true)
	f.Add("UPDATE", "60", "", "timer", "", false)
	f.Add("REFER", "", "", "", "<sip:carol@example.com>", true)
	f.Add("REFER", "", "", "", "<sip:carol@example.com?Replaces=a%3Bto-tag%3D1%3Bfrom-tag%3D2>", false)
	f.Add("REFER", "", "", "", "sip:x@y;method=BYE", true)
	f.Add("INVITE", "soon", "x", "", "", false)
	f.Fuzz(func(t *testing.T, method, se, minSE, supported, referTo string, fromB bool) {
		switch method {
		case "INVITE", "UPDATE", "REFER":
		default:
			return
		}
		var extra []string
		for _, h := range [][2]string{{"Session-Expires", se}, {"Min-SE", minSE}, {"Supported", supported}, {"Refer-To", referTo}} {
			if h[1] == "" {
				continue
			}
			if strings.ContainsAny(h[1], "\r\n\x00") || len(h[1]) > 200 {
				return
			}
			extra = append(extra, h[0]+": "+h[1])
		}
		h := newHarness(t, timers, Config{Locate: locateCarol})
		cl := h.dial("alice@example.com", Plan{})
		cl.answer()
		across := calleeAt
		if fromB {
			across = callerAt
		}
		before := len(h.net.requests(method, across))
		var tx *fakeTx
		if fromB {
			tx = cl.fromB(method, 5, extra...)
		} else {
			tx = cl.fromA(method, 0, extra...)
		}
		if tx.last() == nil && len(h.net.requests(method, across)) == before {
			t.Fatalf("%s neither answered nor relayed", method)
		}
		h.clk.Advance(24 * time.Hour)
		cl.c.Hangup("system", "fuzz")
		h.clk.Advance(time.Hour)
		if h.b.Len() != 0 {
			t.Fatalf("%d calls left", h.b.Len())
		}
	})
}
