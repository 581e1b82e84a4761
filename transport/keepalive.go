package transport

import (
	"net/netip"
	"sync"
	"time"

	"github.com/parley-sip/parley/clock"
)

// A UDP flow shows no sign of life of its own: a phone that keeps one
// with STUN keepalives (RFC 5626 §4.4.2) is the only witness that it
// still works. keepAlives remembers when each UDP source last sent one,
// so that the proxy can count a flow whose keepalives stopped as failed
// (§5.3) and send to the phone's other flow, or answer 430, instead of
// into a NAT mapping that is gone.

// keepAliveForget is how long a source's last keepalive is remembered:
// past it, a phone that stopped pinging has long since re-registered on
// another flow or let its binding expire, and the entry only costs memory.
const keepAliveForget = time.Hour

// keepAlives maps a UDP source to its last STUN keepalive.
type keepAlives struct {
	mu    sync.Mutex
	clock clock.Clock
	last  map[netip.AddrPort]time.Time
	swept time.Time // when entries older than keepAliveForget were last dropped
}

func newKeepAlives(c clock.Clock) *keepAlives {
	return &keepAlives{clock: c, last: make(map[netip.AddrPort]time.Time), swept: c.Now()}
}

// seen records a keepalive from src now.
func (k *keepAlives) seen(src netip.AddrPort) {
	now := k.clock.Now()
	k.mu.Lock()
	defer k.mu.Unlock()
	k.last[src] = now
	if now.Sub(k.swept) >= keepAliveForget/4 {
		k.sweep(now)
	}
}

// sweep drops the sources silent for keepAliveForget.
func (k *keepAlives) sweep(now time.Time) {
	k.swept = now
	for src, t := range k.last {
		if now.Sub(t) >= keepAliveForget {
			delete(k.last, src)
		}
	}
}

// lastFrom returns when src last sent a keepalive; ok is false when it
// has not lately.
func (k *keepAlives) lastFrom(src netip.AddrPort) (t time.Time, ok bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	t, ok = k.last[src]
	return t, ok
}

// LastKeepAlive returns when a UDP source last sent a STUN keepalive
// (RFC 5626 §4.4.2), by the manager's clock; ok is false when it has sent
// none in the last hour, so that its flow's life is unknown.
func (m *Manager) LastKeepAlive(src netip.AddrPort) (t time.Time, ok bool) {
	return m.keepAlives.lastFrom(src)
}
