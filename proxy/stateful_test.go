package proxy

import (
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/parley-sip/parley/location"
	"github.com/parley-sip/parley/sip"
)

// Bindings of bob for the forking tests: phone i is reached at
// 198.51.100.(21+i):5060 and its contact is sip:bob@10.0.1.(1+i).
func phoneAddr(i int) string    { return "198.51.100." + strconv.Itoa(21+i) + ":5060" }
func phoneContact(i int) string { return "sip:bob@10.0.1." + strconv.Itoa(1+i) }

// forkFixture binds n phones for bob with the given q values (thousandths;
// 0 is 1.0) and sends the golden INVITE (or file) with edits.
func forkFixture(t *testing.T, cfg Config, qs []int, file string, edits ...string) (*fixture, *fakeServerTx) {
	t.Helper()
	f := newFixture(t, cfg)
	for i, q := range qs {
		f.bind("sip:bob@example.com", location.Binding{Contact: phoneContact(i), Source: ap(phoneAddr(i)), Q: q})
	}
	tx := f.serve(req(t, file, edits...))
	if got := tx.statuses(); len(got) != 0 {
		t.Fatalf("proxy answered %q, want the request forwarded", got)
	}
	return f, tx
}

// branchOf returns the one request of method sent to phone i.
func (f *fixture) branchOf(i int, method string) *clientTx {
	f.t.Helper()
	got := f.txs.to(method, phoneAddr(i))
	if len(got) != 1 {
		f.t.Fatalf("%d %s requests to phone %d, want 1", len(got), method, i)
	}
	return got[0]
}

// cancelsTo counts the CANCELs sent to phone i.
func (f *fixture) cancelsTo(i int) int { return len(f.txs.to("CANCEL", phoneAddr(i))) }

// checkCancel checks a CANCEL the proxy made for a branch (§9.1): the
// INVITE's Request-URI, its top Via only (same branch), its From, To,
// Call-ID, CSeq number and Route, sent where the INVITE went.
func checkCancel(t *testing.T, cancel, invite *clientTx) {
	t.Helper()
	if cancel.req.Method() != "CANCEL" || cancel.req.RequestURI() != invite.req.RequestURI() {
		t.Errorf("CANCEL request line = %s %s, want CANCEL %s", cancel.req.Method(), cancel.req.RequestURI(), invite.req.RequestURI())
	}
	if !sameDst(cancel.dst, invite.dst) {
		t.Errorf("CANCEL sent to %+v, want %+v like its INVITE", cancel.dst, invite.dst)
	}
	checkHeaders(t, "CANCEL", cancel.req, map[string][]string{
		"Via":          lines(invite.req, "Via")[:1],
		"Route":        lines(invite.req, "Route"),
		"From":         lines(invite.req, "From"),
		"To":           lines(invite.req, "To"),
		"Call-ID":      lines(invite.req, "Call-ID"),
		"CSeq":         {"1 CANCEL"},
		"Max-Forwards": {"70"},
		"Record-Route": nil,
		"Contact":      nil,
	})
}

