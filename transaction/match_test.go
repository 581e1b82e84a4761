package transaction

import (
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transport"
)

// TestServerMatching checks §17.2.3: which second request is the same
// transaction as a first one (absorbed) and which starts a new one.
func TestServerMatching(t *testing.T) {
	tests := []struct {
		name        string
		first, next rq
		sameTx      bool
	}{
		{"retransmission", rq{method: "OPTIONS"}, rq{method: "OPTIONS"}, true},
		{"sent-by host case", rq{method: "OPTIONS", sentBy: "PC.example.com"}, rq{method: "OPTIONS", sentBy: "pc.EXAMPLE.com:5060"}, true},
		{"other sent-by", rq{method: "OPTIONS"}, rq{method: "OPTIONS", sentBy: "192.0.2.99:5060"}, false},
		{"other branch", rq{method: "OPTIONS"}, rq{method: "OPTIONS", branch: "z9hG4bK-other"}, false},
		{"other method", rq{method: "OPTIONS"}, rq{method: "INFO"}, false},
		{"CANCEL is its own", rq{method: "INVITE"}, rq{method: "CANCEL"}, false},
		{"2543 retransmission", rq{method: "OPTIONS", branch: "old"}, rq{method: "OPTIONS", branch: "old"}, true},
		{"2543 no branch", rq{method: "OPTIONS", noBranch: true}, rq{method: "OPTIONS", noBranch: true}, true},
		{"2543 vs 3261", rq{method: "OPTIONS", noBranch: true}, rq{method: "OPTIONS"}, false},
		{"2543 other CSeq", rq{method: "OPTIONS", branch: "old"}, rq{method: "OPTIONS", branch: "old", cseq: 2}, false},
		{"2543 other Call-ID", rq{method: "OPTIONS", branch: "old"}, rq{method: "OPTIONS", branch: "old", callID: "x@y"}, false},
		{"2543 other Request-URI", rq{method: "OPTIONS", branch: "old"}, rq{method: "OPTIONS", branch: "old", uri: "sip:carol@example.com"}, false},
		{"2543 other Via", rq{method: "OPTIONS", branch: "old"}, rq{method: "OPTIONS", branch: "old", sentBy: "192.0.2.99"}, false},
		{"2543 other method", rq{method: "OPTIONS", branch: "old"}, rq{method: "INFO", branch: "old"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Config{})
			h.l.HandleMessage(tt.first.in(t))
			h.l.HandleMessage(tt.next.in(t))
			want := 2
			if tt.sameTx {
				want = 1
			}
			if r, _, _ := h.core.counts(); r != want {
				t.Fatalf("Core saw %d requests, want %d", r, want)
			}
		})
	}
}

// TestRFC2543NewRequestWithSameKey: without the magic cookie a client's
// next request can repeat every field of the RFC 2543 key (a REGISTER
// resent with credentials and the same CSeq). Once the transaction has
// answered, a request whose bytes differ is a new request, not a
// retransmission that gets the cached answer again; before that it is
// absorbed, and an exact copy always is.
func TestRFC2543NewRequestWithSameKey(t *testing.T) {
	const creds = "Authorization: Digest username=\"alice\", realm=\"example.com\"\r\n"
	register := rq{method: "REGISTER", noBranch: true, uri: "sip:example.com"}
	withCreds := register
	withCreds.extra = creds
	tests := []struct {
		name     string
		answer   bool // the first transaction has answered 401 when next arrives
		next     rq
		requests int // requests the Core saw
		resent   int // 401s sent again for next
	}{
		{"with credentials after the 401", true, withCreds, 2, 0},
		{"exact copy after the 401", true, register, 1, 1},
		{"with credentials before any answer", false, withCreds, 1, 0},
		{"RFC 3261: the branch alone decides", true, rq{method: "REGISTER", uri: "sip:example.com", extra: creds}, 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Config{})
			first := register
			if !tt.next.noBranch {
				first = rq{method: "REGISTER", uri: "sip:example.com"}
			}
			h.l.HandleMessage(first.in(t))
			if tt.answer {
				respond(t, h.core.tx(0), 401, "reg")
			}
			before := h.snd.count(status(401))
			h.l.HandleMessage(tt.next.in(t))
			if r, _, _ := h.core.counts(); r != tt.requests {
				t.Fatalf("Core saw %d requests, want %d", r, tt.requests)
			}
			if got := h.snd.count(status(401)) - before; got != tt.resent {
				t.Errorf("401 sent again %d times, want %d", got, tt.resent)
			}
			if tt.requests == 2 {
				respond(t, h.core.tx(1), 200, "reg")
				if n := h.snd.count(status(200)); n != 1 {
					t.Errorf("the new request's 200 sent %d times, want 1", n)
				}
			}
		})
	}
}

