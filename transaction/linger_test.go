package transaction

import (
	"bytes"
	"fmt"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/parley-sip/parley/clock"
	"github.com/parley-sip/parley/transport"
)

// TestLingerStore drives the store alone with the fake clock: records are
// found until their time and not after, expire in the order they came,
// chunks come and go with them, and a removed or replaced record is gone
// at once.
func TestLingerStore(t *testing.T) {
	const d = 32 * time.Second
	type step struct {
		at     time.Duration
		do     string // add, remove, find, miss
		key    string
		resp   string
		live   int64 // records alive after the step
		expire int   // expiries counted so far
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"found until Timer J, gone at it", []step{
			{0, "add", "a", "200 a", 1, 0},
			{31 * time.Second, "find", "a", "200 a", 1, 0},
			{32 * time.Second, "miss", "a", "", 0, 1},
		}},
		{"FIFO across add times", []step{
			{0, "add", "a", "A", 1, 0},
			{10 * time.Second, "add", "b", "B", 2, 0},
			{32 * time.Second, "miss", "a", "", 1, 1},
			{32 * time.Second, "find", "b", "B", 1, 1},
			{42 * time.Second, "miss", "b", "", 0, 2},
		}},
		{"removed before its time", []step{
			{0, "add", "a", "A", 1, 0},
			{0, "add", "b", "B", 2, 0},
			{1 * time.Second, "remove", "a", "", 1, 1},
			{1 * time.Second, "miss", "a", "", 1, 1},
			{1 * time.Second, "find", "b", "B", 1, 1},
			{40 * time.Second, "miss", "b", "", 0, 2},
		}},
		{"same key replaces the record", []step{
			{0, "add", "a", "old", 1, 0},
			{5 * time.Second, "add", "a", "new", 1, 1},
			{5 * time.Second, "find", "a", "new", 1, 1},
			{32 * time.Second, "find", "a", "new", 1, 1},
			{37 * time.Second, "miss", "a", "", 0, 2},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := clock.NewFake(epoch)
			expired := 0
			s := newLingerStore(clk, d, func(n int) { expired += n })
			for i, st := range tc.steps {
				clk.Advance(epoch.Add(st.at).Sub(clk.Now()))
				var rec lingerRecord
				switch st.do {
				case "add":
					if !s.add(st.key, []byte(st.resp), false, 0, 0) {
						t.Fatalf("step %d: add refused", i)
					}
				case "remove":
					if !s.remove(st.key) {
						t.Fatalf("step %d: nothing removed", i)
					}
				case "find":
					if !s.lookup(st.key, &rec) || string(rec.resp) != st.resp {
						t.Fatalf("step %d: lookup %q = %q, want %q", i, st.key, rec.resp, st.resp)
					}
				case "miss":
					if s.lookup(st.key, &rec) {
						t.Fatalf("step %d: %q still found", i, st.key)
					}
				}
				if got := s.count.Load(); got != st.live || expired != st.expire {
					t.Fatalf("step %d: %d live, %d expired; want %d, %d", i, got, expired, st.live, st.expire)
				}
			}
			if s.count.Load() == 0 && s.bytes.Load() > lingerShards*chunkSize {
				t.Fatalf("empty store holds %d bytes, more than a spare chunk per shard", s.bytes.Load())
			}
		})
	}
}

// TestLingerStoreChunks fills several chunks per shard, with records of
// many sizes so that chunk ends are padded, and checks that every record
// reads back intact and that all memory goes once they expire.
func TestLingerStoreChunks(t *testing.T) {
	clk := clock.NewFake(epoch)
	expired := 0
	s := newLingerStore(clk, 32*time.Second, func(n int) { expired += n })
	const n = 20000
	resp := func(i int) []byte { return bytes.Repeat([]byte{byte(i)}, 100+i%1500) }
	for i := range n {
		if i%1000 == 0 {
			clk.Advance(time.Second / 2)
		}
		if !s.add(fmt.Sprintf("z9hG4bK-%d 192.0.2.1:5060 REGISTER", i), resp(i), false, 0, 0) {
			t.Fatalf("add %d refused", i)
		}
	}
	if s.bytes.Load() < int64(2*lingerShards*chunkSize) {
		t.Fatalf("only %d bytes for %d records: the test wants several chunks per shard", s.bytes.Load(), n)
	}
	for i := 0; i < n; i += 7 {
		var rec lingerRecord
		if !s.lookup(fmt.Sprintf("z9hG4bK-%d 192.0.2.1:5060 REGISTER", i), &rec) || !bytes.Equal(rec.resp, resp(i)) {
			t.Fatalf("record %d lost or damaged", i)
		}
	}
	clk.Advance(epoch.Add(33 * time.Second).Sub(clk.Now())) // the first second's records are due
	if c := s.count.Load(); c == 0 || c == n || int(c)+expired != n {
		t.Fatalf("after the first records' Timer J: %d live, %d expired", c, expired)
	}
	clk.Advance(time.Minute)
	if s.count.Load() != 0 || s.bytes.Load() > lingerShards*chunkSize || expired != n {
		t.Fatalf("after all expired: %d live, %d bytes, %d expired", s.count.Load(), s.bytes.Load(), expired)
	}
}

