package proxy

import (
	"sync"

	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transport"
)

// maxWireBuf is the largest buffer taken back into wireBufs: a rare huge
// message should not keep its buffer alive in the pool.
const maxWireBuf = 8 << 10

// wireBufs holds the buffers that the stateless sends (a forwarded
// request or ACK, a stray or stateless response) are written into, so
// that each forward does not allocate its wire copy.
//
// The lifetime rule: a buffer is taken just before Transport.Send and
// put back as soon as Send returns, by sendWire alone. Transport.Send must
// therefore not keep msg after it returns (transport.Manager writes it
// or copies it into its queue; the server's taps copy what they keep).
// Sends that outlive the call, the client and server transactions'
// retransmissions, keep their own bytes and never use these buffers.
var wireBufs = sync.Pool{New: func() any {
	b := make([]byte, 0, 2048)
	return &b
}}

// copies holds the Messages that stateless forwards are built in: the
// copy of the request that gets the target's Request-URI, Max-Forwards
// and our Via. Like a wire buffer it lives only as long as the forward:
// taken before the copy is made and given back once it is sent, or once
// the lookup that sends it later has.
var copies = sync.Pool{New: func() any { return new(sip.Message) }}

// takeCopy returns a Message to copy a request into.
func takeCopy() *sip.Message { return copies.Get().(*sip.Message) }

// putCopy gives back a copy taken with takeCopy. Checked builds poison it
// instead (sip.Message.Release), so that anything still holding it fails.
func putCopy(m *sip.Message) {
	m.Release()
	if !sip.CheckReleased {
		copies.Put(m)
	}
}

// sendWire writes m into a pooled buffer and sends it to dst.
func (p *Proxy) sendWire(dst transport.Target, m *sip.Message) error {
	bp := wireBufs.Get().(*[]byte)
	b := m.AppendTo((*bp)[:0])
	err := p.tp.Send(dst, b)
	if cap(b) <= maxWireBuf {
		*bp = b[:0]
		wireBufs.Put(bp)
	}
	return err
}
