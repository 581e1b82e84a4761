package sip

import (
	"sync"
	"testing"
)

// The benchmarks behind docs/PERFORMANCE.md ("## sip package"). Run them
// with: go test ./sip -run XXX -bench . -benchmem -count 5

func benchParse(b *testing.B, name string) {
	data := loadGolden(b, name)
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Parse(data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseInvite parses a typical INVITE with SDP (789 bytes, 12
// headers) into a new Message: the one allocation is the Message.
func BenchmarkParseInvite(b *testing.B)   { benchParse(b, "invite.sip") }
func BenchmarkParseRegister(b *testing.B) { benchParse(b, "register.sip") }
func BenchmarkParse200OK(b *testing.B)    { benchParse(b, "ok200.sip") }

// BenchmarkParseIntoInvite parses into a reused Message, as a server with
// a sync.Pool of Messages does.
func BenchmarkParseIntoInvite(b *testing.B) {
	data := loadGolden(b, "invite.sip")
	var m Message
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if err := DefaultLimits.ParseInto(&m, data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseValidateInvite parses and runs Validate, which parses
// every typed header a proxy checks (Via, From, To, Call-ID, CSeq,
// Max-Forwards, Contact, Request-URI, Route).
func BenchmarkParseValidateInvite(b *testing.B) {
	data := loadGolden(b, "invite.sip")
	var m Message
	b.ReportAllocs()
	for b.Loop() {
		if err := DefaultLimits.ParseInto(&m, data); err != nil {
			b.Fatal(err)
		}
		if err := m.Validate(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkForwardInvite is the proxy's whole forward path for an INVITE
// from a pooled Message: parse, prepend Via, rewrite the Request-URI,
// decrement Max-Forwards, add Record-Route, write into a reused buffer.
func BenchmarkForwardInvite(b *testing.B) {
	data := loadGolden(b, "invite.sip")
	pool := sync.Pool{New: func() any { return new(Message) }}
	buf := make([]byte, 0, 2048)
	b.ReportAllocs()
	for b.Loop() {
		m := pool.Get().(*Message)
		if err := DefaultLimits.ParseInto(m, data); err != nil {
			b.Fatal(err)
		}
		forward(m)
		buf = m.AppendTo(buf[:0])
		m.Reset()
		pool.Put(m)
	}
}

// BenchmarkForwardInviteNoPool is the same without a pool: a new Message
// per request, as Parse gives, which then allocates its typed-value cache
// and its edit buffer.
func BenchmarkForwardInviteNoPool(b *testing.B) {
	data := loadGolden(b, "invite.sip")
	buf := make([]byte, 0, 2048)
	b.ReportAllocs()
	for b.Loop() {
		m, err := Parse(data)
		if err != nil {
			b.Fatal(err)
		}
		forward(m)
		buf = m.AppendTo(buf[:0])
	}
}

// BenchmarkForwardInviteEditWrite is the edit and write part alone: the
// messages are parsed ahead, a batch at a time, with the timer stopped.
func BenchmarkForwardInviteEditWrite(b *testing.B) {
	data := loadGolden(b, "invite.sip")
	const batch = 512
	msgs := make([]Message, batch)
	buf := make([]byte, 0, 2048)
	parseAll := func() {
		for i := range msgs {
			if err := DefaultLimits.ParseInto(&msgs[i], data); err != nil {
				b.Fatal(err)
			}
		}
	}
	for i := range msgs { // let every Message grow its buffers once
		DefaultLimits.ParseInto(&msgs[i], data)
		forward(&msgs[i])
	}
	parseAll()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%batch == 0 && i > 0 {
			b.StopTimer()
			parseAll()
			b.StartTimer()
		}
		m := &msgs[i%batch]
		forward(m)
		buf = m.AppendTo(buf[:0])
	}
}

// BenchmarkCloneInto copies a parsed INVITE into a pooled Message, as a
// forking proxy does for each branch.
func BenchmarkCloneInto(b *testing.B) {
	src, _ := Parse(loadGolden(b, "invite.sip"))
	var dst Message
	b.ReportAllocs()
	for b.Loop() {
		src.CloneInto(&dst)
	}
}

// BenchmarkNewResponse builds a 180 Ringing to an INVITE.
func BenchmarkNewResponse(b *testing.B) {
	req, _ := Parse(loadGolden(b, "invite.sip"))
	b.ReportAllocs()
	for b.Loop() {
		NewResponse(req, 180, "", "8a7b6c")
	}
}

// BenchmarkFramer cuts pipelined INVITEs from a stream.
func BenchmarkFramer(b *testing.B) {
	data := loadGolden(b, "invite.sip")
	var f Framer
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		f.Write(data)
		if _, ok, err := f.Next(); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}