// TestLingerStoreRefuses: a record too large for a chunk stays on the
// heap; the layer then runs Timer J there.
func TestLingerStoreRefuses(t *testing.T) {
	s := newLingerStore(clock.NewFake(epoch), time.Second, func(int) {})
	if s.add("k", make([]byte, chunkSize), false, 0, 0) {
		t.Fatal("a record larger than a chunk was taken")
	}
}

// TestParkedTransaction: a non-INVITE answered over UDP leaves the heap
// table for the store; its retransmissions get the final response at the
// address each copy came from, its state reads Completed until Timer J
// and Terminated after, and the layer's counts include it until then.
func TestParkedTransaction(t *testing.T) {
	h := newHarness(t, Config{})
	h.l.HandleMessage(rq{method: "REGISTER"}.in(t))
	tx := h.core.tx(0)
	respond(t, tx, 200, "reg")
	if h.l.servers.get(tx.Key()) != nil {
		t.Fatal("answered transaction still in the heap table")
	}
	if st := h.l.Stats(); st.Lingering != 1 || st.ServerActive != 1 || st.InFlight != 0 {
		t.Fatalf("stats %+v", st)
	}
	moved := netip.MustParseAddrPort("192.0.2.99:5070") // another source: the answer follows §18.2.2 for this copy
	for i, src := range []netip.AddrPort{uacAddr, moved} {
		in := rq{method: "REGISTER"}.in(t)
		in.Source = src
		h.advanceTo(time.Duration(i+1) * time.Second)
		h.l.HandleMessage(in)
		last := h.snd.all()[len(h.snd.all())-1]
		if want := transport.ResponseTarget(in); last.msg.StatusCode() != 200 || last.dst != want {
			t.Fatalf("retransmission %d: got %d to %v, want 200 to %v", i, last.msg.StatusCode(), last.dst, want)
		}
	}
	if r, _, _ := h.core.counts(); r != 1 || tx.State() != Completed {
		t.Fatalf("Core saw %d requests, state %v", r, tx.State())
	}
	if err := tx.Respond(reparse(t, h.snd.last())); err != ErrFinalSent {
		t.Fatalf("second final: %v, want ErrFinalSent", err)
	}
	h.advanceTo(32 * time.Second)
	if tx.State() != Terminated || h.l.Stats().ServerActive != 0 || h.l.Stats().Lingering != 0 {
		t.Fatalf("after Timer J: state %v stats %+v", tx.State(), h.l.Stats())
	}
	h.l.HandleMessage(rq{method: "REGISTER"}.in(t))
	if r, _, _ := h.core.counts(); r != 2 {
		t.Fatal("a request after Timer J did not start a new transaction")
	}
}

// TestParkedFallsBack: without the store (or when it refuses) Timer J
// runs on the heap and behaves the same from outside.
func TestParkedFallsBack(t *testing.T) {
	h := newHarness(t, Config{heapLinger: true})
	h.l.HandleMessage(rq{method: "OPTIONS"}.in(t))
	tx := h.core.tx(0)
	respond(t, tx, 200, "uas")
	h.l.HandleMessage(rq{method: "OPTIONS"}.in(t))
	if h.snd.last().StatusCode() != 200 || h.l.servers.get(tx.Key()) != tx {
		t.Fatal("heap transaction did not absorb the retransmission")
	}
	h.advanceTo(32 * time.Second)
	if tx.State() != Terminated || h.l.Stats().ServerActive != 0 {
		t.Fatalf("state %v stats %+v", tx.State(), h.l.Stats())
	}
}