// TestFingerprint: what tells an RFC 2543 retransmission from a new
// request. Via received and rport, which elements on the way stamp, do
// not count; anything else does.
func TestFingerprint(t *testing.T) {
	base := rq{method: "REGISTER", noBranch: true}
	tests := []struct {
		name string
		r    rq
		same bool
	}{
		{"same bytes", base, true},
		{"received and rport stamped", rq{method: "REGISTER", noBranch: true, sentBy: "192.0.2.1:5060;received=198.51.100.1;rport=4000"}, true},
		{"rport without value", rq{method: "REGISTER", noBranch: true, sentBy: "192.0.2.1:5060;rport"}, true},
		{"another Via parameter", rq{method: "REGISTER", noBranch: true, sentBy: "192.0.2.1:5060;maddr=192.0.2.9"}, false},
		{"a header more", rq{method: "REGISTER", noBranch: true, extra: "Expires: 0\r\n"}, false},
		{"another To tag", rq{method: "REGISTER", noBranch: true, toTag: "x"}, false},
	}
	want := fingerprint(base.msg(t))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := fingerprint(tt.r.msg(t)) == want; got != tt.same {
				t.Errorf("same fingerprint: %v, want %v", got, tt.same)
			}
		})
	}
}

// TestMatchRFC2543ACK: with no magic cookie, an ACK matches the INVITE by
// Request-URI, From tag, Call-ID, CSeq number and top Via, and its To tag
// must be the one of the response sent (§17.2.3).
func TestMatchRFC2543ACK(t *testing.T) {
	h := newHarness(t, Config{})
	inv := rq{method: "INVITE", branch: "1234"}
	h.l.HandleMessage(inv.in(t))
	tx := h.core.tx(0)
	respond(t, tx, 486, "uas")
	h.l.HandleMessage(rq{method: "ACK", branch: "1234", toTag: "someone-else"}.in(t))
	if _, acks, _ := h.core.counts(); acks != 1 || tx.State() != Completed {
		t.Fatalf("ACK with another To tag: %d ACKs to Core, state %v", acks, tx.State())
	}
	h.l.HandleMessage(rq{method: "ACK", branch: "1234", toTag: "uas"}.in(t))
	if _, acks, _ := h.core.counts(); acks != 1 || tx.State() != Confirmed {
		t.Fatalf("ACK: %d ACKs to Core, state %v", acks, tx.State())
	}
}

// TestMatchACKWithoutTransaction: an ACK with a new branch (the ACK for a
// 2xx) goes to the Core, as does one for an unknown transaction.
func TestMatchACKWithoutTransaction(t *testing.T) {
	h := newHarness(t, Config{})
	h.l.HandleMessage(invite.in(t))
	respond(t, h.core.tx(0), 200, "uas")
	h.l.HandleMessage(rq{method: "ACK", branch: "z9hG4bK-ack2xx", toTag: "uas"}.in(t))
	if r, acks, _ := h.core.counts(); r != 1 || acks != 1 {
		t.Fatalf("Core saw %d requests and %d ACKs", r, acks)
	}
	if h.l.Stats().ServerCreated != 1 {
		t.Fatal("an ACK created a transaction")
	}
}

