package hep

import (
	"bytes"
	"encoding/hex"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

var when = time.Date(2026, 3, 4, 5, 6, 7, 123456000, time.UTC) // Unix 1772600767.123456

// TestEncodeLayout spells the expected bytes out chunk by chunk, as the
// HEP3 specification lays them out, rather than trusting the encoder.
func TestEncodeLayout(t *testing.T) {
	p := Packet{
		Proto: ProtoUDP, Type: TypeSIP, AgentID: 2001, AuthKey: "key", Time: when,
		Src: netip.MustParseAddrPort("192.0.2.10:5060"), Dst: netip.MustParseAddrPort("192.0.2.1:5062"),
		Payload: "OPTIONS sip:x SIP/2.0\r\n\r\n",
	}
	want := strings.Join([]string{
		"48455033", "0085", // "HEP3", total length 133: 6 + the chunks below
		"0000 0001 0007 02",       // IP family: IPv4
		"0000 0002 0007 11",       // IP protocol: 17 UDP
		"0000 0003 000a c000020a", // IPv4 source 192.0.2.10
		"0000 0004 000a c0000201", // IPv4 destination 192.0.2.1
		"0000 0007 0008 13c4",     // source port 5060
		"0000 0008 0008 13c6",     // destination port 5062
		"0000 0009 000a 69a7bdbf", // seconds 1772600767
		"0000 000a 000a 0001e240", // microseconds 123456
		"0000 000b 0007 01",       // protocol type: SIP
		"0000 000c 000a 000007d1", // capture agent ID 2001
		"0000 000e 0009 6b6579",   // authentication key "key"
		"0000 000f 001f " + hex.EncodeToString([]byte(p.Payload)), // payload, 25 bytes
	}, "")
	want = strings.ReplaceAll(want, " ", "")
	got, err := p.AppendTo(nil)
	if err != nil {
		t.Fatal(err)
	}
	if hex.EncodeToString(got) != want {
		t.Errorf("got  %x\nwant %s", got, want)
	}
	if time.Unix(1772600767, 123456000).UTC() != when {
		t.Fatal("the test's timestamp is wrong")
	}
}

func TestEncodeIPv6(t *testing.T) {
	p := Packet{
		Proto: ProtoTCP, Type: TypeSIP, Time: when,
		Src: netip.MustParseAddrPort("[2001:db8::1]:5061"), Dst: netip.MustParseAddrPort("192.0.2.1:5060"),
		Payload: "x",
	}
	b, err := p.AppendTo([]byte("prefix"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte("prefixHEP3")) {
		t.Fatalf("AppendTo dropped what b held: %q", b[:10])
	}
	b = b[len("prefix"):]
	for _, chunk := range []string{
		"0000000100070a",      // family IPv6
		"0000000200070" + "6", // TCP
		"000000050016" + "20010db8000000000000000000000001", // IPv6 source
		"000000060016" + "00000000000000000000ffffc0000201", // IPv4 destination, mapped
	} {
		if !strings.Contains(hex.EncodeToString(b), chunk) {
			t.Errorf("no chunk %s in %x", chunk, b)
		}
	}
	if strings.Contains(hex.EncodeToString(b), "0000000e") {
		t.Error("an empty authentication key is sent")
	}
}

func TestRoundTrip(t *testing.T) {
	for _, p := range []Packet{
		{Proto: ProtoUDP, Type: TypeSIP, AgentID: 7, AuthKey: "k", Time: when,
			Src: netip.MustParseAddrPort("192.0.2.10:5060"), Dst: netip.MustParseAddrPort("192.0.2.1:5062"), Payload: "INVITE"},
		{Proto: ProtoTCP, Type: TypeSIP, Time: when,
			Src: netip.MustParseAddrPort("[2001:db8::1]:5061"), Dst: netip.MustParseAddrPort("[2001:db8::2]:5060"), Payload: "BYE"},
	} {
		b, err := p.AppendTo(nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		if !got.Time.Equal(p.Time) {
			t.Errorf("time %v, want %v", got.Time, p.Time)
		}
		got.Time = p.Time
		if got != p {
			t.Errorf("got  %+v\nwant %+v", got, p)
		}
	}
}

func TestInvalidAddressIsUnspecified(t *testing.T) {
	p := Packet{Dst: netip.MustParseAddrPort("192.0.2.1:5060"), Payload: "x"}
	b, _ := p.AppendTo(nil)
	got, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.Src != netip.MustParseAddrPort("0.0.0.0:0") {
		t.Errorf("source %v, want 0.0.0.0:0", got.Src)
	}
}

func TestTooLong(t *testing.T) {
	p := Packet{Payload: strings.Repeat("x", 65500)}
	b, err := p.AppendTo([]byte("keep"))
	if !errors.Is(err, ErrTooLong) || string(b) != "keep" {
		t.Errorf("got %v and %d bytes, want ErrTooLong and b unchanged", err, len(b))
	}
}

func TestDecodeErrors(t *testing.T) {
	good, _ := (&Packet{Payload: "x", Time: when}).AppendTo(nil)
	bad := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	for name, b := range map[string][]byte{
		"not HEP":       []byte("HEP2\x00\x06"),
		"short":         []byte("HEP"),
		"length":        bad(func(b []byte) []byte { return b[:len(b)-1] }),
		"chunk length":  bad(func(b []byte) []byte { b[11] = 0xff; return b }),
		"chunk size":    bad(func(b []byte) []byte { b[11] = 8; return append(b[:12], 2, 0) }),
		"half a header": append([]byte("HEP3\x00\x09"), 0, 0, 1),
	} {
		if name == "chunk size" {
			b[5] = byte(len(b))
		}
		if _, err := Decode(b); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	// Chunks of other vendors are skipped.
	other := append([]byte("HEP3\x00\x0f"), 0, 9, 0, 1, 0, 9, 7, 7, 7)
	if _, err := Decode(other); err != nil {
		t.Errorf("vendor chunk: %v", err)
	}
}

func TestAppendToAllocates(t *testing.T) {
	p := Packet{Proto: ProtoUDP, Type: TypeSIP, Time: when, Payload: "INVITE sip:x SIP/2.0\r\n\r\n",
		Src: netip.MustParseAddrPort("192.0.2.10:5060"), Dst: netip.MustParseAddrPort("[2001:db8::2]:5060")}
	buf := make([]byte, 0, 1024)
	if n := testing.AllocsPerRun(100, func() { p.AppendTo(buf) }); n != 0 {
		t.Errorf("AppendTo allocates %v times, want 0", n)
	}
}

// TestExporter sends to a UDP socket on loopback and decodes what arrives.
func TestExporter(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	e, err := Dial(pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	want := Packet{Proto: ProtoUDP, Type: TypeSIP, AgentID: 3, Time: when, Payload: "REGISTER sip:example.com SIP/2.0\r\n\r\n",
		Src: netip.MustParseAddrPort("127.0.0.1:5070"), Dst: netip.MustParseAddrPort("127.0.0.1:5060")}
	for range 2 {
		if err := e.Send(&want); err != nil {
			t.Fatal(err)
		}
	}
	buf := make([]byte, 65536)
	pc.SetReadDeadline(time.Now().Add(5 * time.Second))
	for range 2 {
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Decode(buf[:n])
		if err != nil {
			t.Fatal(err)
		}
		got.Time = want.Time
		if got != want {
			t.Errorf("got  %+v\nwant %+v", got, want)
		}
	}
	if err := e.Send(&Packet{Payload: strings.Repeat("x", 70000)}); !errors.Is(err, ErrTooLong) {
		t.Errorf("long packet: %v", err)
	}
	if sent, failed := e.Stats(); sent != 2 || failed != 1 {
		t.Errorf("stats %d sent %d failed, want 2 and 1", sent, failed)
	}
	if _, err := Dial("no-port"); err == nil {
		t.Error("Dial of an address without a port succeeded")
	}
}
