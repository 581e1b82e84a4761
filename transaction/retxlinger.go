package transaction

import (
	"encoding/binary"
	"sync"
	"time"

	"github.com/parley-sip/parley/clock"
)

// retxStore is a linger store whose records are also retransmitted:
// INVITE server transactions in Completed over UDP, which resend their
// non-2xx final response on Timer G until the ACK or Timer H (§17.2.1).
// Timer H is the same for every record, so they expire in FIFO order as
// in any linger store. Timer G's schedule (T1, 2*T1, 4*T1, … capped at
// T2) is the same function of when a record was added, so the k-th
// retransmissions of all records fall due in the order the records were
// added too: each shard keeps one cursor per retransmission, and one
// timer sweeps the cursors that are due. An ACK takes the record out
// (see Layer.ackCompleted), and its cursors skip it.
type retxStore struct {
	*lingerStore
	sched []time.Duration       // Timer G's retransmissions, after the record was added
	send  func(key, rec []byte) // called without the shard's lock for each retransmission due
	// scratch holds each shard's retransmissions between copying them
	// out and sending them, reused so that a sweep allocates nothing.
	scratch [lingerShards]retxScratch
}

// retxScratch is one shard's reusable copy of the retransmissions due;
// mu keeps two sweeps of the shard (one made stale by a sooner one) from
// sharing it.
type retxScratch struct {
	mu    sync.Mutex
	buf   []byte
	items []retxItem
}

func newRetxStore(clk clock.Clock, t1, t2 time.Duration, onExpire func(int), send func(key, rec []byte)) *retxStore {
	h := 64 * t1
	s := &retxStore{lingerStore: newLingerStore(clk, h, onExpire), send: send}
	for at, iv := t1, t1; at < h; iv = min(2*iv, t2) {
		s.sched = append(s.sched, at)
		at += min(2*iv, t2)
	}
	for i := range s.shards {
		s.shards[i].cursors = make([]uint64, len(s.sched))
	}
	return s
}

// addRetx adds a record as addRecord does and makes sure a sweep runs by
// its first retransmission.
func (s *retxStore) addRetx(key string, resp []byte, r lingerRecord) bool {
	if len(s.sched) == 0 || !s.addRecord(key, resp, r) {
		return false
	}
	sh, h := s.locate(key)
	i := int(h % lingerShards)
	due := s.clk.Now().Sub(s.epoch) + s.sched[0]
	sh.mu.Lock()
	arm := !sh.retxArmed || sh.retxAt > due
	if arm {
		sh.retxArmed, sh.retxAt = true, due
		sh.retxGen++
	}
	gen := sh.retxGen
	sh.mu.Unlock()
	if arm {
		s.clk.AfterFunc(s.sched[0], func() { s.sweepRetx(i, gen) })
	}
	return true
}

// retxItem is a retransmission copied out of a shard, to send unlocked:
// its key and record bytes, as offsets into retxScratch.buf.
type retxItem struct {
	start, keyEnd, end int
}

// retxBatch bounds the bytes one sweep copies out of a shard before it
// sends them: a sweep that fell behind (a loaded machine, a burst of
// 503s whose ACKs are late) finds tens of thousands of records due at
// once, and a scratch sized to all of them stays allocated for good,
// sixteen times over (97 MB in a burst of 400 000 INVITEs).
const retxBatch = 64 << 10

// sweepRetx sends the retransmissions due, a batch of at most about
// retxBatch bytes at a time, and schedules itself for the next; a sweep
// that a sooner one replaced (gen) does nothing.
func (s *retxStore) sweepRetx(i int, gen uint64) {
	sh, sc := &s.shards[i], &s.scratch[i]
	sc.mu.Lock()
	defer sc.mu.Unlock()
	now := s.clk.Now().Sub(s.epoch)
	for {
		sh.mu.Lock()
		if gen != sh.retxGen {
			sh.mu.Unlock()
			return
		}
		next, more, full := s.fill(sh, now, sc)
		if !full {
			sh.retxArmed, sh.retxAt = more, next
			sh.retxGen++
			gen = sh.retxGen
		}
		sh.mu.Unlock()
		for _, it := range sc.items {
			s.send(sc.buf[it.start:it.keyEnd], sc.buf[it.keyEnd:it.end])
		}
		if full {
			continue // gen unchanged: the rest is still this sweep's
		}
		if more {
			s.clk.AfterFunc(max(next-now, time.Millisecond), func() { s.sweepRetx(i, gen) })
		}
		return
	}
}

