package transaction

import (
	"errors"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/parley-sip/parley/transport"
)

// TestParkedCompleted: an INVITE answered non-2xx over UDP waits for its
// ACK in the retransmitting store or, without one, on the heap; from
// outside both behave the same (§17.2.1): Timer G resends the final to
// where it went, an INVITE retransmission gets it again, the ACK moves
// to Confirmed for Timer I and stops Timer G, Timer H ends it, and the
// Core sees neither the retransmissions nor the ACKs.
func TestParkedCompleted(t *testing.T) {
	const other = "192.0.2.99:5070" // a retransmission's source; the answer still goes where the final went
	tests := []struct {
		name      string
		ackAt     time.Duration // 0: no ACK
		retxAt    time.Duration // an INVITE retransmission then, 0: none
		want486   []time.Duration
		confirmed time.Duration // state Confirmed until then
		end       time.Duration
	}{
		{"Timer H", 0, 0, secs(0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5), 0, 32 * time.Second},
		{"retransmission", 0, 200 * time.Millisecond, secs(0, 0.2, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5), 0, 32 * time.Second},
		{"ACK", 2 * time.Second, 0, secs(0, 0.5, 1.5), 7 * time.Second, 7 * time.Second},
		{"ACK then INVITE", 2 * time.Second, 3 * time.Second, secs(0, 0.5, 1.5), 7 * time.Second, 7 * time.Second},
	}
	for _, tt := range tests {
		for _, heap := range []bool{false, true} {
			t.Run(tt.name+map[bool]string{false: "/store", true: "/heap"}[heap], func(t *testing.T) {
				h := newHarness(t, Config{heapLinger: heap})
				h.l.HandleMessage(invite.in(t))
				tx := h.core.tx(0)
				dst := transport.ResponseTarget(invite.in(t))
				respond(t, tx, 486, "uas")
				if parked := h.l.servers.get(tx.Key()) == nil; parked == heap || tx.State() != Completed {
					t.Fatalf("parked %v state %v", parked, tx.State())
				}
				if st := h.l.Stats(); st.ServerActive != 1 || st.Lingering != map[bool]int64{false: 1, true: 0}[heap] {
					t.Fatalf("stats %+v", st)
				}
				events := []struct {
					at time.Duration
					f  func()
				}{
					{tt.retxAt, func() {
						in := invite.in(t)
						in.Source = netip.MustParseAddrPort(other)
						h.l.HandleMessage(in)
					}},
					{tt.ackAt, func() {
						h.l.HandleMessage(rq{method: "ACK", toTag: "uas"}.in(t))
						h.l.HandleMessage(rq{method: "ACK", toTag: "uas"}.in(t))
					}},
				}
				if tt.retxAt > tt.ackAt {
					events[0], events[1] = events[1], events[0]
				}
				for _, e := range events {
					if e.at > 0 {
						h.advanceTo(e.at)
						e.f()
					}
				}
				if tt.confirmed > 0 {
					h.advanceTo(tt.confirmed - time.Millisecond)
					if tx.State() != Confirmed {
						t.Fatalf("state %v before Timer I", tx.State())
					}
				}
				h.advanceTo(tt.end - time.Millisecond)
				if s := tx.State(); s == Terminated || h.l.Stats().ServerActive != 1 {
					t.Fatalf("ended before its timer: state %v", s)
				}
				h.advanceTo(tt.end)
				if st := h.l.Stats(); tx.State() != Terminated || st.ServerActive != 0 || st.Lingering != 0 {
					t.Fatalf("after its timer: state %v stats %+v", tx.State(), st)
				}
				h.advanceTo(time.Minute)
				if got := h.snd.times(status(486)); !equalDurations(got, tt.want486) {
					t.Fatalf("486 sent at %v, want %v", got, tt.want486)
				}
				for _, s := range h.snd.all() {
					if s.msg.StatusCode() == 486 && s.dst != dst {
						t.Fatalf("486 sent to %+v, want %+v", s.dst, dst)
					}
				}
				if r, acks, _ := h.core.counts(); r != 1 || acks != 0 || h.l.Stats().ServerTerminated != 1 {
					t.Fatalf("Core saw %d requests, %d ACKs; stats %+v", r, acks, h.l.Stats())
				}
			})
		}
	}
}