// TestParallelFork is §16.6 forking to every binding at once and §16.7
// steps 5 and 10: a 2xx goes upstream at once, and the other branches are
// cancelled: at once when they have sent a provisional response, else as
// soon as one arrives (§9.1).
func TestParallelFork(t *testing.T) {
	t.Run("both branches started with distinct branches", func(t *testing.T) {
		f, _ := forkFixture(t, defaultConfig(), []int{0, 0}, "invite.sip")
		a, b := f.branchOf(0, "INVITE"), f.branchOf(1, "INVITE")
		ba := ourVia(t, "branch 0", a.req, "UDP", "192.0.2.1:5060")
		bb := ourVia(t, "branch 1", b.req, "UDP", "192.0.2.1:5060")
		if ba == bb {
			t.Errorf("both branches use branch %q", ba)
		}
		if a.req.RequestURI() != phoneContact(0) || b.req.RequestURI() != phoneContact(1) {
			t.Errorf("Request-URIs = %s, %s, want the two contacts", a.req.RequestURI(), b.req.RequestURI())
		}
	})

	t.Run("200 upstream at once, CANCEL at once to a ringing branch", func(t *testing.T) {
		f, tx := forkFixture(t, defaultConfig(), []int{0, 0}, "invite.sip")
		a, b := f.branchOf(0, "INVITE"), f.branchOf(1, "INVITE")
		a.deliver(t, 180, "ta")
		if got := tx.statuses(); !slices.Equal(got, []string{"180 Ringing"}) {
			t.Fatalf("upstream after 180 = %q, want [180 Ringing]", got)
		}
		b.deliver(t, 200, "tb", "Contact", "<sip:bob@10.0.1.2>")
		if got := tx.statuses(); !slices.Equal(got, []string{"180 Ringing", "200 OK"}) {
			t.Fatalf("upstream after 200 = %q, want [180 Ringing, 200 OK]", got)
		}
		checkHeaders(t, "200 upstream", tx.responses()[1], map[string][]string{
			"Via": {uacVia},
			"To":  {"Bob <sip:bob@example.com>;tag=tb"},
			// bob answered from another address than his Contact's: NAT (nat.go).
			"Contact": {"<sip:bob@10.0.1.2;alias=" + phoneAddrTilde(1) + ">"},
			"CSeq":    {"1 INVITE"},
		})
		if f.cancelsTo(0) != 1 || f.cancelsTo(1) != 0 {
			t.Fatalf("CANCELs to phones = %d, %d, want 1, 0", f.cancelsTo(0), f.cancelsTo(1))
		}
		checkCancel(t, f.branchOf(0, "CANCEL"), a)
		a.deliver(t, 487, "ta")
		if got := tx.statuses(); len(got) != 2 {
			t.Errorf("upstream after the 487 = %q, want the 487 absorbed", got)
		}
	})

	t.Run("CANCEL waits for a provisional from a silent branch", func(t *testing.T) {
		f, tx := forkFixture(t, defaultConfig(), []int{0, 0}, "invite.sip")
		a, b := f.branchOf(0, "INVITE"), f.branchOf(1, "INVITE")
		b.deliver(t, 200, "tb")
		if got := tx.statuses(); !slices.Equal(got, []string{"200 OK"}) {
			t.Fatalf("upstream = %q, want [200 OK]", got)
		}
		if n := f.cancelsTo(0); n != 0 {
			t.Fatalf("%d CANCELs sent before branch 0 answered, want 0 (§9.1)", n)
		}
		a.deliver(t, 180, "ta")
		if n := f.cancelsTo(0); n != 1 {
			t.Fatalf("%d CANCELs sent after branch 0's 180, want 1", n)
		}
		checkCancel(t, f.branchOf(0, "CANCEL"), a)
		if got := tx.statuses(); !slices.Equal(got, []string{"200 OK"}) {
			t.Errorf("upstream = %q, want the late 180 not forwarded after the 200", got)
		}
	})

	t.Run("100 Trying is enough to CANCEL at once", func(t *testing.T) {
		f, tx := forkFixture(t, defaultConfig(), []int{0, 0}, "invite.sip")
		a, b := f.branchOf(0, "INVITE"), f.branchOf(1, "INVITE")
		a.deliver(t, 100, "")
		b.deliver(t, 200, "tb")
		if n := f.cancelsTo(0); n != 1 {
			t.Fatalf("%d CANCELs to branch 0, want 1", n)
		}
		if got := tx.statuses(); !slices.Equal(got, []string{"200 OK"}) {
			t.Errorf("upstream = %q, want [200 OK] (100 is hop by hop)", got)
		}
	})

	t.Run("a second 2xx to an INVITE is forwarded too", func(t *testing.T) {
		f, tx := forkFixture(t, defaultConfig(), []int{0, 0}, "invite.sip")
		a, b := f.branchOf(0, "INVITE"), f.branchOf(1, "INVITE")
		a.deliver(t, 180, "ta")
		b.deliver(t, 200, "tb")
		a.deliver(t, 200, "ta") // crossed our CANCEL
		if got := tx.statuses(); !slices.Equal(got, []string{"180 Ringing", "200 OK", "200 OK"}) {
			t.Errorf("upstream = %q, want both 200s (§16.7 step 5)", got)
		}
	})

	t.Run("a finished context lets go of the messages and still passes on 2xx", func(t *testing.T) {
		f, tx := forkFixture(t, defaultConfig(), []int{0, 0}, "invite.sip")
		a, b := f.branchOf(0, "INVITE"), f.branchOf(1, "INVITE")
		a.deliver(t, 180, "ta")
		b.deliver(t, 200, "tb")
		rc := f.onlyContext()
		if rc.r == nil {
			t.Fatal("settled while branch 0 was still pending")
		}
		a.deliver(t, 487, "ta")
		if rc.r != nil || rc.best != nil {
			t.Fatal("the context still holds the request after the last branch ended")
		}
		for i, br := range rc.branches {
			if sent, _ := br.flight.Sent(); sent != nil {
				t.Fatalf("branch %d still holds its request", i)
			}
		}
		b.deliver(t, 200, "tb") // a retransmission: the UAS has no ACK yet
		if got := tx.statuses(); !slices.Equal(got, []string{"180 Ringing", "200 OK", "200 OK"}) {
			t.Errorf("upstream = %q, want the retransmitted 200 passed on (§16.7 step 5)", got)
		}
	})
}