// TestParkedNotOnStreams: Timer J is zero over TCP; nothing lingers.
func TestParkedNotOnStreams(t *testing.T) {
	h := newHarness(t, Config{})
	h.l.HandleMessage(rq{method: "REGISTER"}.in(t, transport.TCP))
	respond(t, h.core.tx(0), 200, "reg")
	if st := h.l.Stats(); st.ServerActive != 0 || st.Lingering != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestParkedAccepted: an INVITE answered 2xx waits out Timer L in the
// store (RFC 6026 §7.1); TestServerInviteAccepted checks its behaviour,
// this that it left the heap table and is counted until Timer L.
func TestParkedAccepted(t *testing.T) {
	for _, proto := range []transport.Proto{transport.UDP, transport.TCP} {
		h := newHarness(t, Config{})
		h.l.HandleMessage(rq{method: "INVITE"}.in(t, proto))
		tx := h.core.tx(0)
		respond(t, tx, 200, "uas")
		if h.l.servers.get(tx.Key()) != nil || h.l.Stats().Lingering != 1 || h.l.Stats().ServerActive != 1 {
			t.Fatalf("%s: not parked: stats %+v", proto, h.l.Stats())
		}
		h.l.HandleMessage(rq{method: "INVITE"}.in(t, proto))
		if r, _, _ := h.core.counts(); r != 1 || h.snd.count(status(200)) != 1 {
			t.Fatalf("%s: retransmission reached the Core or was answered", proto)
		}
		h.advanceTo(32 * time.Second)
		if st := h.l.Stats(); st.Lingering != 0 || st.ServerActive != 0 {
			t.Fatalf("%s: after Timer L: stats %+v", proto, st)
		}
	}
}

// TestLingerStoreReindexes: a shard that held many records makes a new
// index once they are gone, as a Go map never shrinks; one that held few
// keeps its own.
func TestLingerStoreReindexes(t *testing.T) {
	clk := clock.NewFake(epoch)
	s := newLingerStore(clk, time.Second, func(int) {})
	n := lingerShards * reindexAbove * 3 / 2
	for i := range n {
		s.add("k"+strconv.Itoa(i), []byte("r"), false, 0, 0)
	}
	grown := 0
	for i := range s.shards {
		if s.shards[i].peak > reindexAbove {
			grown++
		}
	}
	clk.Advance(time.Second)
	for i := range s.shards {
		if sh := &s.shards[i]; sh.peak != 0 && sh.peak > reindexAbove || len(sh.index) != 0 {
			t.Fatalf("shard %d: peak %d, %d indexed after all expired", i, sh.peak, len(sh.index))
		}
	}
	if grown == 0 {
		t.Fatal("no shard grew past reindexAbove: the test does not test")
	}
}

// TestParkedConfirmed: an INVITE whose non-2xx was ACKed waits out Timer
// I (T4) in the second store, absorbing retransmitted ACKs and INVITEs
// without an answer and without the Core (§17.2.1).
func TestParkedConfirmed(t *testing.T) {
	h := newHarness(t, Config{})
	h.l.HandleMessage(rq{method: "INVITE"}.in(t))
	tx := h.core.tx(0)
	respond(t, tx, 486, "busy")
	ack := rq{method: "ACK", cseqMethod: "ACK", toTag: "busy"}
	h.l.HandleMessage(ack.in(t))
	if tx.State() != Confirmed || h.l.servers.get(tx.Key()) != nil || h.l.Stats().Lingering != 1 {
		t.Fatalf("not parked in Confirmed: state %v stats %+v", tx.State(), h.l.Stats())
	}
	sent := len(h.snd.all())
	h.advanceTo(time.Second)
	h.l.HandleMessage(ack.in(t))
	h.l.HandleMessage(rq{method: "INVITE"}.in(t))
	if r, acks, _ := h.core.counts(); r != 1 || acks != 0 || len(h.snd.all()) != sent {
		t.Fatalf("retransmissions reached the Core (%d requests, %d ACKs) or were answered (%d sent, want %d)",
			r, acks, len(h.snd.all()), sent)
	}
	h.advanceTo(5 * time.Second)
	if tx.State() != Terminated || h.l.Stats().ServerActive != 0 || h.l.Stats().Lingering != 0 {
		t.Fatalf("after Timer I: state %v stats %+v", tx.State(), h.l.Stats())
	}
	h.l.HandleMessage(ack.in(t))
	if _, acks, _ := h.core.counts(); acks != 1 {
		t.Fatal("an ACK after Timer I did not go to the Core as a stray")
	}
}
