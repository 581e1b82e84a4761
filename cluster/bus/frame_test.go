package bus

import (
	"bytes"
	"testing"
)

func TestUnframe(t *testing.T) {
	for _, tt := range []struct {
		name, msg, node, topic, payload string
		ok                              bool
	}{
		{"notice", "0123456789abcdefban\n192.0.2.1 5", "0123456789abcdef", "ban", "192.0.2.1 5", true},
		{"empty payload", "0123456789abcdeft\n", "0123456789abcdef", "t", "", true},
		{"newline in payload", "0123456789abcdeft\na\nb", "0123456789abcdef", "t", "a\nb", true},
		{"no topic end", "0123456789abcdeftopic", "", "", "", false},
		{"shorter than an id", "0123", "", "", "", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			node, topic, payload, ok := unframe(tt.msg, idLen)
			if ok != tt.ok || ok && (node != tt.node || topic != tt.topic || string(payload) != tt.payload) {
				t.Errorf("unframe(%q) = %q %q %q %v", tt.msg, node, topic, payload, ok)
			}
		})
	}
}

// FuzzUnframe: what arrives on the channel never panics the reader, and
// a frame it takes reads back the same once written again.
func FuzzUnframe(f *testing.F) {
	f.Add("0123456789abcdefban\n192.0.2.1 5")
	f.Add("\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n")
	f.Fuzz(func(t *testing.T, msg string) {
		node, topic, payload, ok := unframe(msg, idLen)
		if !ok {
			return
		}
		n2, t2, p2, ok := unframe(string(frame(node, topic, payload)), idLen)
		if !ok || n2 != node || t2 != topic || !bytes.Equal(p2, payload) {
			t.Errorf("%q does not read back", msg)
		}
	})
}