// onlyContext returns the one INVITE response context in the CANCEL index.
func (f *fixture) onlyContext() *responseContext {
	f.t.Helper()
	var found []*responseContext
	f.p.contexts.Range(func(_, v any) bool { found = append(found, v.(*responseContext)); return true })
	if len(found) != 1 {
		f.t.Fatalf("%d response contexts, want 1", len(found))
	}
	return found[0]
}

// TestProvisionalResponses is §16.7 step 5: provisional responses other
// than 100 are forwarded at once, without our Via; 100 is hop by hop.
func TestProvisionalResponses(t *testing.T) {
	f, tx := forkFixture(t, defaultConfig(), []int{0}, "invite.sip")
	a := f.branchOf(0, "INVITE")
	a.deliver(t, 100, "")
	if got := tx.statuses(); len(got) != 0 {
		t.Fatalf("upstream after 100 = %q, want nothing", got)
	}
	a.deliver(t, 180, "ta")
	a.deliver(t, 183, "ta", "Content-Type", "application/sdp")
	a.deliver(t, 200, "ta")
	want := []string{"180 Ringing", "183 Session Progress", "200 OK"}
	if got := tx.statuses(); !slices.Equal(got, want) {
		t.Fatalf("upstream = %q, want %q", got, want)
	}
	for _, r := range tx.responses() {
		checkHeaders(t, status(r), r, map[string][]string{
			"Via":     {uacVia},
			"From":    {"Alice <sip:alice@example.com>;tag=a1"},
			"To":      {"Bob <sip:bob@example.com>;tag=ta"},
			"Call-ID": {"c1@198.51.100.7"},
			"CSeq":    {"1 INVITE"},
		})
	}
}

// step is one response from phone branch, in a scenario of TestBestResponse.
type step struct {
	branch int
	code   int
}

// TestBestResponse is §16.7 step 6: when every branch has a final
// response and none was a 2xx, the best goes upstream: a 6xx if any (and a
// 6xx cancels the other branches, step 10), else the lowest class,
// preferring 401, 407, 415, 420 and 484 within 4xx; a 503 goes upstream as
// a 500. Nothing final goes upstream before the last branch has answered.
func TestBestResponse(t *testing.T) {
	tests := []struct {
		name     string
		phones   int
		steps    []step
		upstream []string // every response sent upstream, in order
		cancels  []int    // CANCELs sent to each phone
	}{
		{"lone 486", 1, []step{{0, 486}}, []string{"486 Busy Here"}, []int{0}},
		{"lone 404", 1, []step{{0, 404}}, []string{"404 Not Found"}, []int{0}},
		{"lowest class: 302 over 486", 2, []step{{0, 486}, {1, 302}}, []string{"302 Moved Temporarily"}, []int{0, 0}},
		{"lowest class: 486 over 500", 2, []step{{0, 500}, {1, 486}}, []string{"486 Busy Here"}, []int{0, 0}},
		{"lowest class: 404 over 503", 2, []step{{0, 404}, {1, 503}}, []string{"404 Not Found"}, []int{0, 0}},
		{"401 preferred in 4xx", 2, []step{{0, 404}, {1, 401}}, []string{"401 Unauthorized"}, []int{0, 0}},
		{"401 preferred when first", 2, []step{{0, 401}, {1, 404}}, []string{"401 Unauthorized"}, []int{0, 0}},
		{"407 preferred in 4xx", 2, []step{{0, 486}, {1, 407}}, []string{"407 Proxy Authentication Required"}, []int{0, 0}},
		{"415 preferred in 4xx", 2, []step{{0, 480}, {1, 415}}, []string{"415 Unsupported Media Type"}, []int{0, 0}},
		{"420 preferred in 4xx", 2, []step{{0, 488}, {1, 420}}, []string{"420 Bad Extension"}, []int{0, 0}},
		{"484 preferred in 4xx", 2, []step{{0, 404}, {1, 484}}, []string{"484 Address Incomplete"}, []int{0, 0}},
		{"6xx beats a lower class", 2, []step{{0, 302}, {1, 603}}, []string{"603 Decline"}, []int{0, 0}},
		{"6xx beats a later 4xx", 2, []step{{0, 603}, {1, 180}, {1, 486}}, []string{"180 Ringing", "603 Decline"}, []int{0, 1}},
		{"6xx cancels a ringing branch and waits for its 487", 2,
			[]step{{0, 180}, {1, 600}, {0, 487}}, []string{"180 Ringing", "600 Busy Everywhere"}, []int{1, 0}},
		{"6xx cancels a silent branch once it rings", 3,
			[]step{{1, 180}, {0, 604}, {2, 183}, {1, 487}, {2, 487}},
			[]string{"180 Ringing", "183 Session Progress", "604 Does Not Exist Anywhere"}, []int{0, 1, 1}},
		{"lone 503 becomes 500", 1, []step{{0, 503}}, []string{"500 Server Internal Error"}, []int{0}},
		{"503s only become 500", 2, []step{{0, 503}, {1, 503}}, []string{"500 Server Internal Error"}, []int{0, 0}},
		{"nothing upstream while a branch is pending", 2, []step{{0, 486}}, nil, []int{0, 0}},
		{"2xx after failures still wins", 3, []step{{0, 486}, {1, 603}, {2, 200}}, []string{"200 OK"}, []int{0, 0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, tx := forkFixture(t, defaultConfig(), make([]int, tt.phones), "invite.sip")
			for _, s := range tt.steps {
				f.branchOf(s.branch, "INVITE").deliver(t, s.code, fmt.Sprintf("t%d", s.branch))
			}
			if got := tx.statuses(); !slices.Equal(got, tt.upstream) {
				t.Errorf("upstream = %q, want %q", got, tt.upstream)
			}
			for i, want := range tt.cancels {
				if got := f.cancelsTo(i); got != want {
					t.Errorf("CANCELs to phone %d = %d, want %d", i, got, want)
				}
			}
			for _, r := range tx.responses() {
				if got := lines(r, "Via"); !slices.Equal(got, []string{uacVia}) {
					t.Errorf("%s upstream has Via %q, want only the UAC's", status(r), got)
				}
			}
		})
	}
}

