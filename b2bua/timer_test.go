package b2bua

import (
	"strings"
	"testing"
	"time"

	"github.com/parley-sip/parley/cdr"
	"github.com/parley-sip/parley/clock"
	"github.com/parley-sip/parley/sessiontimer"
	"github.com/parley-sip/parley/sip"
)

var timers = Control{SessionTimer: sessiontimer.Policy{Expires: 1800 * time.Second, MinSE: 90 * time.Second}}

// TestSessionTimerExpiry: the caller asks to refresh every 120 s and
// vanishes; both legs get BYE before the interval ends (RFC 4028 §10,
// 120 s - 32 s), and the record says why.
func TestSessionTimerExpiry(t *testing.T) {
	h := newHarness(t, timers, Config{})
	cl := h.dial("alice@example.com", Plan{}, "Supported: timer", "Session-Expires: 120;refresher=uac")
	b := cl.bInvite().req
	for _, want := range [][2]string{{"Session-Expires", "1800"}, {"Min-SE", "90"}} {
		if got := b.Header(want[0]); got != want[1] {
			t.Errorf("B INVITE %s = %q, want %q", want[0], got, want[1])
		}
	}
	if !b.HasToken("Supported", "timer") {
		t.Error("B INVITE without Supported: timer")
	}
	cl.answer("Session-Expires: 1800;refresher=uac", "Require: timer")
	ok := cl.aTx.last()
	if got := ok.Header("Session-Expires"); got != "120;refresher=uac" {
		t.Errorf("caller's 2xx Session-Expires %q", got)
	}
	if !ok.HasToken("Require", "timer") {
		t.Error("caller refreshes, so its 2xx must Require timer")
	}
	h.clk.Advance(87 * time.Second)
	if n := len(h.net.requests("BYE", callerAt)); n != 0 {
		t.Fatalf("BYE %d s early", 88-87)
	}
	h.clk.Advance(time.Second)
	if len(h.net.requests("BYE", callerAt)) != 1 || len(h.net.requests("BYE", calleeAt)) != 1 {
		t.Fatalf("BYEs to caller %d, callee %d; want one each", len(h.net.requests("BYE", callerAt)), len(h.net.requests("BYE", calleeAt)))
	}
	r, ok2 := h.record()
	if !ok2 || r.Reason != reasonExpiredA || r.HungUpBy != cdr.System || r.Disposition != cdr.Expired || r.Answered.IsZero() {
		t.Fatalf("record %+v", r)
	}
	if h.b.Len() != 0 {
		t.Fatal("call still held")
	}
	if n := h.clk.Pending(); n != 0 {
		// only the finished call's 2xx retransmission timers may be left,
		// and those stop on the ACK
		t.Fatalf("%d timers left pending after the call ended", n)
	}
}

// TestSessionTimerRefreshedByCaller: a re-INVITE from the caller in time
// refreshes both legs, carries our offer to the callee, and the caller's
// 2xx names its session.
func TestSessionTimerRefreshedByCaller(t *testing.T) {
	h := newHarness(t, timers, Config{})
	cl := h.dial("alice@example.com", Plan{}, "Supported: timer", "Session-Expires: 120;refresher=uac")
	cl.answer("Session-Expires: 1800;refresher=uac", "Require: timer")
	h.clk.Advance(60 * time.Second)
	tx := cl.fromA("INVITE", 0, "Supported: timer", "Session-Expires: 120;refresher=uac")
	reinv := h.net.requests("INVITE", calleeAt)
	if len(reinv) != 2 {
		t.Fatalf("%d INVITEs to the callee, want the re-INVITE too", len(reinv))
	}
	if got := reinv[1].req.Header("Session-Expires"); got != "1800;refresher=uac" {
		t.Errorf("relayed refresh Session-Expires %q, want ours with Parley refreshing", got)
	}
	reinv[1].respond(reparse(t, withHeaders(reinv[1], 200, "Session-Expires: 1800;refresher=uac")))
	if r := tx.last(); r == nil || r.StatusCode() != 200 || r.Header("Session-Expires") != "120;refresher=uac" {
		t.Fatalf("caller's refresh answered %v", r)
	}
	cl.fromA("ACK", cl.aSeq)
	h.clk.Advance(87 * time.Second) // 147 s: past the first deadline, before the second (60+88)
	if n := len(h.net.requests("BYE", callerAt)); n != 0 {
		t.Fatal("refreshed call hung up")
	}
	h.clk.Advance(2 * time.Second)
	if n := len(h.net.requests("BYE", callerAt)); n != 1 {
		t.Fatal("call not hung up after the refreshed interval ran out")
	}
}

