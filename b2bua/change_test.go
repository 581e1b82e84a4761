package b2bua

import (
	"strings"
	"testing"
)

// changes records the snapshots OnChange was called with.
type changes struct{ snaps []Snapshot }

func (ch *changes) config() Config {
	return Config{Locate: locateCarol, OnChange: func(c *Call) {
		if s, ok := c.Snapshot(); ok {
			ch.snaps = append(ch.snaps, s)
		}
	}}
}

// TestOnChangeTargetRefresh: after the answer, OnChange runs once for
// each change of a leg's remote target (alice's re-INVITE with a new
// Contact, bob's 2xx to it with a new one) and never for an event that
// leaves the BYEs of a takeover as they were: INFO, a re-offer to the
// same Contacts, the ACKs.
func TestOnChangeTargetRefresh(t *testing.T) {
	ch := &changes{}
	h := newHarness(t, Control{}, ch.config())
	cl := h.dial("alice@example.com", Plan{})
	cl.answer()
	for _, step := range []struct {
		name             string
		method           string
		aContact         string // header line of alice's request
		bContact         string // bob's 2xx to the relayed re-INVITE
		wantA, wantB     string // RemoteTarget of the last snapshot
		wantSnapsAfterIt int
	}{
		{"INFO", "INFO", "", "", "", "", 0},
		{"re-INVITE, new Contacts", "INVITE", "Contact: <sip:alice@127.0.0.1:7001>", "Contact: <sip:bob@127.0.0.1:7002>",
			"sip:alice@127.0.0.1:7001", "sip:bob@127.0.0.1:7002", 2},
		{"re-INVITE, same Contacts", "INVITE", "Contact: <sip:alice@127.0.0.1:7001>", "Contact: <sip:bob@127.0.0.1:7002>",
			"sip:alice@127.0.0.1:7001", "sip:bob@127.0.0.1:7002", 2},
		{"INFO after", "INFO", "", "", "sip:alice@127.0.0.1:7001", "sip:bob@127.0.0.1:7002", 2},
	} {
		var extra []string
		if step.aContact != "" {
			extra = append(extra, step.aContact)
		}
		tx := cl.fromA(step.method, 0, extra...)
		if step.method == "INVITE" {
			if n := len(ch.snaps); step.aContact != "" && n == 0 {
				t.Fatalf("%s: no OnChange after alice's new Contact", step.name)
			}
			re := cl.bInvite()
			re.respond(reparse(t, withHeaders(re, 200, step.bContact)))
			if r := tx.last(); r == nil || r.StatusCode() != 200 {
				t.Fatalf("%s: alice got %v", step.name, r)
			}
			cl.fromA("ACK", cl.aSeq)
		}
		if len(ch.snaps) != step.wantSnapsAfterIt {
			t.Fatalf("%s: %d OnChange calls in all, want %d", step.name, len(ch.snaps), step.wantSnapsAfterIt)
		}
		if n := len(ch.snaps); n > 0 {
			s := ch.snaps[n-1]
			if s.A.RemoteTarget != step.wantA || s.B.RemoteTarget != step.wantB {
				t.Errorf("%s: last snapshot's targets %s and %s, want %s and %s", step.name, s.A.RemoteTarget, s.B.RemoteTarget, step.wantA, step.wantB)
			}
		}
	}
	// The last snapshot's BYE to bob goes where Parley's own would.
	s := ch.snaps[len(ch.snaps)-1]
	h.b.Hangup(cl.c.ID())
	byes := h.net.requests("BYE", calleeAt)
	if len(byes) != 1 {
		t.Fatalf("%d BYEs to bob", len(byes))
	}
	m, err := s.B.Request("BYE", "", s.B.LocalSeq+1)
	if err != nil {
		t.Fatal(err)
	}
	if m.RequestURI() != byes[0].req.RequestURI() {
		t.Errorf("snapshot's BYE to %s, Parley's to %s", m.RequestURI(), byes[0].req.RequestURI())
	}
	if cs, err := byes[0].req.CSeq(); err != nil || cs.Seq-s.B.LocalSeq >= SnapshotSeqStep {
		t.Errorf("Parley's BYE CSeq %d, the snapshot's %d: more than SnapshotSeqStep apart", cs.Seq, s.B.LocalSeq)
	}
	if len(ch.snaps) != 2 {
		t.Errorf("the hangup ran OnChange: %d calls", len(ch.snaps))
	}
}

