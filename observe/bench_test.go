package observe

import (
	"strconv"
	"strings"
	"testing"
)

// BenchmarkCapture is the per-message cost on the transport's goroutines,
// with the console's ring and without it (the observer kept running only
// for call records: cdr.enabled with the admin listener off).
func BenchmarkCapture(b *testing.B) {
	for _, bc := range []struct {
		name string
		cfg  Config
	}{
		{"ring", Config{CaptureMessages: 10000, CaptureBytes: 32 << 20}},
		{"records-only", Config{}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			o := New(bc.cfg)
			o.Start()
			defer o.Close()
			data := []byte(invite().text())
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					o.Capture(Received, "udp", parley, alice, data)
				}
			})
		})
	}
}

// BenchmarkTrackCall is the worker's cost of one call (INVITE, 180, 200,
// BYE, 200) through the dialog state machine.
func BenchmarkTrackCall(b *testing.B) {
	tr := newTracker(0)
	steps := []step{in(invite()), out(resp(180)), out(resp(200)), in(bye()), out(byeResp(200))}
	msgs := make([]Message, len(steps))
	for i, s := range steps {
		text := s.m.text()
		msgs[i] = Message{Dir: s.dir, Peer: alice, Text: text, Summary: Scan(text)}
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		id := "c" + strconv.Itoa(i)
		for j := range msgs {
			m := msgs[j]
			m.Text = strings.Replace(m.Text, "Call-ID: c1", "Call-ID: "+id, 1)
			m.CallID = id
			tr.observe(&m)
		}
	}
}