// TestChallengesMerged is §16.7 step 7: when the best response is a 401 or
// 407, every WWW-Authenticate and Proxy-Authenticate of every 401 and 407
// received goes into it unmodified.
func TestChallengesMerged(t *testing.T) {
	chA := `Digest realm="a.example", nonce="n1", algorithm=MD5, qop="auth"`
	chA2 := `Digest realm="a.example", nonce="n1s", algorithm=SHA-256, qop="auth"`
	chB := `Digest realm="b.example", nonce="n2", algorithm=SHA-256, qop="auth"`
	t.Run("one branch's 401 passes unchanged", func(t *testing.T) {
		f, tx := forkFixture(t, defaultConfig(), []int{0}, "invite.sip")
		f.branchOf(0, "INVITE").deliver(t, 401, "ta", "WWW-Authenticate", chA2, "WWW-Authenticate", chA)
		resps := tx.responses()
		if len(resps) != 1 || resps[0].StatusCode() != 401 {
			t.Fatalf("upstream = %q, want one 401", tx.statuses())
		}
		checkHeaders(t, "401 upstream", resps[0], map[string][]string{
			"WWW-Authenticate":   {chA2, chA},
			"Proxy-Authenticate": nil,
		})
	})
	t.Run("401 and 407 of two branches", func(t *testing.T) {
		f, tx := forkFixture(t, defaultConfig(), []int{0, 0, 0}, "invite.sip")
		f.branchOf(0, "INVITE").deliver(t, 404, "ta")
		f.branchOf(1, "INVITE").deliver(t, 401, "tb", "WWW-Authenticate", chA)
		f.branchOf(2, "INVITE").deliver(t, 407, "tc", "Proxy-Authenticate", chB)
		resps := tx.responses()
		if len(resps) != 1 || resps[0].StatusCode()/100 != 4 || (resps[0].StatusCode() != 401 && resps[0].StatusCode() != 407) {
			t.Fatalf("upstream = %q, want one 401 or 407", tx.statuses())
		}
		checkHeaders(t, status(resps[0])+" upstream", resps[0], map[string][]string{
			"WWW-Authenticate":   {chA},
			"Proxy-Authenticate": {chB},
			"Via":                {uacVia},
		})
	})
}

