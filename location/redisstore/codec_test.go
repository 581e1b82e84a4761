package redisstore

import (
	"errors"
	"net/netip"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/parley-sip/parley/location"
)

func sample() []location.Binding {
	t0 := time.Date(2030, 1, 2, 3, 4, 5, 123456789, time.UTC)
	return []location.Binding{{
		Contact: "sip:alice@198.51.100.7:50312;transport=tcp", Params: `reg-id=1;+sip.instance="<urn:uuid:1>"`,
		Q: 700, Expires: t0.Add(time.Hour), CallID: "c@h", CSeq: 4294967295,
		Path: []string{"<sip:edge1;lr>", "<sip:edge2;lr>"}, Transport: "tcp",
		Source: netip.MustParseAddrPort("198.51.100.7:50312"), Local: netip.MustParseAddrPort("[2001:db8::1]:5060"),
		ConnID: 9001, InstanceID: "<urn:uuid:1>", RegID: -1, UserAgent: "ua/1", Updated: t0,
	}, {
		Contact: "sip:bob@h", Q: 0, Expires: t0.Add(-time.Second),
	}}
}

// TestCodecRoundTrip: every field comes back, in the same order; a
// binding is live strictly before its expiry; a ConnID only for its owner.
func TestCodecRoundTrip(t *testing.T) {
	in := sample()
	v := string(encodeSet(nil, 42, 7, in))
	if size := setSize(in); len(v) > size {
		t.Errorf("setSize = %d, the set takes %d", size, len(v))
	}
	if got := versionOf(v); got != 42 {
		t.Errorf("versionOf = %d, want 42", got)
	}
	tests := []struct {
		name   string
		self   uint64
		now    time.Time
		live   bool
		want   int
		connID uint64
	}{
		{"all, owner", 7, time.Time{}, false, 2, 9001},
		{"all, other node", 8, time.Time{}, false, 2, 0},
		{"live at the second one's expiry", 7, in[1].Expires, true, 1, 9001},
		{"live at the first one's expiry", 7, in[0].Expires, true, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeSet(v, "sip:a@h", tt.self, tt.now, tt.live)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tt.want {
				t.Fatalf("%d bindings, want %d", len(got), tt.want)
			}
			if tt.want == 0 {
				return
			}
			want := in[0]
			want.AOR, want.ConnID = "sip:a@h", tt.connID
			g := got[0]
			if !g.Expires.Equal(want.Expires) || !g.Updated.Equal(want.Updated) {
				t.Fatalf("times %v %v, want %v %v", g.Expires, g.Updated, want.Expires, want.Updated)
			}
			g.Expires, g.Updated = want.Expires, want.Updated
			if !reflect.DeepEqual(g, want) {
				t.Errorf("got %+v, want %+v", g, want)
			}
		})
	}
}

// TestCodecRejects: a value that is not a whole set this package wrote
// is an error, never a partial set.
func TestCodecRejects(t *testing.T) {
	v := encodeSet(nil, 1, 1, sample())
	tests := map[string][]byte{
		"empty":         nil,
		"header only":   v[:headerSize],
		"other format":  append([]byte{9}, v[1:]...),
		"truncated":     v[:len(v)-1],
		"trailing byte": append(slices.Clone(v), 0),
		"huge count":    append(slices.Clone(v[:headerSize]), 0xff, 0xff, 0xff, 0xff, 0x0f),
	}
	for name, in := range tests {
		if _, err := decodeSet(string(in), "sip:a@h", 1, time.Time{}, false); !errors.Is(err, errCorrupt) {
			t.Errorf("%s: err = %v, want errCorrupt", name, err)
		}
	}
}

// FuzzDecodeSet: decoding never panics, and what decodes re-encodes to
// the same bytes.
func FuzzDecodeSet(f *testing.F) {
	f.Add(encodeSet(nil, 1, 1, sample()))
	f.Add(encodeSet(nil, 2, 3, nil))
	f.Add([]byte{formatV1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		bs, err := decodeSet(string(data), "sip:a@h", 1, time.Time{}, false)
		if err != nil {
			return
		}
		v := encodeSet(nil, versionOf(string(data)), 1, bs)
		if size := setSize(bs); len(v) > size {
			t.Errorf("setSize = %d, the set takes %d", size, len(v))
		}
		again, err := decodeSet(string(v), "sip:a@h", 1, time.Time{}, false)
		if err != nil {
			t.Fatalf("re-encoded set does not decode: %v", err)
		}
		if len(again) != len(bs) {
			t.Fatalf("re-encoded set has %d bindings, want %d", len(again), len(bs))
		}
	})
}