// TestSessionTimerParleyRefreshes: a caller that knows nothing of timers
// gets Parley as refresher: an UPDATE (it allows UPDATE) at half the
// interval; a callee whose 2xx has no Session-Expires is refreshed by
// Parley too, with a re-INVITE carrying the caller's SDP since it does not
// allow UPDATE. When the caller's refresh times out, both legs get BYE.
func TestSessionTimerParleyRefreshes(t *testing.T) {
	h := newHarness(t, timers, Config{})
	cl := h.dial("alice@example.com", Plan{})
	cl.answer()
	ok := cl.aTx.last()
	if got := ok.Header("Session-Expires"); got != "1800;refresher=uas" || ok.HasToken("Require", "timer") {
		t.Fatalf("caller's 2xx: Session-Expires %q, Require %q", got, ok.Header("Require"))
	}
	h.clk.Advance(900 * time.Second)
	up := h.net.requests("UPDATE", callerAt)
	if len(up) != 1 || up[0].req.Header("Session-Expires") != "1800;refresher=uac" {
		t.Fatalf("UPDATE to the caller: %d", len(up))
	}
	if n := len(h.net.requests("INVITE", calleeAt)); n != 1 {
		t.Fatalf("the callee's refresh went out while the caller's was in flight (%d INVITEs): glare", n)
	}
	up[0].respond(reparse(t, withHeaders(up[0], 200, "Session-Expires: 1800;refresher=uac")))
	h.clk.Advance(refreshRetry)
	reinv := h.net.requests("INVITE", calleeAt)
	if len(reinv) != 2 {
		t.Fatalf("%d INVITEs to the callee: no refresh once the caller's was done", len(reinv))
	}
	last := reinv[len(reinv)-1]
	if string(last.req.Body()) != "v=0" {
		t.Errorf("refresh re-INVITE offers %q, want the caller's SDP", last.req.Body())
	}
	last.respond(reparse(t, withHeaders(last, 200)))
	if len(h.net.acks) == 0 || h.net.acks[len(h.net.acks)-1].Method() != "ACK" {
		t.Fatal("refresh 2xx not ACKed")
	}
	// The next refresh of the caller times out: the call ends.
	h.clk.Advance(900 * time.Second)
	up = h.net.requests("UPDATE", callerAt)
	if len(up) != 2 {
		t.Fatalf("%d UPDATEs, want a second refresh", len(up))
	}
	up[1].respond(reparse(t, withHeaders(up[1], 408)))
	if len(h.net.requests("BYE", calleeAt)) != 1 {
		t.Fatal("no BYE to the callee after the caller's refresh timed out")
	}
	if r, _ := h.record(); r.Reason != reasonRefreshErr+"408" {
		t.Fatalf("record reason %q", r.Reason)
	}
}

// TestSessionTimer422 refuses a Session-Expires below Min-SE (RFC 4028
// §9) before any B leg starts.
func TestSessionTimer422(t *testing.T) {
	h := newHarness(t, timers, Config{})
	cl := h.dial("alice@example.com", Plan{}, "Supported: timer", "Session-Expires: 60")
	r := cl.aTx.last()
	if r == nil || r.StatusCode() != 422 || r.Reason() != "Session Interval Too Small" || r.Header("Min-SE") != "90" {
		t.Fatalf("got %v", r)
	}
	if n := len(h.net.requests("INVITE", calleeAt)); n != 0 {
		t.Fatalf("%d INVITEs reached the callee", n)
	}
	if rec, ok := h.record(); !ok || rec.Status != 422 {
		t.Fatalf("record %+v", rec)
	}
	// Malformed: 400 naming the header.
	cl = h.dial("alice@example.com", Plan{}, "Session-Expires: soon")
	if r := cl.aTx.last(); r == nil || r.StatusCode() != 400 || r.Reason() != "Malformed Session-Expires" {
		t.Fatalf("got %v", r)
	}
}