// TestOnChangeSeqStep: requests relayed to bob move his leg's CSeq; the
// snapshot is written again only once it is SnapshotSeqStep past, well
// within the takeover's CSeq jump.
func TestOnChangeSeqStep(t *testing.T) {
	ch := &changes{}
	h := newHarness(t, Control{}, ch.config())
	cl := h.dial("alice@example.com", Plan{})
	cl.answer()
	for i := 1; i < SnapshotSeqStep; i++ {
		cl.fromA("INFO", 0)
	}
	if len(ch.snaps) != 0 {
		t.Fatalf("OnChange after %d INFOs", SnapshotSeqStep-1)
	}
	cl.fromA("INFO", 0)
	if len(ch.snaps) != 1 {
		t.Fatalf("%d OnChange calls after %d INFOs, want 1", len(ch.snaps), SnapshotSeqStep)
	}
	if got, first := ch.snaps[0].B.LocalSeq, cl.bInvite().req; got < SnapshotSeqStep {
		t.Errorf("snapshot's B CSeq %d (INVITE %s)", got, first.Header("CSeq"))
	}
}

// TestOnChangeTransfer: bob transfers alice to carol; once carol's leg
// has taken bob's place OnChange gives the snapshot whose B leg is
// carol's, the one a takeover must hang up.
func TestOnChangeTransfer(t *testing.T) {
	ch := &changes{}
	h := newHarness(t, Control{}, ch.config())
	cl := h.dial("alice@example.com", Plan{})
	cl.answer()
	cl.fromB("REFER", 5, "Refer-To: <sip:carol@example.com>", "Referred-By: <sip:bob@example.com>")
	invs := h.net.requests("INVITE", carolAt)
	if len(invs) != 1 {
		t.Fatalf("%d INVITEs to carol", len(invs))
	}
	invs[0].respond(reparse(t, withHeaders(invs[0], 200, "Contact: <sip:carol@127.0.0.1:6003>")))
	if len(ch.snaps) != 0 {
		t.Errorf("OnChange before carol took bob's place: %+v", ch.snaps[0].B.ID)
	}
	re := h.net.requests("INVITE", callerAt)
	if len(re) != 1 {
		t.Fatalf("%d re-INVITEs to alice", len(re))
	}
	re[0].respond(reparse(t, withHeaders(re[0], 200)))
	if len(ch.snaps) == 0 {
		t.Fatal("no OnChange after the transfer")
	}
	s := ch.snaps[len(ch.snaps)-1]
	if s.B.ID.CallID != invs[0].req.Header("Call-ID") || !strings.Contains(s.B.RemoteTarget, "carol@127.0.0.1:6003") {
		t.Errorf("snapshot's B leg %+v at %s, want carol's", s.B.ID, s.B.RemoteTarget)
	}
}

// BenchmarkNoteChange is what OnChange adds to each event of an answered
// call on a cluster node when nothing a takeover needs changed: the
// comparison after the event, against the same event without OnChange
// (the queue's own cost). It must add no allocation.
func BenchmarkNoteChange(b *testing.B) {
	for _, on := range []bool{false, true} {
		b.Run(map[bool]string{false: "off", true: "on"}[on], func(b *testing.B) {
			ch := &changes{}
			cfg := ch.config()
			if !on {
				cfg.OnChange = nil
			}
			h := newHarness(&testing.T{}, Control{}, cfg)
			cl := h.dial("alice@example.com", Plan{})
			cl.answer()
			nop := func() {}
			b.ReportAllocs()
			for b.Loop() {
				cl.c.Post(nop) // runs here, the queue being idle, then noteChange
			}
			if len(ch.snaps) != 0 {
				b.Fatalf("%d OnChange calls with nothing changed", len(ch.snaps))
			}
		})
	}
}
