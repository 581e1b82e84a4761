package transaction

import (
	"encoding/binary"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-sip/parley/clock"
)

// lingerStore holds server transactions that only wait out Timer J
// (§17.2.2): a non-INVITE answered over UDP must resend its final
// response to retransmissions for 64*T1, and at tens of thousands of
// requests a second that is hundreds of thousands of transactions. On the
// heap each was a ServerTx, a key string, a response and a timer the
// collector marked again and again; here each is one record in byte
// chunks (the key, the encoded final response and, for RFC 2543 clients,
// the fingerprint), indexed by a map of integers, so the collector has
// nothing per transaction to scan and there is no timer per transaction.
// Timer J is the same for every record, so records expire in the order
// they were added and one timer per shard sweeps them from the front.
type lingerStore struct {
	clk      clock.Clock
	epoch    time.Time
	d        time.Duration
	seed     maphash.Seed
	count    atomic.Int64 // records alive
	bytes    atomic.Int64 // bytes of chunks held
	onExpire func(n int)  // told of every record that expired or was removed
	shards   [lingerShards]lingerShard
}

// lingerShards splits the store so that readers on different cores
// rarely share a lock; each shard has its own chunks and sweep timer.
const lingerShards = 16

// chunkSize is the unit of memory a shard takes and gives back: big
// enough for any usual record (a larger one stays on the heap), small
// enough that an idle shard's one spare chunk is little.
const chunkSize = 64 << 10

// reindexAbove is the size past which an emptied shard makes a new
// index rather than keep the old one's buckets.
const reindexAbove = 4096

// Record layout: a fixed header, then the key and the response, padded
// to 8 bytes so that the next header stays aligned.
const (
	offExpiry  = 0  // int64: nanoseconds after epoch
	offHash    = 8  // uint64: the key's hash, the index's key
	offSum     = 16 // uint64: the request's fingerprint (RFC 2543)
	offTag     = 24 // uint64: hash of the request's To tag (RFC 2543)
	offKeyLen  = 32 // uint16
	offFlags   = 34 // uint16
	offRespLen = 36 // uint32
	offResTag  = 40 // uint64: hash of the final response's To tag (RFC 2543 ACK matching)
	headerSize = 48
)

const (
	flagRFC2543 = 1 << iota
	flagDead    // removed before it expired; skipped by lookups
	flagPad     // fills the end of a chunk
	flagResTag  // offResTag is set
)

type lingerShard struct {
	mu     sync.Mutex
	index  map[uint64]uint64 // key hash → record position
	chunks [][]byte          // chunks[i] starts at position base + i*chunkSize
	base   uint64
	head   uint64 // oldest record
	tail   uint64 // where the next record goes
	spare  []byte // one chunk kept for reuse, so that a steady trickle allocates nothing
	armed  bool   // a sweep is scheduled
	peak   int    // most records indexed at once since the index was made
	// cursors[k] is the next record due its (k+1)th retransmission, in
	// a store that retransmits (see retxStore); nil in the others.
	cursors   []uint64
	retxArmed bool          // a retransmission sweep is scheduled
	retxAt    time.Duration // when, after epoch
	retxGen   uint64        // the scheduled sweep's; an older one is stale
}

func newLingerStore(clk clock.Clock, d time.Duration, onExpire func(int)) *lingerStore {
	s := &lingerStore{clk: clk, epoch: clk.Now(), d: d, seed: maphash.MakeSeed(), onExpire: onExpire}
	for i := range s.shards {
		s.shards[i].index = make(map[uint64]uint64)
	}
	return s
}

// lingerRecord is what absorbing a retransmission needs from a record.
type lingerRecord struct {
	rfc2543 bool
	sum     uint64 // the request's fingerprint (RFC 2543)
	tag     uint64 // hash of the request's To tag (RFC 2543)
	resTag  uint64 // hash of the final response's To tag, when hasRes
	hasRes  bool
	resp    []byte // a copy, so that it can be sent without the lock
	// prefix, when adding, is stored before the response, as part of
	// it: where the response goes, for a store that sends it itself.
	prefix []byte
}

// tagHash hashes a To tag for the RFC 2543 comparison.
func (s *lingerStore) tagHash(tag string) uint64 { return maphash.String(s.seed, tag) }

func (s *lingerStore) locate(key string) (*lingerShard, uint64) {
	h := maphash.String(s.seed, key)
	return &s.shards[h%lingerShards], h
}