// TestSerialForkByQ is §16.6 with q-values: in auto mode contacts with
// different q are tried one group at a time, highest q first; the next is
// tried only when the previous failed, and never after a 2xx or 6xx.
func TestSerialForkByQ(t *testing.T) {
	t.Run("second contact only after the first fails", func(t *testing.T) {
		f, tx := forkFixture(t, defaultConfig(), []int{500, 1000}, "invite.sip")
		if n := len(f.txs.all("INVITE")); n != 1 {
			t.Fatalf("%d INVITEs sent at first, want 1 (serial by q)", n)
		}
		first := f.branchOf(1, "INVITE") // q=1.0 first
		first.deliver(t, 180, "t1")
		if n := len(f.txs.all("INVITE")); n != 1 {
			t.Fatalf("%d INVITEs after a 180, want still 1", n)
		}
		first.deliver(t, 486, "t1")
		second := f.branchOf(0, "INVITE")
		if second.req.RequestURI() != phoneContact(0) {
			t.Errorf("second branch Request-URI = %s, want %s", second.req.RequestURI(), phoneContact(0))
		}
		if got := tx.statuses(); !slices.Equal(got, []string{"180 Ringing"}) {
			t.Fatalf("upstream = %q, want only the 180 while the next contact is tried", got)
		}
		second.deliver(t, 200, "t0")
		if got := tx.statuses(); !slices.Equal(got, []string{"180 Ringing", "200 OK"}) {
			t.Errorf("upstream = %q, want [180 Ringing, 200 OK]", got)
		}
	})
	t.Run("all contacts fail: best of all", func(t *testing.T) {
		f, tx := forkFixture(t, defaultConfig(), []int{500, 1000}, "invite.sip")
		f.branchOf(1, "INVITE").deliver(t, 486, "t1")
		f.branchOf(0, "INVITE").deliver(t, 401, "t0")
		if got := tx.statuses(); !slices.Equal(got, []string{"401 Unauthorized"}) {
			t.Errorf("upstream = %q, want [401 Unauthorized]", got)
		}
	})
	t.Run("a 6xx ends the search", func(t *testing.T) {
		f, tx := forkFixture(t, defaultConfig(), []int{500, 1000}, "invite.sip")
		f.branchOf(1, "INVITE").deliver(t, 603, "t1")
		if n := len(f.txs.all("INVITE")); n != 1 {
			t.Errorf("%d INVITEs sent, want the lower-q contact never tried after a 6xx", n)
		}
		if got := tx.statuses(); !slices.Equal(got, []string{"603 Decline"}) {
			t.Errorf("upstream = %q, want [603 Decline]", got)
		}
	})
	t.Run("equal q in auto mode is parallel", func(t *testing.T) {
		f, _ := forkFixture(t, defaultConfig(), []int{700, 700}, "invite.sip")
		if n := len(f.txs.all("INVITE")); n != 2 {
			t.Errorf("%d INVITEs sent, want 2", n)
		}
	})
	t.Run("parallel mode ignores q", func(t *testing.T) {
		cfg := defaultConfig()
		cfg.Fork = ForkParallel
		f, _ := forkFixture(t, cfg, []int{500, 1000}, "invite.sip")
		if n := len(f.txs.all("INVITE")); n != 2 {
			t.Errorf("%d INVITEs sent, want 2", n)
		}
	})
	t.Run("serial mode tries equal q one by one", func(t *testing.T) {
		cfg := defaultConfig()
		cfg.Fork = ForkSerial
		f, _ := forkFixture(t, cfg, []int{0, 0}, "invite.sip")
		txs := f.txs.all("INVITE")
		if len(txs) != 1 {
			t.Fatalf("%d INVITEs sent, want 1", len(txs))
		}
		txs[0].deliver(t, 480, "x")
		if n := len(f.txs.all("INVITE")); n != 2 {
			t.Errorf("%d INVITEs after the first failed, want 2", n)
		}
	})
}

// TestNonInviteForking: a forked MESSAGE. §16.7 step 5: after a final
// response went upstream only 2xx responses to an INVITE are forwarded,
// so a second 200 to a MESSAGE is not; and once a final response has been
// sent the search is over, so no lower-q contact is tried after it (the
// user would get the message twice).
func TestNonInviteForking(t *testing.T) {
	t.Run("second 200 not forwarded", func(t *testing.T) {
		f, tx := forkFixture(t, defaultConfig(), []int{0, 0}, "message.sip")
		f.branchOf(0, "MESSAGE").deliver(t, 200, "t0")
		f.branchOf(1, "MESSAGE").deliver(t, 200, "t1")
		if got := tx.statuses(); !slices.Equal(got, []string{"200 OK"}) {
			t.Errorf("upstream = %q, want one 200 OK", got)
		}
		if n := len(f.txs.all("CANCEL")); n != 0 {
			t.Errorf("%d CANCELs for a MESSAGE, want none (§9.1)", n)
		}
	})
	t.Run("no new branch after a 200 went upstream", func(t *testing.T) {
		f, tx := forkFixture(t, defaultConfig(), []int{1000, 1000, 500}, "message.sip")
		if n := len(f.txs.all("MESSAGE")); n != 2 {
			t.Fatalf("%d MESSAGEs sent at first, want the two q=1.0 contacts", n)
		}
		f.branchOf(0, "MESSAGE").deliver(t, 200, "t0")
		f.branchOf(1, "MESSAGE").deliver(t, 480, "t1")
		if n := len(f.txs.to("MESSAGE", phoneAddr(2))); n != 0 {
			t.Errorf("the q=0.5 contact got the MESSAGE after a 200 went upstream")
		}
		if got := tx.statuses(); !slices.Equal(got, []string{"200 OK"}) {
			t.Errorf("upstream = %q, want [200 OK]", got)
		}
	})
}

