package b2bua

import (
	"bytes"
	"testing"
	"unsafe"
)

// TestSentBodies: the last body sent each way is kept, a copy, with both
// in one allocation, whatever order they change in.
func TestSentBodies(t *testing.T) {
	for _, tc := range []struct {
		name  string
		steps []struct {
			from Side
			body string
		}
		wantA, wantB string
	}{
		{"offer then answer", []struct {
			from Side
			body string
		}{{SideA, "v=0 offer"}, {SideB, "v=0 answer!"}}, "v=0 answer!", "v=0 offer"},
		{"a re-offer from B", []struct {
			from Side
			body string
		}{{SideA, "offer"}, {SideB, "answer"}, {SideB, "re-offer from B"}}, "re-offer from B", "offer"},
		{"one side only", []struct {
			from Side
			body string
		}{{SideB, "answer"}}, "answer", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &Call{}
			for _, s := range tc.steps {
				in := []byte(s.body)
				_, kept := c.noteBody(s.from, sdpType, in)
				if len(in) > 0 && &kept[0] == &in[0] {
					t.Fatalf("the body from %v is kept as the message's, not a copy", s.from)
				}
			}
			ctA, a := c.sentBody(SideA)
			_, b := c.sentBody(SideB)
			if string(a) != tc.wantA || string(b) != tc.wantB || (len(a) > 0 && ctA != sdpType) {
				t.Fatalf("kept A %q B %q, want %q %q", a, b, tc.wantA, tc.wantB)
			}
			if len(a) > 0 && len(b) > 0 && unsafe.SliceData(b) != unsafe.SliceData(c.sent.buf[len(a):]) {
				t.Error("the two bodies are not in one allocation")
			}
			_ = append(a, "overwrite"...) // must not reach B's body
			if _, b2 := c.sentBody(SideB); !bytes.Equal(b2, []byte(tc.wantB)) {
				t.Errorf("an append to A's body changed B's to %q", b2)
			}
		})
	}
}

// TestHeldCallSize: a held call is one object with its first legs, their
// dialogs and session timers, in the 1536-byte size class. An object
// over 512 bytes with pointers has an 8-byte header before it (Go 1.22
// on), so past 1528 bytes the Call would take the 1792-byte class, and
// past 1784 the 2048-byte one: 256 bytes more for each of 100 000 calls.
func TestHeldCallSize(t *testing.T) {
	for _, tc := range []struct {
		what      string
		size, max uintptr
	}{
		{"Call", unsafe.Sizeof(Call{}), 1536 - 8},
		{"Leg", unsafe.Sizeof(Leg{}), 280},
	} {
		if tc.size > tc.max {
			t.Errorf("%s is %d bytes, over %d", tc.what, tc.size, tc.max)
		}
	}
}
