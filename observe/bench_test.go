package observe

import "testing"

// BenchmarkCapture is the per-message cost on the transport's goroutines.
func BenchmarkCapture(b *testing.B) {
	o := New(Config{CaptureMessages: 10000, CaptureBytes: 32 << 20})
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
}