// TestSessionTimerCallee422 retries the B leg with the callee's Min-SE
// (RFC 4028 §7.4); the caller never sees the 422.
func TestSessionTimerCallee422(t *testing.T) {
	h := newHarness(t, timers, Config{})
	cl := h.dial("alice@example.com", Plan{})
	first := cl.bInvite()
	first.respond(reparse(t, withHeaders(first, 422, "Min-SE: 3600")))
	second := cl.bInvite()
	if second == first {
		t.Fatal("no retry after 422")
	}
	if second.req.Header("Session-Expires") != "3600" || second.req.Header("Min-SE") != "3600" {
		t.Fatalf("retry asks %q / %q", second.req.Header("Session-Expires"), second.req.Header("Min-SE"))
	}
	if a, b := first.req.Header("Call-ID"), second.req.Header("Call-ID"); a != b {
		t.Errorf("retry changed Call-ID")
	}
	if r := cl.aTx.last(); r != nil && r.StatusCode() == 422 {
		t.Fatal("the caller got the callee's 422")
	}
	// A second 422 no larger ends the call with it.
	second.respond(reparse(t, withHeaders(second, 422, "Min-SE: 3600")))
	if r := cl.aTx.last(); r == nil || r.StatusCode() != 422 {
		t.Fatalf("caller got %v", r)
	}
}

// TestMaxCallDuration hangs up both legs when the call has lasted long
// enough, and not before.
func TestMaxCallDuration(t *testing.T) {
	h := newHarness(t, Control{MaxDuration: time.Hour}, Config{})
	cl := h.dial("alice@example.com", Plan{})
	h.clk.Advance(10 * time.Second) // ringing time does not count
	cl.answer()
	h.clk.Advance(time.Hour - time.Second)
	if len(h.net.requests("BYE", callerAt)) != 0 {
		t.Fatal("hung up early")
	}
	h.clk.Advance(time.Second)
	if len(h.net.requests("BYE", callerAt)) != 1 || len(h.net.requests("BYE", calleeAt)) != 1 {
		t.Fatal("no BYE on both legs")
	}
	if r, _ := h.record(); r.Reason != reasonMaxCall || r.HungUpBy != cdr.System {
		t.Fatalf("record %+v", r)
	}
}

// lateClock runs every timer a little after its time, as the process's
// timing wheel does (up to a tick late).
type lateClock struct{ *clock.Fake }

func (c lateClock) AfterFunc(d time.Duration, f func()) clock.Timer {
	return c.Fake.AfterFunc(d+15*time.Millisecond, f)
}

// TestMaxCallDurationBillsTheCap: a call cut by the maximum duration
// ends, in its record, at the cap, though the timer ran late: a 15 s cap
// bills 15 s, not 16.
func TestMaxCallDurationBillsTheCap(t *testing.T) {
	h := newHarness(t, Control{MaxDuration: 15 * time.Second}, Config{Clock: lateClock{clock.NewFake(epoch)}})
	h.clk = h.b.clock.(lateClock).Fake
	cl := h.dial("alice@example.com", Plan{})
	cl.answer()
	h.clk.Advance(15*time.Second + 20*time.Millisecond)
	r, ok := h.record()
	if !ok || r.Reason != reasonMaxCall {
		t.Fatalf("record %+v", r)
	}
	if got := r.Billable(); got != 15 {
		t.Errorf("billable %d s, want 15 (ended %v after the answer)", got, r.End.Sub(r.Answered))
	}
}

// TestTimersOff: without a policy nothing is added and nothing fires.
func TestTimersOff(t *testing.T) {
	h := newHarness(t, Control{}, Config{})
	cl := h.dial("alice@example.com", Plan{}, "Supported: timer", "Session-Expires: 60")
	if cl.bInvite().req.HasHeader("Session-Expires") {
		t.Fatal("Session-Expires sent with timers off")
	}
	cl.answer()
	h.clk.Advance(48 * time.Hour)
	if len(h.net.requests("BYE", callerAt)) != 0 {
		t.Fatal("BYE with timers off")
	}
}

// withHeaders is a response of the far end to s with header lines.
func withHeaders(s *sent, code int, lines ...string) *sip.Message {
	var extra []string
	for _, l := range lines {
		name, value, _ := strings.Cut(l, ":")
		extra = append(extra, name, strings.TrimSpace(value))
	}
	tag := s.req.ToTag()
	if tag == "" {
		tag = "callee-tag"
	}
	resp := sip.NewResponse(s.req, code, sip.ReasonPhrase(code), tag, extra...)
	return resp
}

// TestTimersTurnedOffByReload: a reload that turns session timers off
// lets calls under way go on instead of expiring them.
func TestTimersTurnedOffByReload(t *testing.T) {
	h := newHarness(t, timers, Config{})
	cl := h.dial("alice@example.com", Plan{}, "Supported: timer", "Session-Expires: 120;refresher=uac")
	cl.answer()
	h.b.SetControl(Control{})
	h.clk.Advance(time.Hour)
	if n := len(h.net.requests("BYE", callerAt)); n != 0 {
		t.Fatal("a call was ended by a session timer turned off")
	}
	if h.b.Len() != 1 {
		t.Fatal("call gone")
	}
}