// add stores a transaction's key and final response for d. It reports
// false when it cannot (a record larger than a chunk, or another key with
// the same 64-bit hash): the caller then keeps the transaction on the
// heap, as before.
func (s *lingerStore) add(key string, resp []byte, rfc2543 bool, sum, tag uint64) bool {
	return s.addRecord(key, resp, lingerRecord{rfc2543: rfc2543, sum: sum, tag: tag})
}

// addRecord is add with every field of r (its resp is not used).
func (s *lingerStore) addRecord(key string, resp []byte, r lingerRecord) bool {
	respLen := len(r.prefix) + len(resp)
	size := recordSize(len(key), respLen)
	if len(key) > 0xffff || size > chunkSize {
		return false
	}
	sh, h := s.locate(key)
	expiry := s.clk.Now().Add(s.d).Sub(s.epoch)
	sh.mu.Lock()
	if pos, ok := sh.index[h]; ok {
		rec := sh.record(pos)
		if string(rec[headerSize:headerSize+keyLen(rec)]) != key {
			sh.mu.Unlock()
			return false
		}
		setFlag(rec, flagDead) // the same key again: the new record replaces it
		s.count.Add(-1)
		defer s.onExpire(1)
	}
	rec := sh.reserve(s, size)
	binary.LittleEndian.PutUint64(rec[offExpiry:], uint64(expiry))
	binary.LittleEndian.PutUint64(rec[offHash:], h)
	binary.LittleEndian.PutUint64(rec[offSum:], r.sum)
	binary.LittleEndian.PutUint64(rec[offTag:], r.tag)
	binary.LittleEndian.PutUint64(rec[offResTag:], r.resTag)
	binary.LittleEndian.PutUint16(rec[offKeyLen:], uint16(len(key)))
	var flags uint16
	if r.rfc2543 {
		flags = flagRFC2543
	}
	if r.hasRes {
		flags |= flagResTag
	}
	binary.LittleEndian.PutUint16(rec[offFlags:], flags)
	binary.LittleEndian.PutUint32(rec[offRespLen:], uint32(respLen))
	copy(rec[headerSize:], key)
	copy(rec[headerSize+len(key):], r.prefix)
	copy(rec[headerSize+len(key)+len(r.prefix):], resp)
	sh.index[h] = sh.tail - uint64(size)
	sh.peak = max(sh.peak, len(sh.index))
	arm := !sh.armed
	sh.armed = true
	sh.mu.Unlock()
	s.count.Add(1)
	if arm {
		s.clk.AfterFunc(s.d, func() { s.sweep(sh) })
	}
	return true
}

