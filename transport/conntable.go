package transport

import (
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// conn is one TCP or TLS connection, accepted or dialed. Reads happen on
// its own goroutine; writes from any goroutine, one at a time.
//
// Every open connection holds one, so it is kept small: its local
// address is read from nc when a message needs it, and accepted sits in
// closeOnce's padding (128 bytes, not 176).
type conn struct {
	id     ConnID
	proto  Proto
	driver connDriver // frames what the connection reads
	nc     net.Conn
	remote netip.AddrPort
	info   *ListenerInfo   // the listener it was accepted on, or that names it in Via
	ws     *websocket.Conn // the WebSocket on nc (WS, WSS), which frames every write

	wmu       sync.Mutex
	closeOnce sync.Once
	accepted  bool // counts against MaxConnectionsPerIP
}

// local is the connection's own address.
func (c *conn) local() netip.AddrPort { return addrPort(c.nc.LocalAddr()) }

// write sends b whole or fails; a stalled peer fails it after timeout.
func (c *conn) write(b []byte, timeout time.Duration) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.ws != nil {
		return writeMessage(c.ws, b, timeout)
	}
	c.nc.SetWriteDeadline(time.Now().Add(timeout))
	_, err := c.nc.Write(b)
	return err
}

func (c *conn) close() {
	c.closeOnce.Do(func() { c.nc.Close() })
}

// connKey finds a connection by where it goes, for reuse.
type connKey struct {
	proto Proto
	addr  netip.AddrPort
}

// dialCall is one connection attempt in progress, which other senders to
// the same address wait for instead of opening a second connection.
type dialCall struct {
	done chan struct{}
	c    *conn
	err  error
}

// connTable indexes the open connections by ID and by peer address.
type connTable struct {
	mu      sync.Mutex
	closed  bool
	byID    map[ConnID]*conn
	byAddr  map[connKey]*conn
	perIP   map[netip.Addr]int
	dialing map[connKey]*dialCall
}

func (t *connTable) init() {
	t.byID = make(map[ConnID]*conn)
	t.byAddr = make(map[connKey]*conn)
	t.perIP = make(map[netip.Addr]int)
	t.dialing = make(map[connKey]*dialCall)
}

// add registers c unless a limit is reached or the table is closed, and
// then runs start (which must not block) under the table's lock, so that
// a Close that follows sees the goroutine start counted.
func (t *connTable) add(c *conn, maxTotal, maxPerIP int, start func()) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case t.closed:
		return ErrClosed
	case len(t.byID) >= maxTotal:
		return ErrTooManyConnections
	case c.accepted && t.perIP[c.remote.Addr()] >= maxPerIP:
		return ErrTooManyConnections
	}
	t.byID[c.id] = c
	t.byAddr[connKey{c.proto, c.remote}] = c
	if c.accepted {
		t.perIP[c.remote.Addr()]++
	}
	start()
	return nil
}

// remove forgets c; a newer connection to the same address stays.
func (t *connTable) remove(c *conn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.byID[c.id] != c {
		return
	}
	delete(t.byID, c.id)
	k := connKey{c.proto, c.remote}
	if t.byAddr[k] == c {
		delete(t.byAddr, k)
	}
	if c.accepted {
		ip := c.remote.Addr()
		if t.perIP[ip]--; t.perIP[ip] <= 0 {
			delete(t.perIP, ip)
		}
	}
}

// to returns the open connection with the peer at k, in either
// direction, or nil.
func (t *connTable) to(k connKey) *conn {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.byAddr[k]
}

func (t *connTable) get(id ConnID) *conn {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.byID[id]
}

// full reports whether a connection from ip would be refused now, so
// that a WebSocket listener can refuse before the TLS and HTTP handshakes;
// add decides for good.
func (t *connTable) full(ip netip.Addr, maxTotal, maxPerIP int) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.closed || len(t.byID) >= maxTotal || t.perIP[ip] >= maxPerIP
}

// webSockets appends to dst the WebSocket connections whose ID is slot
// modulo n. It walks the whole table, a few microseconds per thousand
// connections, once per tick of the pings.
func (t *connTable) webSockets(slot, n uint64, dst []*conn) []*conn {
	t.mu.Lock()
	defer t.mu.Unlock()
	for id, c := range t.byID {
		if c.ws != nil && uint64(id)%n == slot {
			dst = append(dst, c)
		}
	}
	return dst
}

func (t *connTable) count() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.byID)
}

// lookupOrDial returns an open connection to k, or the attempt to open
// one; leader is true when the caller must make that attempt and finish
// it with endDial.
func (t *connTable) lookupOrDial(k connKey) (c *conn, call *dialCall, leader bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if c := t.byAddr[k]; c != nil {
		return c, nil, false
	}
	if call := t.dialing[k]; call != nil {
		return nil, call, false
	}
	call = &dialCall{done: make(chan struct{})}
	t.dialing[k] = call
	return nil, call, true
}

func (t *connTable) endDial(k connKey, call *dialCall, c *conn, err error) {
	t.mu.Lock()
	delete(t.dialing, k)
	t.mu.Unlock()
	call.c, call.err = c, err
	close(call.done)
}

// closeAll closes every connection and refuses new ones; the reading
// goroutines then remove them.
func (t *connTable) closeAll() {
	t.mu.Lock()
	t.closed = true
	cs := make([]*conn, 0, len(t.byID))
	for _, c := range t.byID {
		cs = append(cs, c)
	}
	t.mu.Unlock()
	for _, c := range cs {
		c.close()
	}
}