// fill copies the retransmissions due by now into sc, up to retxBatch
// bytes; full says it stopped there with more due. Otherwise it returns
// when the next is due, if any. The caller holds sh.mu.
func (s *retxStore) fill(sh *lingerShard, now time.Duration, sc *retxScratch) (next time.Duration, more, full bool) {
	sc.buf, sc.items = sc.buf[:0], sc.items[:0]
	for k, g := range s.sched {
		at, ok, stopped := s.advance(sh, k, g, now, sc)
		if stopped {
			return 0, false, true
		}
		if ok && (!more || at < next) {
			next, more = at, true
		}
	}
	return next, more, false
}

// advance moves cursor k past the records whose retransmission at g
// after being added is due by now, copying the live ones into sc until
// it holds retxBatch bytes (full); it returns when the next is due, if
// any. The caller holds sh.mu.
func (s *retxStore) advance(sh *lingerShard, k int, g, now time.Duration, sc *retxScratch) (at time.Duration, ok, full bool) {
	pos := max(sh.cursors[k], sh.head)
	defer func() { sh.cursors[k] = pos }()
	for pos < sh.tail {
		rec := sh.record(pos)
		if len(rec) < headerSize || flags(rec)&flagPad != 0 {
			pos += uint64(len(rec))
			continue
		}
		at := time.Duration(binary.LittleEndian.Uint64(rec[offExpiry:])) - s.d + g
		if at > now {
			return at, true, false
		}
		kl, rl := keyLen(rec), int(binary.LittleEndian.Uint32(rec[offRespLen:]))
		if flags(rec)&flagDead == 0 {
			if len(sc.buf) > 0 && len(sc.buf)+kl+rl > retxBatch {
				return 0, false, true
			}
			start := len(sc.buf)
			sc.buf = append(sc.buf, rec[headerSize:headerSize+kl+rl]...)
			sc.items = append(sc.items, retxItem{start, start + kl, len(sc.buf)})
		}
		pos += uint64(recordSize(kl, rl))
	}
	return 0, false, false
}

// completedStore returns the store of INVITEs in Completed as a plain
// linger store, or nil when the layer keeps them on the heap.
func (l *Layer) completedStore() *lingerStore {
	if l.completed == nil {
		return nil
	}
	return l.completed.lingerStore
}

// retransmit sends a parked INVITE's final response again on Timer G. A
// transport error ends the transaction, as it would on the heap
// (§17.2.4); a parked one has no OnFailure hook to tell.
func (l *Layer) retransmit(key, rec []byte) {
	dst, resp, ok := l.targets.decode(rec)
	if !ok {
		return
	}
	if err := l.send(dst, resp); err != nil {
		l.log.Debug("transaction: server transaction failed", "key", string(key), "method", "INVITE", "err", err)
		l.completed.remove(string(key))
	}
}

// ackCompleted takes the ACK for a parked INVITE's non-2xx final
// response: it moves the transaction to Confirmed, whose store absorbs
// further ACKs and INVITEs until Timer I (§17.2.1). It reports false
// when no record matches, or when an RFC 2543 ACK with another To tag
// acknowledges some other response (§17.2.3).
func (l *Layer) ackCompleted(k matchKey) bool {
	s := l.completed
	if s == nil || s.count.Load() == 0 {
		return false
	}
	var rec lingerRecord
	if !s.lookup(k.key, &rec) {
		return false
	}
	if rec.rfc2543 && rec.hasRes && rec.resTag != s.tagHash(k.toTag) {
		return false
	}
	if !s.take(k.key) {
		return true // another copy of this ACK took it a moment ago
	}
	rec.resp = nil
	if !l.confirmed.addRecord(k.key, nil, rec) {
		l.serverTerminated.Add(1) // Timer I cannot wait: it ends now
	}
	return true
}