// TestTimerC is §16.6 step 11 and §16.8: an INVITE branch that stays
// provisional too long is cancelled; one that never answered is treated as
// a 408, which then goes upstream. The fake clock makes every step exact.
func TestTimerC(t *testing.T) {
	cfg := defaultConfig()
	cfg.TimerC = 50 * time.Millisecond

	t.Run("provisional branch is cancelled", func(t *testing.T) {
		f, tx := forkFixture(t, cfg, []int{0}, "invite.sip")
		a := f.branchOf(0, "INVITE")
		a.deliver(t, 180, "ta")
		f.clock.Advance(cfg.TimerC - time.Millisecond)
		if n := f.cancelsTo(0); n != 0 {
			t.Fatalf("%d CANCELs before Timer C fired, want 0", n)
		}
		f.clock.Advance(time.Millisecond)
		if n := f.cancelsTo(0); n != 1 {
			t.Fatalf("%d CANCELs when Timer C fired, want 1", n)
		}
		checkCancel(t, f.branchOf(0, "CANCEL"), a)
		if a.terminated.Load() {
			t.Errorf("the ringing branch's transaction was terminated; it must wait for the 487")
		}
		if got := tx.statuses(); !slices.Equal(got, []string{"180 Ringing"}) {
			t.Fatalf("upstream = %q, want only the 180 until the branch ends", got)
		}
		a.deliver(t, 487, "ta")
		if got := tx.statuses(); !slices.Equal(got, []string{"180 Ringing", "487 Request Terminated"}) {
			t.Errorf("upstream = %q, want [180 Ringing, 487 Request Terminated]", got)
		}
	})

	t.Run("CANCEL of Timer C unanswered: the branch still ends", func(t *testing.T) {
		// §16.8: when Timer C fires the proxy MUST either reset it or
		// terminate the client transaction; with a provisional it also
		// CANCELs. A UAS that ignores the CANCEL must not keep the call
		// (and the response context) alive for ever: when Timer C fires
		// again the branch is terminated, and with no final response in the
		// context a 408 goes upstream (§16.7 step 6).
		f, tx := forkFixture(t, cfg, []int{0}, "invite.sip")
		a := f.branchOf(0, "INVITE")
		a.deliver(t, 180, "ta")
		f.clock.Advance(cfg.TimerC)
		if n := f.cancelsTo(0); n != 1 {
			t.Fatalf("%d CANCELs when Timer C fired, want 1", n)
		}
		f.clock.Advance(cfg.TimerC)
		if got := tx.statuses(); !slices.Equal(got, []string{"180 Ringing", "408 Request Timeout"}) {
			t.Errorf("upstream = %q, want [180 Ringing, 408 Request Timeout]", got)
		}
		if !a.terminated.Load() {
			t.Errorf("the branch's transaction was never terminated")
		}
	})

	t.Run("silent branch times out with 408", func(t *testing.T) {
		f, tx := forkFixture(t, cfg, []int{0}, "invite.sip")
		a := f.branchOf(0, "INVITE")
		f.clock.Advance(cfg.TimerC)
		resps := tx.responses()
		if len(resps) != 1 || status(resps[0]) != "408 Request Timeout" {
			t.Fatalf("upstream = %q, want [408 Request Timeout]", tx.statuses())
		}
		checkHeaders(t, "408 upstream", resps[0], map[string][]string{
			"Via":     {uacVia},
			"From":    {"Alice <sip:alice@example.com>;tag=a1"},
			"Call-ID": {"c1@198.51.100.7"},
			"CSeq":    {"1 INVITE"},
		})
		if !a.terminated.Load() {
			t.Errorf("the silent branch's transaction was not terminated")
		}
		if n := f.cancelsTo(0); n != 0 {
			t.Errorf("%d CANCELs to a branch that never answered, want 0", n)
		}
	})

	t.Run("a provisional restarts Timer C", func(t *testing.T) {
		slow := cfg
		slow.TimerC = 300 * time.Millisecond
		f, _ := forkFixture(t, slow, []int{0}, "invite.sip")
		a := f.branchOf(0, "INVITE")
		for range 6 { // 6 × 100ms: twice Timer C, never 300ms without a 183
			f.clock.Advance(100 * time.Millisecond)
			a.deliver(t, 183, "ta")
		}
		if n := f.cancelsTo(0); n != 0 {
			t.Errorf("%d CANCELs while the branch kept sending provisionals, want 0", n)
		}
		if a.terminated.Load() {
			t.Errorf("branch terminated while it kept sending provisionals")
		}
		f.clock.Advance(300 * time.Millisecond)
		if n := f.cancelsTo(0); n != 1 {
			t.Errorf("%d CANCELs once the provisionals stopped for Timer C, want 1", n)
		}
	})
}

