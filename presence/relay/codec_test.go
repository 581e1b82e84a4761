package relay

import (
	"reflect"
	"testing"

	"github.com/parley-sip/parley/location"
	"github.com/parley-sip/parley/registrar"
)

func TestDecodeChange(t *testing.T) {
	for _, tt := range []struct {
		name string
		in   string
		ok   bool
	}{
		{"added", "1\nsip:bob@example.com\nsip:bob@192.0.2.1\ncall-1\n7", true},
		{"expired", "4\nsip:bob@example.com\nsip:bob@192.0.2.1\n\n0", true},
		{"unknown kind", "5\nsip:bob@example.com\nsip:bob@192.0.2.1\ncall-1\n7", false},
		{"kind zero", "0\nsip:bob@example.com\nc\ncall-1\n7", false},
		{"cseq too big", "1\nsip:bob@example.com\nc\ncall-1\n4294967296", false},
		{"a field short", "1\nsip:bob@example.com\nc\n7", false},
		{"empty", "", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, ok := decodeChange([]byte(tt.in)); ok != tt.ok {
				t.Errorf("decodeChange(%q) ok = %v, want %v", tt.in, ok, tt.ok)
			}
		})
	}
}

func TestChangeRoundTrip(t *testing.T) {
	c := registrar.Change{Kind: registrar.Removed, AOR: "sip:bob@example.com",
		Binding: location.Binding{AOR: "sip:bob@example.com", Contact: "<sip:bob@[2001:db8::1]:5060;transport=tcp>", CallID: "a@b", CSeq: 4294967295}}
	got, ok := decodeChange(encodeChange(c))
	if !ok || got.Kind != c.Kind || got.AOR != c.AOR || got.Binding.Contact != c.Binding.Contact ||
		got.Binding.CallID != c.Binding.CallID || got.Binding.CSeq != c.Binding.CSeq {
		t.Errorf("round trip: %+v, %v", got, ok)
	}
}

// FuzzDecodeChange: whatever arrives on the bus, decoding neither panics
// nor yields a change that encodes to something else.
func FuzzDecodeChange(f *testing.F) {
	f.Add([]byte("1\nsip:bob@example.com\nsip:bob@192.0.2.1\ncall-1\n7"))
	f.Add([]byte("3\n\n\n\n"))
	f.Fuzz(func(t *testing.T, p []byte) {
		c, ok := decodeChange(p)
		if !ok {
			return
		}
		if again, ok := decodeChange(encodeChange(c)); !ok || !reflect.DeepEqual(again, c) {
			t.Errorf("%q decodes to %+v, which encodes to something else", p, c)
		}
	})
}
