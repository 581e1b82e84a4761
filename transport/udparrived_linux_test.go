//go:build linux

package transport

import (
	"testing"
	"time"
)

// TestUDPArrived: a datagram carries the kernel's time of receipt, which
// is what tells a handler how long it waited in the socket's buffer. The
// reader here is held back (the collector takes one message at a time),
// so the second datagram waits, and its time must be that of its
// arrival, not of its reading.
func TestUDPArrived(t *testing.T) {
	forFamilies(t, func(t *testing.T, f family) {
		col := &collector{ch: make(chan *Incoming)} // unbuffered: the reader waits for the test
		m := start(t, udpConfig(f), col)
		c := udpClient(t, f)
		srv := m.Listeners()[0].Bound
		before := time.Now()
		for range 2 {
			if _, err := c.WriteToUDPAddrPort(request(UDP, hostPort(addrPort(c.LocalAddr())), "", "rport"), srv); err != nil {
				t.Fatal(err)
			}
		}
		sent := time.Now()
		time.Sleep(50 * time.Millisecond)
		for i := range 2 {
			in := col.next(t)
			if in.Arrived.Before(before.Add(-10*time.Millisecond)) || in.Arrived.After(sent) {
				t.Errorf("datagram %d: Arrived %v, want between %v and %v", i, in.Arrived, before, sent)
			}
		}
	})
}