// TestLocalFinalResponsesHaveToTag: a final response the proxy makes up
// rather than forwards (the 408 of §16.7 step 6/§16.8, the 500 that stands
// for a transport error, §16.9) is the proxy acting as a UAS, so its To
// carries a tag (§8.2.6.2), as every local response of the stages does.
func TestLocalFinalResponsesHaveToTag(t *testing.T) {
	t.Run("408 from Timer C", func(t *testing.T) {
		cfg := defaultConfig()
		cfg.TimerC = 20 * time.Millisecond
		f, tx := forkFixture(t, cfg, []int{0}, "invite.sip")
		f.clock.Advance(cfg.TimerC)
		if got := tx.statuses(); !slices.Equal(got, []string{"408 Request Timeout"}) {
			t.Fatalf("upstream = %q, want [408 Request Timeout]", got)
		}
		checkToTagged(t, tx.responses()[0])
	})
	t.Run("500 for an unreachable branch", func(t *testing.T) {
		f := newFixture(t, defaultConfig())
		f.txs.fail[ap(phoneAddr(0))] = true
		f.bind("sip:bob@example.com", location.Binding{Contact: phoneContact(0), Source: ap(phoneAddr(0))})
		tx := f.serve(req(t, "invite.sip"))
		if got := tx.statuses(); !slices.Equal(got, []string{"500 Destination Unreachable"}) {
			t.Fatalf("upstream = %q, want [500 Destination Unreachable] (§16.9: a transport error is a 503, and the phrase says which)", got)
		}
		checkToTagged(t, tx.responses()[0])
	})
	t.Run("500 for a domain that does not resolve", func(t *testing.T) {
		f := newFixture(t, defaultConfig()) // its resolver fails every name
		tx := f.serve(req(t, "invite.sip", "RURI sip:carol@mistyped.example"))
		deadline := time.Now().Add(5 * time.Second)
		for len(tx.statuses()) == 0 && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond) // the lookup runs off the serving goroutine
		}
		if got := tx.statuses(); !slices.Equal(got, []string{"500 Destination Unreachable"}) {
			t.Fatalf("upstream = %q, want [500 Destination Unreachable]: no server was reached, the proxy did not fail", got)
		}
		checkToTagged(t, tx.responses()[0])
	})
}

func checkToTagged(t *testing.T, r *sip.Message) {
	t.Helper()
	if to, err := r.To(); err != nil || to.Tag() == "" {
		t.Errorf("%s upstream: To %q has no tag", status(r), r.Header("To"))
	}
}

// TestTransportErrorOnOneBranch is §16.9: a branch that cannot be sent
// counts as a 503 from it; the others go on, and their answer wins.
func TestTransportErrorOnOneBranch(t *testing.T) {
	f := newFixture(t, defaultConfig())
	f.txs.fail[ap(phoneAddr(0))] = true
	for i := range 2 {
		f.bind("sip:bob@example.com", location.Binding{Contact: phoneContact(i), Source: ap(phoneAddr(i))})
	}
	tx := f.serve(req(t, "invite.sip"))
	if got := tx.statuses(); len(got) != 0 {
		t.Fatalf("upstream = %q before the live branch answered, want nothing", got)
	}
	f.branchOf(1, "INVITE").deliver(t, 486, "t1")
	if got := tx.statuses(); !slices.Equal(got, []string{"486 Busy Here"}) {
		t.Errorf("upstream = %q, want [486 Busy Here]", got)
	}
}

