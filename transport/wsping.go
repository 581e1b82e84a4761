package transport

import (
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// wsPingSlots is how many parts the ping interval is cut into at most:
// each tick of the shared timer pings the WebSocket connections of one
// slot. Enough that a tick's pings, each a goroutine while it writes,
// stay a small crowd (156 at 10 000 connections), and few enough that
// walking the table once a tick costs nothing to speak of.
const wsPingSlots = 64

// wsPingTick is the shortest tick: a short interval (tests use tens of
// milliseconds) is cut into fewer slots, so that a late tick on a busy
// machine does not add up to a missed interval.
const wsPingTick = 10 * time.Millisecond

// wsPings pings every WebSocket connection once per WSPingInterval from
// one timer for them all. A timer of its own for each connection, with
// its closure, kept about 150 bytes per connection (1.5 MB at 10 000).
// A connection's slot is its ID modulo the number of slots, so it is
// pinged one interval apart; each ping is written from a goroutine of its own, so
// that a peer that stopped reading delays no other's ping.
type wsPings struct {
	m     *Manager
	once  sync.Once
	mu    sync.Mutex
	t     *time.Timer
	done  bool
	slots uint64 // how many the interval is cut into
	slot  uint64
	next  time.Time // when the next tick is due
	batch []*conn   // the tick's connections, reused from tick to tick
}

// start arms the timer, once, when the first WebSocket connection opens.
func (p *wsPings) start() {
	p.once.Do(func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		if !p.done {
			p.slots = uint64(min(max(p.m.cfg.WSPingInterval/wsPingTick, 1), wsPingSlots))
			p.next = time.Now().Add(p.tickEvery())
			p.t = time.AfterFunc(p.tickEvery(), p.tick)
		}
	})
}

func (p *wsPings) tickEvery() time.Duration {
	return p.m.cfg.WSPingInterval / time.Duration(p.slots)
}

// tick pings the connections of the next slot and arms the next tick,
// due one tick after this one was due, not after it ran: each tick's
// lateness would otherwise add up over a round of slots, and on a busy
// machine a round longer than two intervals closed peers that answered
// every ping.
func (p *wsPings) tick() {
	p.batch = p.m.conns.webSockets(p.slot, p.slots, p.batch[:0])
	p.slot = (p.slot + 1) % p.slots
	timeout := p.m.cfg.TCPWriteTimeout
	for _, c := range p.batch {
		go ping(c, timeout)
	}
	clear(p.batch) // the next tick must not keep closed connections
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.done {
		p.next = p.next.Add(p.tickEvery())
		if late := -time.Until(p.next); late > p.m.cfg.WSPingInterval {
			p.next = p.next.Add(late) // a stop of the world: no burst to catch up
		}
		p.t.Reset(max(time.Until(p.next), 0))
	}
}

// ping writes one ping, as a data message is written: under the
// connection's write lock, from gorilla's pooled write buffer.
// WriteControl, which could run beside a data write, allocates a frame
// buffer and a timer on every call (about 350 bytes); at 10 000 idle
// connections pinged every 30 s that garbage grew the heap by 1.7 KiB a
// connection before the runtime's 2-minute collection. A ping queued
// behind a data write to a stalled peer waits for it, as any write to
// that peer would. If the write fails, the reader sees the broken
// connection.
func ping(c *conn, timeout time.Duration) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.ws.SetWriteDeadline(time.Now().Add(timeout))
	c.ws.WriteMessage(websocket.PingMessage, nil)
}

// stop ends the pings for good.
func (p *wsPings) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done = true
	if p.t != nil {
		p.t.Stop()
	}
}