// TestCancel: a CANCEL starts its own transaction, FindInviteForCancel
// finds the INVITE by the CANCEL's branch (§9.2), and the INVITE is
// marked cancelled and its OnCancel hook runs before the Core sees the
// CANCEL; once a final response went out, a CANCEL has no effect, and
// over UDP the INVITE has left the table for a linger store, where
// FindInviteForCancel does not look.
func TestCancel(t *testing.T) {
	tests := []struct {
		name       string
		branch     string
		finalFirst bool
		heap       bool // no linger stores: the Completed INVITE stays in the table
		want       bool
	}{
		{"RFC 3261", "z9hG4bK-inv", false, false, true},
		{"RFC 2543", "oldstyle", false, false, true},
		{"after final", "z9hG4bK-inv", true, false, false},
		{"after final on the heap", "z9hG4bK-inv", true, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Config{heapLinger: tt.heap})
			h.l.HandleMessage(rq{method: "INVITE", branch: tt.branch}.in(t))
			inv := h.core.tx(0)
			hooked := 0
			inv.OnCancel(func() { hooked++ })
			if tt.finalFirst {
				respond(t, inv, 486, "uas")
			}
			var found *ServerTx
			h.core.onRequest = func(tx *ServerTx, in *transport.Incoming) {
				if tx.Method() == "CANCEL" {
					found = h.l.FindInviteForCancel(tx.Request())
					if tt.want && hooked != 1 {
						t.Error("OnCancel did not run before the Core saw the CANCEL")
					}
					respond(t, tx, 200, "uas")
				}
			}
			h.l.HandleMessage(rq{method: "CANCEL", branch: tt.branch}.in(t))
			if parked := tt.finalFirst && !tt.heap; (found == inv) == parked || parked && found != nil {
				t.Fatalf("FindInviteForCancel = %v, want the INVITE unless parked (%v)", found, parked)
			}
			if inv.Cancelled() != tt.want || (hooked == 1) != tt.want {
				t.Fatalf("Cancelled %v hook %d, want %v", inv.Cancelled(), hooked, tt.want)
			}
			// A CANCEL retransmission is absorbed by the CANCEL transaction.
			h.l.HandleMessage(rq{method: "CANCEL", branch: tt.branch}.in(t))
			if r, _, _ := h.core.counts(); r != 2 || h.snd.count(status(200)) != 2 || hooked > 1 {
				t.Fatalf("Core saw %d requests; 200 sent %d times; hook ran %d times", r, h.snd.count(status(200)), hooked)
			}
		})
	}
	// A hook set after the CANCEL runs at once; a CANCEL for nothing
	// finds nothing.
	h := newHarness(t, Config{})
	h.l.HandleMessage(invite.in(t))
	h.l.HandleMessage(rq{method: "CANCEL"}.in(t))
	late := false
	h.core.tx(0).OnCancel(func() { late = true })
	if !late {
		t.Fatal("late OnCancel did not run")
	}
	if h.l.FindInviteForCancel(rq{method: "CANCEL", branch: "z9hG4bK-none"}.msg(t)) != nil {
		t.Fatal("found an INVITE for an unknown branch")
	}
}

// TestStrayResponse: responses matching no client transaction, by branch
// or by CSeq method (§17.1.3), go to ServeStrayResponse.
func TestStrayResponse(t *testing.T) {
	h := newHarness(t, Config{})
	rec := &recorder{clk: h.clk}
	req := clientReq(t, "INVITE")
	c, _ := h.l.Request(req, udpTarget, rec.fn)
	other := rq{method: "INVITE", branch: NewBranch(), sentBy: "192.0.2.10:5060"}.msg(t)
	h.answer(other, 180, transport.UDP)
	cancelLike := rq{method: "CANCEL", branch: c.Branch(), sentBy: "192.0.2.10:5060"}.msg(t)
	h.answer(cancelLike, 200, transport.UDP) // same branch, CSeq method CANCEL
	if _, _, strays := h.core.counts(); strays != 2 || len(rec.got()) != 0 {
		t.Fatalf("%d strays, TU got %v", strays, rec.got())
	}
}

