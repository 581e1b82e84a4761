package sip

import "time"

// Arrival is when a message reached this server, in microseconds of the
// wall clock modulo 2^32: four bytes, which fit where a Message and an
// Incoming had padding, at the price of ages that wrap past 35 minutes
// either way, far longer than any message waits. 0 is not known.
type Arrival uint32

// ArrivalAt is the Arrival of the wall-clock time t, given in nanoseconds
// since the Unix epoch (the kernel's SO_TIMESTAMPNS, time.Time.UnixNano).
func ArrivalAt(unixNano int64) Arrival {
	a := Arrival(uint64(unixNano) / 1000)
	if a == 0 {
		return 1 // once in 71 minutes, a microsecond late rather than unknown
	}
	return a
}

// Age returns how long before now (nanoseconds since the Unix epoch) a
// was; a step of the wall clock between the two shows in it, a step back
// as a negative age.
func (a Arrival) Age(nowUnixNano int64) time.Duration {
	return time.Duration(int32(uint32(uint64(nowUnixNano)/1000)-uint32(a))) * time.Microsecond
}

// Arrival returns when the transport received m, or, for a message built
// to relay another (RelayOf), when that one was received; 0 when not
// known.
func (m *Message) Arrival() Arrival { return m.arrival }

// SetArrival records when m was received: the transport's to call, once
// m is parsed.
func (m *Message) SetArrival(a Arrival) { m.arrival = a }

// RelayOf marks m, built by this server, as passing in on (a B2BUA's
// message on one leg for in, received on the other): m takes in's
// Arrival, and the transport times m's first send from it (transport.
// Target.Relaying, which takes the mark). A proxy's forwarded copy is no
// relay in this sense.
func (m *Message) RelayOf(in *Message) {
	if in == nil || in.arrival == 0 {
		return
	}
	m.arrival, m.relays = in.arrival, true
}

// TakeRelayed returns the Arrival of the message m relays (RelayOf), or
// 0, and drops the mark: only a message's first send is timed, not the
// retransmissions of the same message (a B2BUA's 2xx until its ACK).
func (m *Message) TakeRelayed() Arrival {
	if !m.relays {
		return 0
	}
	m.relays = false
	return m.arrival
}