// TestParkedCompletedSchedules: INVITEs answered at different times
// each get Timer G's schedule from their own final response, however
// their retransmissions interleave in a shard: all of them share one,
// so that a later one's first retransmission falls due before an
// earlier one's next.
func TestParkedCompletedSchedules(t *testing.T) {
	h := newHarness(t, Config{})
	answered := []time.Duration{0, 300 * time.Millisecond, 300 * time.Millisecond, 4 * time.Second, 9*time.Second + 250*time.Millisecond}
	branches := make([]string, len(answered))
	shard := func(branch string) *lingerShard {
		k, err := serverKey(rq{method: "INVITE", branch: branch}.msg(t), "INVITE")
		if err != nil {
			t.Fatal(err)
		}
		sh, _ := h.l.completed.locate(k.key)
		return sh
	}
	for i, at := range answered {
		h.advanceTo(at)
		for branches[i] = NewBranch(); shard(branches[i]) != shard(branches[0]); {
			branches[i] = NewBranch()
		}
		h.l.HandleMessage(rq{method: "INVITE", branch: branches[i]}.in(t))
		respond(t, h.core.tx(i), 480, "uas")
	}
	if h.l.Stats().Lingering != int64(len(answered)) {
		t.Fatalf("stats %+v", h.l.Stats())
	}
	h.advanceTo(time.Minute)
	sched := secs(0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5)
	for i, at := range answered {
		var got []time.Duration
		for _, s := range h.snd.all() {
			if v, _ := s.msg.TopVia(); s.msg.StatusCode() == 480 && v.Branch() == branches[i] {
				got = append(got, s.at-at)
			}
		}
		if !equalDurations(got, sched) {
			t.Fatalf("INVITE answered at %v: 480 sent at +%v, want +%v", at, got, sched)
		}
	}
	if st := h.l.Stats(); st.ServerActive != 0 || st.Lingering != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestParkedCompletedEdges: the ways a parked Completed INVITE ends or
// stays on the heap besides its ACK and Timer H. (TestMatchRFC2543ACK
// and TestServerRetransmitFailure run on the store too.)
func TestParkedCompletedEdges(t *testing.T) {
	t.Run("Terminate", func(t *testing.T) {
		h := newHarness(t, Config{})
		h.l.HandleMessage(invite.in(t))
		tx := h.core.tx(0)
		respond(t, tx, 486, "uas")
		tx.Terminate()
		h.advanceTo(time.Minute)
		if st := h.l.Stats(); h.snd.count(status(486)) != 1 || st.ServerActive != 0 || st.ServerTerminated != 1 {
			t.Fatalf("486 sent %d times; stats %+v", h.snd.count(status(486)), st)
		}
	})
	t.Run("OnFailure keeps it on the heap", func(t *testing.T) {
		h := newHarness(t, Config{})
		h.l.HandleMessage(invite.in(t))
		tx := h.core.tx(0)
		var failed error
		tx.OnFailure(func(err error) { failed = err })
		respond(t, tx, 486, "uas")
		if h.l.servers.get(tx.Key()) != tx {
			t.Fatal("a transaction with a failure hook was parked")
		}
		h.advanceTo(32 * time.Second)
		if !errors.Is(failed, ErrTimeout) {
			t.Fatalf("OnFailure got %v", failed)
		}
	})
	t.Run("store refuses", func(t *testing.T) {
		// A listener past the codec's table: Timers G and H on the
		// heap, started when the store refused.
		h := newHarness(t, Config{})
		for range maxListeners {
			h.l.targets.listener(&transport.ListenerInfo{Proto: transport.UDP})
		}
		in := invite.in(t)
		in.Listener = &transport.ListenerInfo{Proto: transport.UDP}
		h.l.HandleMessage(in)
		tx := h.core.tx(0)
		respond(t, tx, 486, "uas")
		if h.l.servers.get(tx.Key()) != tx || h.l.Stats().Lingering != 0 {
			t.Fatal("parked a target the record cannot hold")
		}
		h.advanceTo(time.Minute)
		if got, want := h.snd.times(status(486)), secs(0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5); !equalDurations(got, want) {
			t.Fatalf("486 sent at %v, want %v", got, want)
		}
		if st := h.l.Stats(); tx.State() != Terminated || st.ServerActive != 0 {
			t.Fatalf("state %v stats %+v", tx.State(), st)
		}
	})
	t.Run("RFC 2543 new request supersedes", func(t *testing.T) {
		h := newHarness(t, Config{})
		h.l.HandleMessage(rq{method: "INVITE", branch: "oldstyle"}.in(t))
		respond(t, h.core.tx(0), 407, "uas")
		// Same dialog fields, other bytes (credentials now): a new INVITE.
		h.l.HandleMessage(rq{method: "INVITE", branch: "oldstyle", extra: "Proxy-Authorization: Digest x\r\n"}.in(t))
		if r, _, _ := h.core.counts(); r != 2 || h.l.Stats().ServerActive != 1 {
			t.Fatalf("Core saw %d requests; stats %+v", r, h.l.Stats())
		}
	})
}

// TestParkedCompletedRace: an ACK or INVITE that found the live
// transaction just before it was parked is handled by its record: the
// ACK stops Timer G, the INVITE gets the final response again.
func TestParkedCompletedRace(t *testing.T) {
	h := newHarness(t, Config{})
	h.l.HandleMessage(invite.in(t))
	tx := h.core.tx(0)
	respond(t, tx, 486, "uas")
	k, err := serverKey(invite.msg(t), "INVITE")
	if err != nil {
		t.Fatal(err)
	}
	tx.receive(invite.in(t), k)
	if n := h.snd.count(status(486)); n != 2 {
		t.Fatalf("486 sent %d times, want 2", n)
	}
	ack := rq{method: "ACK", toTag: "uas"}
	k, _ = serverKey(ack.msg(t), "ACK")
	tx.receive(ack.in(t), k)
	h.advanceTo(time.Minute)
	if _, acks, _ := h.core.counts(); acks != 0 || h.snd.count(status(486)) != 2 || h.l.Stats().ServerActive != 0 {
		t.Fatalf("Core saw %d ACKs, 486 sent %d times, stats %+v", acks, h.snd.count(status(486)), h.l.Stats())
	}
}

// TestParkedCompletedSweepBounded: a sweep that finds more
// retransmissions due than one batch holds sends them all, each once,
// through a scratch that stays about one batch in size (it kept all of
// them at once before: 97 MB across the shards in a burst).
func TestParkedCompletedSweepBounded(t *testing.T) {
	h := newHarness(t, Config{})
	const n = 12000 // well over retxBatch of records a shard
	for i := range n {
		h.l.HandleMessage(rq{method: "INVITE", branch: fmt.Sprintf("z9hG4bKsweep%d", i)}.in(t))
		respond(t, h.core.tx(i), 480, "uas")
	}
	if st := h.l.Stats(); st.Lingering != n {
		t.Fatalf("stats %+v", st)
	}
	sent := h.snd.count(status(480))
	h.advanceTo(600 * time.Millisecond) // Timer G's first, all due in one sweep
	if got := h.snd.count(status(480)) - sent; got != n {
		t.Fatalf("%d retransmissions at T1, want %d", got, n)
	}
	for i := range h.l.completed.scratch {
		sc := &h.l.completed.scratch[i]
		sc.mu.Lock()
		c := cap(sc.buf)
		sc.mu.Unlock()
		if c > retxBatch*3/2 { // append's growth past one batch
			t.Fatalf("shard %d's scratch holds %d bytes, bound %d", i, c, retxBatch*3/2)
		}
	}
}