// TestLimits: MaxInFlight counts only transactions without a final
// response, so done REGISTERs lingering for Timer J leave room under it;
// MaxTransactions counts those too, so that what a burst leaves behind is
// bounded. Past either, a new request gets a stateless 503 whose reason
// phrase names the bound, a retransmission of a lingering request is
// still answered, and once Timer J ends the lingering ones new requests
// are admitted again.
func TestLimits(t *testing.T) {
	for _, tc := range []struct {
		name              string
		cfg               Config
		rejectUnanswered  string // reason of the 503 while REGISTER 1 is in flight, or ""
		rejectWhileLinger string // reason while REGISTER 1 lingers, or ""
	}{
		{"in flight", Config{MaxInFlight: 1, MaxTransactions: -1}, reasonInFlight, ""},
		{"all live", Config{MaxInFlight: -1, MaxTransactions: 1}, reasonTotal, reasonTotal},
		{"all live, on the heap", Config{MaxInFlight: -1, MaxTransactions: 1, heapLinger: true}, reasonTotal, reasonTotal},
		{"no bounds", Config{MaxInFlight: -1, MaxTransactions: -1}, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, tc.cfg)
			admitted := 0
			try := func(branch, wantReason string) {
				t.Helper()
				before, _, _ := h.core.counts()
				h.l.HandleMessage(rq{method: "REGISTER", branch: branch}.in(t))
				after, _, _ := h.core.counts()
				if wantReason == "" {
					if after != before+1 {
						t.Fatalf("%s not admitted: %+v", branch, h.l.Stats())
					}
					admitted++
					return
				}
				last := h.snd.last()
				if after != before || last.StatusCode() != 503 || last.Reason() != wantReason || last.Header("Retry-After") != "5" {
					t.Fatalf("%s: got %d %q Retry-After %q, want 503 %q", branch, last.StatusCode(), last.Reason(), last.Header("Retry-After"), wantReason)
				}
			}
			try("z9hG4bK-1", "")
			try("z9hG4bK-2", tc.rejectUnanswered)
			respond(t, h.core.tx(0), 200, "reg")
			if st := h.core.tx(0).State(); st != Completed {
				t.Fatalf("state %v, want Completed (lingering for Timer J)", st)
			}
			try("z9hG4bK-3", tc.rejectWhileLinger)
			h.l.HandleMessage(rq{method: "REGISTER", branch: "z9hG4bK-1"}.in(t)) // retransmission
			if last := h.snd.last(); last.StatusCode() != 200 {
				t.Fatalf("retransmission of a lingering REGISTER got %d, want its 200", last.StatusCode())
			}
			for i := 1; i < admitted; i++ {
				respond(t, h.core.tx(i), 200, "reg")
			}
			h.advanceTo(time.Minute)
			if st := h.l.Stats(); st.InFlight != 0 || st.ServerActive != 0 || st.Lingering != 0 {
				t.Fatalf("after Timer J: stats %+v", st)
			}
			try("z9hG4bK-4", "")
		})
	}
}

// TestMemoryFull: while MemoryFull reports true a new request gets a
// stateless 503 naming the memory, with Retry-After, whatever the counts
// allow; a retransmission of an admitted one is still answered, and once
// it reports false again requests are admitted.
func TestMemoryFull(t *testing.T) {
	var full atomic.Bool
	h := newHarness(t, Config{MemoryFull: full.Load})
	h.l.HandleMessage(rq{method: "REGISTER", branch: "z9hG4bK-1"}.in(t))
	full.Store(true)
	h.l.HandleMessage(rq{method: "REGISTER", branch: "z9hG4bK-2"}.in(t))
	if last := h.snd.last(); last.StatusCode() != 503 || last.Reason() != reasonMemory || last.Header("Retry-After") != "5" {
		t.Fatalf("got %d %q Retry-After %q, want 503 %q", last.StatusCode(), last.Reason(), last.Header("Retry-After"), reasonMemory)
	}
	respond(t, h.core.tx(0), 200, "reg")
	h.l.HandleMessage(rq{method: "REGISTER", branch: "z9hG4bK-1"}.in(t)) // retransmission
	if last := h.snd.last(); last.StatusCode() != 200 {
		t.Fatalf("retransmission got %d, want its 200", last.StatusCode())
	}
	full.Store(false)
	h.l.HandleMessage(rq{method: "REGISTER", branch: "z9hG4bK-3"}.in(t))
	if r, _, _ := h.core.counts(); r != 2 || h.l.Stats().Rejected != 1 {
		t.Fatalf("Core saw %d requests, stats %+v; want 2 and one rejected", r, h.l.Stats())
	}
}