// lookup finds key's record and copies it into out, reusing out.resp.
func (s *lingerStore) lookup(key string, out *lingerRecord) bool {
	sh, h := s.locate(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	rec := sh.live(h, key)
	if rec == nil {
		return false
	}
	kl := keyLen(rec)
	rl := int(binary.LittleEndian.Uint32(rec[offRespLen:]))
	out.rfc2543 = flags(rec)&flagRFC2543 != 0
	out.sum = binary.LittleEndian.Uint64(rec[offSum:])
	out.tag = binary.LittleEndian.Uint64(rec[offTag:])
	out.resTag = binary.LittleEndian.Uint64(rec[offResTag:])
	out.hasRes = flags(rec)&flagResTag != 0
	out.resp = append(out.resp[:0], rec[headerSize+kl:headerSize+kl+rl]...)
	return true
}

// has reports whether key has a live record, without copying it.
func (s *lingerStore) has(key string) bool {
	sh, h := s.locate(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.live(h, key) != nil
}

// remove ends key's record before its time: an RFC 2543 client's new
// request with the same key supersedes it.
func (s *lingerStore) remove(key string) bool {
	if !s.take(key) {
		return false
	}
	s.onExpire(1)
	return true
}

// take removes key's record without telling onExpire: the transaction
// goes on elsewhere (an ACKed INVITE moves to the Confirmed store).
func (s *lingerStore) take(key string) bool {
	sh, h := s.locate(key)
	sh.mu.Lock()
	rec := sh.live(h, key)
	if rec != nil {
		setFlag(rec, flagDead)
		delete(sh.index, h)
	}
	sh.mu.Unlock()
	if rec == nil {
		return false
	}
	s.count.Add(-1)
	return true
}

// sweep drops the records that have expired and schedules itself for the
// next one; it runs on the clock's goroutine.
func (s *lingerStore) sweep(sh *lingerShard) {
	now := s.clk.Now().Sub(s.epoch)
	sh.mu.Lock()
	expired, next, more := sh.expire(s, now)
	sh.armed = more
	sh.mu.Unlock()
	if expired > 0 {
		s.count.Add(-int64(expired))
		s.onExpire(expired)
	}
	if more {
		s.clk.AfterFunc(max(next-now, time.Millisecond), func() { s.sweep(sh) })
	}
}

// expire removes records due by now from the front. It returns how many
// live records went and, when records remain, when the next is due.
func (sh *lingerShard) expire(s *lingerStore, now time.Duration) (expired int, next time.Duration, more bool) {
	for sh.head < sh.tail {
		off := int(sh.head - sh.base)
		chunk := sh.chunks[off/chunkSize]
		rec := chunk[off%chunkSize:]
		if len(rec) < headerSize || flags(rec)&flagPad != 0 {
			sh.head += uint64(len(rec)) // the chunk's unused end
			sh.dropHeadChunk(s)
			continue
		}
		due := time.Duration(binary.LittleEndian.Uint64(rec[offExpiry:]))
		if due > now {
			return expired, due, true
		}
		if flags(rec)&flagDead == 0 {
			delete(sh.index, binary.LittleEndian.Uint64(rec[offHash:]))
			expired++
		}
		sh.head += uint64(recordSize(keyLen(rec), int(binary.LittleEndian.Uint32(rec[offRespLen:]))))
		sh.dropHeadChunk(s)
		for i := range sh.cursors {
			sh.cursors[i] = max(sh.cursors[i], sh.head) // never into a released chunk
		}
	}
	// Empty: give the chunks back but one spare, so that a burst leaves
	// nothing behind.
	for _, c := range sh.chunks {
		sh.release(s, c)
	}
	sh.chunks = nil
	sh.base, sh.head, sh.tail = 0, 0, 0
	clear(sh.cursors)
	if sh.peak > reindexAbove {
		// A Go map keeps its buckets after its keys go: a new one gives
		// the burst's index back too.
		sh.index, sh.peak = make(map[uint64]uint64), 0
	}
	return expired, 0, false
}

// dropHeadChunk releases the first chunk once the head has left it.
func (sh *lingerShard) dropHeadChunk(s *lingerStore) {
	if len(sh.chunks) > 1 && sh.head-sh.base >= chunkSize {
		sh.release(s, sh.chunks[0])
		sh.chunks[0] = nil
		sh.chunks = sh.chunks[1:]
		sh.base += chunkSize
	}
}

// release keeps c as the spare or leaves it to the collector.
func (sh *lingerShard) release(s *lingerStore, c []byte) {
	if sh.spare == nil {
		sh.spare = c
		return
	}
	s.bytes.Add(-chunkSize)
}

// reserve returns size bytes at the tail, starting a chunk when the
// current one has no room. The caller holds sh.mu.
func (sh *lingerShard) reserve(s *lingerStore, size int) []byte {
	off := int(sh.tail - sh.base)
	room := len(sh.chunks)*chunkSize - off
	if room < size {
		if room > 0 {
			rec := sh.chunks[off/chunkSize][off%chunkSize:]
			if room >= headerSize {
				binary.LittleEndian.PutUint16(rec[offFlags:], flagPad)
			}
			sh.tail += uint64(room)
			off += room
		}
		c := sh.spare
		sh.spare = nil
		if c == nil {
			c = make([]byte, chunkSize)
			s.bytes.Add(chunkSize)
		}
		sh.chunks = append(sh.chunks, c)
	}
	sh.tail += uint64(size)
	return sh.chunks[off/chunkSize][off%chunkSize : off%chunkSize+size]
}

// record returns the bytes at pos. The caller holds sh.mu.
func (sh *lingerShard) record(pos uint64) []byte {
	off := int(pos - sh.base)
	return sh.chunks[off/chunkSize][off%chunkSize:]
}

// live returns key's record if it is there and not removed.
func (sh *lingerShard) live(h uint64, key string) []byte {
	pos, ok := sh.index[h]
	if !ok {
		return nil
	}
	rec := sh.record(pos)
	if flags(rec)&flagDead != 0 || string(rec[headerSize:headerSize+keyLen(rec)]) != key {
		return nil
	}
	return rec
}

func recordSize(keyLen, respLen int) int { return (headerSize + keyLen + respLen + 7) &^ 7 }

func keyLen(rec []byte) int { return int(binary.LittleEndian.Uint16(rec[offKeyLen:])) }

func flags(rec []byte) uint16 { return binary.LittleEndian.Uint16(rec[offFlags:]) }

func setFlag(rec []byte, f uint16) {
	binary.LittleEndian.PutUint16(rec[offFlags:], flags(rec)|f)
}
