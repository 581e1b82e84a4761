package location

import (
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

// A binding comes back from pack and unpack as it went in: every field,
// Path values of any length (a length of 128 or more takes two varint
// bytes), zero times, and times in another zone (as the same instant).
func TestPackRoundTrip(t *testing.T) {
	when := time.Date(2031, 5, 6, 7, 8, 9, 123456789, time.FixedZone("X", 3600))
	tests := []Binding{
		{},
		{
			Contact: "sip:alice@198.51.100.7:5060;ob", Params: `q=0.5;reg-id=2;+sip.instance="<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>";audio`, Q: 500, Expires: when, CallID: "a84b4c76e66710",
			CSeq: 314159, Path: []string{"<sip:p1.example.net;lr>", "<sip:" + strings.Repeat("p", 300) + ";lr>", ""},
			Transport: "tcp", Source: netip.MustParseAddrPort("[2001:db8::7]:5062"),
			Local: netip.MustParseAddrPort("192.0.2.1:5060"), ConnID: 42,
			InstanceID: "<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>", RegID: 2,
			UserAgent: "Phone/1.0", Updated: when.Add(-time.Hour),
		},
		{Contact: "sip:b@h", Q: 1000, Updated: when, Source: netip.MustParseAddrPort("[fe80::1%eth0]:5060")},
		// An instance its params do not hold has text of its own, and
		// one that is empty or is all of params round-trips too.
		{Contact: "sip:c@h", Params: "ob", CallID: "c", InstanceID: "<urn:uuid:2>", Transport: "udp"},
		{Contact: "sip:d@h", Params: `+sip.instance="<urn:uuid:3>"`, InstanceID: "<urn:uuid:3>"},
		{Contact: "sip:e@h", Params: "<urn:uuid:4>", InstanceID: "<urn:uuid:4>", Path: []string{"<sip:p;lr>"}},
		{Params: "x", InstanceID: "x"},
	}
	for _, b := range tests {
		p, err := pack(&b)
		if err != nil {
			t.Fatal(err)
		}
		got, pool := p.unpack("sip:alice@example.com", nil)
		want := b
		want.AOR = "sip:alice@example.com"
		if !got.Expires.Equal(want.Expires) || !got.Updated.Equal(want.Updated) {
			t.Fatalf("times %v %v, want %v %v", got.Expires, got.Updated, want.Expires, want.Updated)
		}
		got.Expires, got.Updated, want.Expires, want.Updated = time.Time{}, time.Time{}, time.Time{}, time.Time{}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", got, want)
		}
		if len(pool) != len(b.Path) || (len(b.Path) > 0 && cap(got.Path) != len(b.Path)) {
			t.Fatalf("pool %d, Path cap %d: a caller's append could reach another binding", len(pool), cap(got.Path))
		}
	}
}

// An instance that the params hold shares their bytes instead of taking
// its own.
func TestPackSharesInstance(t *testing.T) {
	const instance = "<urn:uuid:00000000-0000-1000-8000-000A95A0E128>"
	b := Binding{Contact: "sip:dave@h", Params: `reg-id=1;+sip.instance="` + instance + `"`, CallID: "c", InstanceID: instance, Transport: "tcp"}
	p, err := pack(&b)
	if err != nil {
		t.Fatal(err)
	}
	if want := len(b.Contact) + len(b.Params) + len(b.CallID) + len(b.Transport); len(p.text) != want {
		t.Errorf("packed text %d bytes, want %d: the instance was stored twice", len(p.text), want)
	}
}

// Fields a SIP message cannot produce but the API could are refused, not
// cut short.
func TestPackRefusesOversize(t *testing.T) {
	for _, b := range []Binding{
		{Contact: strings.Repeat("c", 1<<16)},
		{Params: strings.Repeat("p", 1<<16)},
		{Transport: strings.Repeat("t", 256)},
		{Q: 1 << 40},
		// The instance would start past what instanceAt can say.
		{Contact: strings.Repeat("c", 1<<15), CallID: strings.Repeat("i", 1<<15), InstanceID: "<urn:uuid:1>"},
	} {
		if _, err := pack(&b); !errors.Is(err, errUnstorable) {
			t.Errorf("pack = %v, want errUnstorable", err)
		}
	}
}