// TestUpstreamCancel is §16.10: a CANCEL matching an INVITE in progress is
// answered 200 at once and cancels every pending branch; the INVITE ends
// with the branches' 487. A CANCEL that matches nothing gets 481.
func TestUpstreamCancel(t *testing.T) {
	t.Run("CANCEL of an INVITE in progress", func(t *testing.T) {
		f, inv := forkFixture(t, defaultConfig(), []int{0, 0}, "invite.sip")
		a, b := f.branchOf(0, "INVITE"), f.branchOf(1, "INVITE")
		a.deliver(t, 180, "ta")
		cm := req(t, "cancel.sip")
		ctx := f.serve(cm)
		resps := ctx.responses()
		if len(resps) != 1 {
			t.Fatalf("responses to CANCEL = %q, want one 200", ctx.statuses())
		}
		checkLocalResponse(t, f, cm, resps[0], 200, "OK", nil)
		if f.cancelsTo(0) != 1 || f.cancelsTo(1) != 0 {
			t.Fatalf("CANCELs = %d, %d, want 1 to the ringing branch, none yet to the silent one", f.cancelsTo(0), f.cancelsTo(1))
		}
		checkCancel(t, f.branchOf(0, "CANCEL"), a)
		b.deliver(t, 100, "")
		if f.cancelsTo(1) != 1 {
			t.Fatalf("no CANCEL to branch 1 after its 100")
		}
		checkCancel(t, f.branchOf(1, "CANCEL"), b)
		a.deliver(t, 487, "ta")
		if got := inv.statuses(); !slices.Equal(got, []string{"180 Ringing"}) {
			t.Fatalf("INVITE upstream = %q, want the 487 held until every branch ended", got)
		}
		b.deliver(t, 487, "tb")
		if got := inv.statuses(); !slices.Equal(got, []string{"180 Ringing", "487 Request Terminated"}) {
			t.Errorf("INVITE upstream = %q, want [180 Ringing, 487 Request Terminated]", got)
		}
		if n := len(f.txs.all("INVITE")); n != 2 {
			t.Errorf("%d INVITEs in all, want 2", n)
		}
	})

	t.Run("CANCEL stops serial forking", func(t *testing.T) {
		f, inv := forkFixture(t, defaultConfig(), []int{500, 1000}, "invite.sip")
		first := f.branchOf(1, "INVITE")
		first.deliver(t, 180, "t1")
		f.serve(req(t, "cancel.sip"))
		first.deliver(t, 487, "t1")
		if n := len(f.txs.all("INVITE")); n != 1 {
			t.Errorf("%d INVITEs, want the lower-q contact never tried after CANCEL", n)
		}
		if got := inv.statuses(); !slices.Equal(got, []string{"180 Ringing", "487 Request Terminated"}) {
			t.Errorf("INVITE upstream = %q, want [180 Ringing, 487 Request Terminated]", got)
		}
	})

	t.Run("CANCEL matching nothing", func(t *testing.T) {
		f, _ := forkFixture(t, defaultConfig(), []int{0}, "invite.sip")
		cm := req(t, "cancel.sip", "Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bKother")
		ctx := f.serve(cm)
		resps := ctx.responses()
		if len(resps) != 1 {
			t.Fatalf("responses to CANCEL = %q, want one 481", ctx.statuses())
		}
		checkLocalResponse(t, f, cm, resps[0], 481, "Call/Transaction Does Not Exist", nil)
		if n := len(f.txs.all("CANCEL")); n != 0 {
			t.Errorf("%d CANCELs sent downstream, want none", n)
		}
	})

	t.Run("CANCEL that crosses the final response", func(t *testing.T) {
		// §9.2: while the INVITE's server transaction exists the CANCEL
		// matches it and is answered 200, even after a final response;
		// it then has no effect.
		f, inv := forkFixture(t, defaultConfig(), []int{0}, "invite.sip")
		f.branchOf(0, "INVITE").deliver(t, 200, "ta")
		cm := req(t, "cancel.sip")
		ctx := f.serve(cm)
		if got := ctx.statuses(); !slices.Equal(got, []string{"200 OK"}) {
			t.Errorf("responses to CANCEL = %q, want [200 OK]", got)
		}
		if n := len(f.txs.all("CANCEL")); n != 0 {
			t.Errorf("%d CANCELs sent downstream after the 200, want none", n)
		}
		if got := inv.statuses(); !slices.Equal(got, []string{"200 OK"}) {
			t.Errorf("INVITE upstream = %q, want [200 OK]", got)
		}
	})
}
