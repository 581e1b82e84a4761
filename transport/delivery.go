package transport

import (
	"sync"

	"github.com/parley-sip/parley/sip"
)

// delivery is one received message and the memory it lives in: the
// Incoming the Handler gets, the Message parsed into it and, for a
// datagram, the copy of its bytes. One allocation holds all three, and a
// delivery its Handler released (Incoming.Release) goes back to the pool
// for a later message; one that was not released stays with whoever kept
// the message, as a plain allocation would.
//
// It is 576 bytes, a size class of the allocator's: a field more would
// make every kept message cost 640.
type delivery struct {
	in  Incoming
	msg sip.Message
	buf []byte // the datagram copy's memory, reused
}

var deliveries = sync.Pool{New: func() any { return new(delivery) }}

// Bounds on the datagram buffer a delivery keeps: a kept message holds
// its whole buffer, so a reused one may exceed the datagram by at most
// this much (or by the datagram's own size); and one larger than
// maxPooledBuf is not pooled at all, so that a rare 60 KB message does
// not pin 60 KB in the pool.
const (
	bufSlack     = 512
	maxPooledBuf = 16 << 10
)

// takeDelivery returns a delivery for a message from in's source; the
// caller fills d.msg.
func takeDelivery(in Incoming) *delivery {
	d := deliveries.Get().(*delivery)
	d.in = in
	d.in.Msg = &d.msg
	return d
}

// copyIn copies a datagram into the delivery's buffer, reusing it when
// it fits without wasting much, and returns the copy.
func (d *delivery) copyIn(b []byte) []byte {
	if cap(d.buf) < len(b) || cap(d.buf) > 2*len(b)+bufSlack {
		d.buf = make([]byte, len(b))
	}
	d.buf = d.buf[:len(b)]
	copy(d.buf, b)
	return d.buf
}

// done puts d back in the pool when its Handler released it. In checked
// builds it poisons d instead and drops it: the Message panics on use, the
// Incoming has no Message and the bytes are overwritten, so that whoever
// kept any of them fails a test.
func (d *delivery) done() {
	if !d.in.released {
		return
	}
	raw := d.msg.Raw()
	d.msg.Release()
	d.in = Incoming{}
	if sip.CheckReleased {
		for i := range raw {
			raw[i] = poisonByte
		}
		return
	}
	if cap(d.buf) > maxPooledBuf {
		d.buf = nil
	}
	deliveries.Put(d)
}

// poisonByte overwrites a released datagram in checked builds: a string
// kept from it then reads as a run of '~', which no test expects.
const poisonByte = '~'

// Inject hands a copy of data to h as a reader does: parsed into pooled
// memory, a request's top Via stamped with in.Source, and the memory
// reused once h releases it. It drives a Handler without sockets, for the
// tests and benchmarks of the layers above; a message that does not parse
// is returned as the error and not answered. in.Arrival is kept as given
// (0: not known), so that tests choose the times they measure from.
func Inject(h Handler, limits sip.Limits, data []byte, in Incoming) error {
	d := takeDelivery(in)
	defer d.done()
	msg := d.in.Msg
	if err := limits.ParseInto(msg, d.copyIn(data)); err != nil {
		d.in.Release()
		return err
	}
	msg.SetArrival(in.Arrival)
	if msg.IsRequest() {
		if err := stamp(msg, in.Source, false); err != nil {
			d.in.Release()
			return err
		}
	}
	h.HandleMessage(&d.in)
	return nil
}
