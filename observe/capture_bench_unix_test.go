//go:build unix

package observe

import (
	"bytes"
	"syscall"
	"testing"
	"time"
)

// callLadder is what a stateful proxy captures of one call, in order:
// each request and response as received and as sent on, the proxy's own
// 100 Trying included. Every text has the Call-ID callIDPattern, which
// the benchmark overwrites in place.
func callLadder() [][]byte {
	const id = callIDPattern
	inv := msg{method: "INVITE", callID: id, branch: "z9hG4bK-in"}
	invOut := msg{method: "INVITE", callID: id, branch: "z9hG4bK-out"}
	ack := msg{method: "ACK", callID: id, branch: "z9hG4bK-ack", toTag: "t1"}
	bye := msg{method: "BYE", callID: id, branch: "z9hG4bK-bye", toTag: "t1", seq: 2}
	r := func(code int, branch, cseq string, tag string) msg {
		return msg{status: code, cseq: cseq, callID: id, branch: branch, toTag: tag}
	}
	steps := []struct {
		d Direction
		m msg
	}{
		{Received, inv}, {Sent, r(100, "z9hG4bK-in", "INVITE", "")}, {Sent, invOut},
		{Received, r(100, "z9hG4bK-out", "INVITE", "")}, {Received, r(180, "z9hG4bK-out", "INVITE", "t1")},
		{Sent, r(180, "z9hG4bK-in", "INVITE", "t1")}, {Received, r(200, "z9hG4bK-out", "INVITE", "t1")},
		{Sent, r(200, "z9hG4bK-in", "INVITE", "t1")}, {Received, ack}, {Sent, ack},
		{Received, bye}, {Sent, bye}, {Received, msg{status: 200, cseq: "BYE", callID: id, branch: "z9hG4bK-bye", toTag: "t1", seq: 2}},
		{Sent, msg{status: 200, cseq: "BYE", callID: id, branch: "z9hG4bK-bye", toTag: "t1", seq: 2}},
	}
	out := make([][]byte, len(steps))
	ladderDirs = make([]Direction, len(steps))
	for i, s := range steps {
		out[i] = []byte(s.m.text())
		ladderDirs[i] = s.d
	}
	return out
}

const callIDPattern = "call-0000000000@bench"

var ladderDirs []Direction

// BenchmarkCaptureCall is what the observer costs per call, on the
// transport's goroutines and on its worker together: the 14 messages of a
// proxied call captured, then the worker drained. cpu-µs/call is the
// process's CPU time (getrusage, the collector included) per call, which
// unlike ns/op does not count waiting for a busy machine's cores.
func BenchmarkCaptureCall(b *testing.B) {
	for _, bc := range []struct {
		name string
		cfg  Config
	}{
		{"ring", Config{CaptureMessages: 10000, CaptureBytes: 16 << 20}},
		{"records-only", Config{}},
		{"calls-only", Config{CallsOnly: true}}, // the server with neither admin nor HEP
	} {
		b.Run(bc.name, func(b *testing.B) {
			o := New(bc.cfg)
			o.Start()
			defer o.Close()
			eachCall(b, func(dir Direction, data []byte) {
				o.Capture(dir, "udp", parley, alice, data)
			}, o.Flush) // the flushes keep the queue from overflowing
			if st := o.Stats(); st.Dropped > 0 {
				b.Fatalf("%d messages dropped", st.Dropped)
			}
		})
	}
}

// eachCall feeds the call ladder's messages once per benchmark
// iteration, each with that iteration's Call-ID, calls drain every 500
// calls and at the end, and reports the process's CPU time per call.
func eachCall(b *testing.B, feed func(dir Direction, data []byte), drain func()) {
	ladder := callLadder()
	b.ReportAllocs()
	t0 := cpuTime()
	for i := 0; b.Loop(); i++ {
		for j, data := range ladder {
			setCallID(data, i)
			feed(ladderDirs[j], data)
		}
		if i%500 == 499 {
			drain()
		}
	}
	drain()
	b.ReportMetric(float64((cpuTime()-t0).Microseconds())/float64(b.N), "cpu-µs/call")
}

// setCallID writes n into the digits of the Call-ID in place.
func setCallID(data []byte, n int) {
	i := bytes.Index(data, []byte("call-"))
	for k := i + 14; k > i+4; k-- {
		data[k] = byte('0' + n%10)
		n /= 10
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkCapturePaced is BenchmarkCaptureCall at the pace of 1 000
// calls/s: one message every 70 µs, so the worker finds the queue empty
// between them, as on a proxy that is not saturated. cpu-µs/call then
// includes what waking the worker costs (goroutine handoffs, thread
// wakes), which the flooded benchmark amortises away; the pacing
// goroutine's own sleeps count too, the same for any worker.
func BenchmarkCapturePaced(b *testing.B) {
	o := New(Config{})
	o.Start()
	defer o.Close()
	ladder := callLadder()
	t0 := cpuTime()
	for i := 0; b.Loop(); i++ {
		for j, data := range ladder {
			setCallID(data, i)
			o.Capture(ladderDirs[j], "udp", parley, alice, data)
			time.Sleep(70 * time.Microsecond)
		}
	}
	o.Flush()
	b.ReportMetric(float64((cpuTime()-t0).Microseconds())/float64(b.N), "cpu-µs/call")
}

// BenchmarkTrackLadder is the call tracker alone (no capture, no worker
// goroutine) over the 14 messages of BenchmarkCaptureCall's proxied call,
// each already summarised: what the worker does per call, on one
// goroutine. cpu-µs/call is the process's CPU time per call, as in
// BenchmarkCaptureCall.
func BenchmarkTrackLadder(b *testing.B) {
	tr := newTracker(0)
	eachCall(b, func(dir Direction, data []byte) {
		text := string(data)
		m := Message{Dir: dir, Peer: alice, Text: text, Summary: Scan(text)}
		tr.observe(&m)
	}, func() {})
	if active, _ := tr.snapshot(); len(active) != 0 {
		b.Fatalf("%d calls left active: the ladder does not end its call", len(active))
	}
}
