package observe

import (
	"fmt"
	"strings"
	"sync"
	"testing"
)

func seqs(ms []Message) []uint64 {
	out := make([]uint64, len(ms))
	for i, m := range ms {
		out[i] = m.Seq
	}
	return out
}

func fill(r *ring, n, size int, callID func(i int) string) {
	for i := 1; i <= n; i++ {
		r.add(&Message{Seq: uint64(i), Text: strings.Repeat("x", size), Summary: Summary{CallID: callID(i)}})
	}
}

func TestRingBounds(t *testing.T) {
	tests := []struct {
		name         string
		count, bytes int
		add, size    int
		wantSeqs     string
		wantBytes    int
		wantEvicted  uint64
	}{
		{"under both bounds", 5, 1000, 3, 10, "[1 2 3]", 30, 0},
		{"count bound", 3, 1000, 5, 10, "[3 4 5]", 30, 2},
		{"byte bound", 10, 25, 5, 10, "[4 5]", 20, 3},
		{"exact byte fit", 10, 30, 3, 10, "[1 2 3]", 30, 0},
		{"too big to keep", 10, 5, 2, 10, "[]", 0, 2},
		{"no slots", 0, 1000, 2, 10, "[]", 0, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRing(tt.count, tt.bytes)
			fill(r, tt.add, tt.size, func(int) string { return "c" })
			if got := fmt.Sprint(seqs(r.since(0, 0))); got != tt.wantSeqs {
				t.Errorf("held %s, want %s", got, tt.wantSeqs)
			}
			if r.bytes != tt.wantBytes || r.evicted != tt.wantEvicted {
				t.Errorf("bytes %d evicted %d, want %d %d", r.bytes, r.evicted, tt.wantBytes, tt.wantEvicted)
			}
		})
	}
}

func TestRingBigMessageEvictsSeveral(t *testing.T) {
	r := newRing(10, 100)
	fill(r, 5, 20, func(int) string { return "c" }) // 100 bytes
	r.add(&Message{Seq: 6, Text: strings.Repeat("y", 50)})
	if got := fmt.Sprint(seqs(r.since(0, 0))); got != "[4 5 6]" || r.bytes != 90 {
		t.Errorf("held %s (%d bytes), want [4 5 6] (90)", got, r.bytes)
	}
}

func TestRingSince(t *testing.T) {
	r := newRing(4, 1000)
	fill(r, 7, 1, func(int) string { return "c" }) // holds 4..7, wrapped
	for _, tt := range []struct {
		after uint64
		limit int
		want  string
	}{
		{0, 0, "[4 5 6 7]"}, {4, 0, "[5 6 7]"}, {6, 0, "[7]"}, {7, 0, "[]"}, {100, 0, "[]"},
		{0, 2, "[4 5]"}, {5, 1, "[6]"},
	} {
		if got := fmt.Sprint(seqs(r.since(tt.after, tt.limit))); got != tt.want {
			t.Errorf("since(%d, %d) = %s, want %s", tt.after, tt.limit, got, tt.want)
		}
	}
}

func TestRingByCallID(t *testing.T) {
	r := newRing(6, 1000)
	fill(r, 9, 1, func(i int) string { return fmt.Sprint("call-", i%3) }) // holds 4..9
	for id, want := range map[string]string{"call-0": "[6 9]", "call-1": "[4 7]", "call-2": "[5 8]", "nope": "[]"} {
		if got := fmt.Sprint(seqs(r.byCallID(id))); got != want {
			t.Errorf("%s: %s, want %s", id, got, want)
		}
	}
}

// TestObserverConcurrentCapture captures from many goroutines while others
// read, under -race: the ring must stay in sequence order and in bounds,
// and every message must be numbered exactly once.
func TestObserverConcurrentCapture(t *testing.T) {
	o := New(Config{CaptureMessages: 500, CaptureBytes: 1 << 20})
	o.Start()
	defer o.Close()
	const writers, each = 8, 400
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var readers sync.WaitGroup
	for range 2 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				checkOrdered(t, o.Messages(0, 0))
				o.CallMessages("w3")
				o.Stats()
			}
		}()
	}
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				text := msg{method: "OPTIONS", callID: fmt.Sprint("w", w), branch: fmt.Sprint("b", i)}.text()
				o.Capture(Received, "udp", parley, alice, []byte(text))
			}
		}()
	}
	wg.Wait()
	close(stop)
	readers.Wait()
	o.Flush()
	st := o.Stats()
	if st.Captured != writers*each || st.Held != 500 || st.Evicted != writers*each-500 {
		t.Errorf("stats %+v", st)
	}
	all := o.Messages(0, 0)
	checkOrdered(t, all)
	if all[len(all)-1].Seq != writers*each {
		t.Errorf("last seq %d", all[len(all)-1].Seq)
	}
}

func checkOrdered(t *testing.T, ms []Message) {
	for i := 1; i < len(ms); i++ {
		if ms[i].Seq != ms[i-1].Seq+1 || ms[i].Time.Before(ms[i-1].Time) {
			t.Errorf("out of order at %d: %d after %d", i, ms[i].Seq, ms[i-1].Seq)
			return
		}
	}
}
