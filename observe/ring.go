package observe

// ring holds the most recent messages, bounded by count and by the bytes
// of their text: the count bounds the slots, the bytes bound what large
// messages (big SDP bodies, fat NOTIFYs) can pin. It is not safe for
// concurrent use; the Observer's lock guards it, because sequence numbers,
// the ring and the worker's queue must agree on one order.
type ring struct {
	buf      []Message // circular; len(buf) is the count bound
	head     int       // index of the oldest message
	n        int       // messages held
	bytes    int       // text bytes held
	maxBytes int
	evicted  uint64 // messages pushed out (or never kept) to stay in bounds
}

func newRing(maxMessages, maxBytes int) *ring {
	return &ring{buf: make([]Message, max(maxMessages, 0)), maxBytes: maxBytes}
}

// add keeps m, dropping the oldest messages as the bounds require. A
// message larger than the whole byte budget is not kept at all.
func (r *ring) add(m *Message) {
	size := len(m.Text)
	if len(r.buf) == 0 || size > r.maxBytes {
		r.evicted++
		return
	}
	for r.n == len(r.buf) || r.bytes+size > r.maxBytes {
		r.dropOldest()
	}
	r.buf[(r.head+r.n)%len(r.buf)] = *m
	r.n++
	r.bytes += size
}

func (r *ring) dropOldest() {
	old := &r.buf[r.head]
	r.bytes -= len(old.Text)
	*old = Message{} // let the collector have the text
	r.head = (r.head + 1) % len(r.buf)
	r.n--
	r.evicted++
}

// at returns the i-th oldest message held.
func (r *ring) at(i int) *Message { return &r.buf[(r.head+i)%len(r.buf)] }

// since returns up to limit messages with Seq > after, oldest first; limit
// <= 0 means all.
func (r *ring) since(after uint64, limit int) []Message {
	// Sequence numbers grow along the ring, so the first match is found
	// by binary search.
	lo, hi := 0, r.n
	for lo < hi {
		mid := (lo + hi) / 2
		if r.at(mid).Seq <= after {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	count := r.n - lo
	if limit > 0 && count > limit {
		count = limit
	}
	out := make([]Message, count)
	for i := range out {
		out[i] = *r.at(lo + i)
	}
	return out
}

// byCallID returns the messages of one call, oldest first. A linear scan
// of at most the ring's size costs microseconds and saves keeping an index
// up to date on every message.
func (r *ring) byCallID(id string) []Message {
	var out []Message
	for i := range r.n {
		if m := r.at(i); m.CallID == id {
			out = append(out, *m)
		}
	}
	return out
}