// TestLimit: past MaxTransactions a new request gets a stateless 503
// with Retry-After; retransmissions, ACKs, CANCELs of live INVITEs and
// client transactions still go through (§21.5.4).
func TestLimit(t *testing.T) {
	h := newHarness(t, Config{MaxTransactions: 2})
	h.l.HandleMessage(rq{method: "INVITE", branch: "z9hG4bK-1"}.in(t))
	h.l.HandleMessage(rq{method: "OPTIONS", branch: "z9hG4bK-2"}.in(t))
	h.l.HandleMessage(rq{method: "OPTIONS", branch: "z9hG4bK-3"}.in(t))
	if r, _, _ := h.core.counts(); r != 2 {
		t.Fatalf("Core saw %d requests, want 2", r)
	}
	resp := h.snd.last()
	if resp.StatusCode() != 503 || resp.Header("Retry-After") != "5" {
		t.Fatalf("got %d Retry-After %q", resp.StatusCode(), resp.Header("Retry-After"))
	}
	if to, _ := resp.To(); to.Tag() == "" {
		t.Fatal("503 without a To tag")
	}
	h.l.HandleMessage(rq{method: "INVITE", branch: "z9hG4bK-1"}.in(t)) // retransmission
	if h.snd.last().StatusCode() != 100 {
		t.Fatalf("retransmission got %d, want 100 again", h.snd.last().StatusCode())
	}
	h.l.HandleMessage(rq{method: "ACK", branch: "z9hG4bK-ack"}.in(t))
	if _, acks, _ := h.core.counts(); acks != 1 {
		t.Fatal("ACK did not pass")
	}
	h.l.HandleMessage(rq{method: "CANCEL", branch: "z9hG4bK-1"}.in(t))
	if r, _, _ := h.core.counts(); r != 3 || !h.core.tx(0).Cancelled() {
		t.Fatal("CANCEL of a live INVITE refused")
	}
	if _, err := h.l.Request(clientReq(t, "INVITE"), udpTarget, nil); err != nil {
		t.Fatalf("client transaction refused: %v", err)
	}
	st := h.l.Stats()
	if st.Rejected != 1 || st.ServerActive != 3 || st.ClientActive != 1 {
		t.Fatalf("stats %+v", st)
	}
	// Once transactions end, new ones are admitted again.
	respond(t, h.core.tx(1), 200, "uas")
	respond(t, h.core.tx(2), 200, "uas")
	h.advanceTo(time.Minute)
	h.l.HandleMessage(rq{method: "OPTIONS", branch: "z9hG4bK-4"}.in(t))
	if r, _, _ := h.core.counts(); r != 4 {
		t.Fatalf("not admitted after others ended: %+v", h.l.Stats())
	}
}

// TestDroppedRequests: a request without a usable Via cannot be matched
// or answered and is dropped.
func TestDroppedRequests(t *testing.T) {
	h := newHarness(t, Config{})
	m := rq{method: "OPTIONS"}.msg(t)
	m.RemoveHeader("Via")
	h.l.HandleMessage(&transport.Incoming{Msg: m, Proto: transport.UDP, Source: uacAddr})
	h.l.HandleMessage(nil)
	if r, _, _ := h.core.counts(); r != 0 || len(h.snd.all()) != 0 {
		t.Fatal("request without Via was handled")
	}
}

// TestConcurrentCopies: copies of one request read at once by several
// goroutines make exactly one transaction.
func TestConcurrentCopies(t *testing.T) {
	h := newHarness(t, Config{})
	const n = 16
	ins := make([]*transport.Incoming, n)
	for i := range ins {
		ins[i] = rq{method: "INVITE"}.in(t)
	}
	var wg sync.WaitGroup
	for _, in := range ins {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h.l.HandleMessage(in)
		}()
	}
	wg.Wait()
	if r, _, _ := h.core.counts(); r != 1 || h.l.Stats().ServerActive != 1 {
		t.Fatalf("Core saw %d requests, stats %+v", r, h.l.Stats())
	}
}

func TestNewBranch(t *testing.T) {
	seen := make(map[string]bool)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 1000 {
				b := NewBranch()
				mu.Lock()
				if seen[b] || !strings.HasPrefix(b, "z9hG4bK") || len(b) > 40 {
					t.Errorf("bad or repeated branch %q", b)
				}
				seen[b] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

// TestUnanswerableRequestGetsNoTransaction: a request without what a
// response must copy (here From, To and Call-ID, as RFC 4475's insuf) gets
// no transaction, so no 100 Trying goes out that no final response could
// follow.
func TestUnanswerableRequestGetsNoTransaction(t *testing.T) {
	h := newHarness(t, Config{})
	m, err := sip.Parse([]byte("INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-insuf\r\n" +
		"CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	h.l.HandleMessage(&transport.Incoming{Msg: m, Proto: transport.UDP, Source: uacAddr, Local: proxyAddr})
	if r, _, _ := h.core.counts(); r != 0 || len(h.snd.all()) != 0 || h.l.Stats().ServerCreated != 0 {
		t.Fatalf("Core saw %d requests, %d messages sent, %d transactions; want none", r, len(h.snd.all()), h.l.Stats().ServerCreated)
	}
}
