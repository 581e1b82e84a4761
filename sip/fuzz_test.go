package sip

import (
	"bytes"
	"slices"
	"testing"
)

// The seed corpora are in testdata/fuzz/FuzzX: the golden messages and the
// RFC 4475 and RFC 5118 messages, and for FuzzParseURI the URIs, Vias and
// name-addrs in them. Crashers found by fuzzing are kept there too, so
// plain `go test` replays them.

// FuzzParse parses anything. What parses must validate and answer every
// accessor without panicking, write back as it came, re-parse to the same
// start line and headers, and survive the proxy's edits.
func FuzzParse(f *testing.F) {
	f.Add([]byte(minimal))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse(data)
		if m == nil {
			if err == nil {
				t.Fatal("nil message without an error")
			}
			return
		}
		exerciseAll(m)
		if err != nil {
			return // a request kept so that it can be answered
		}
		out := m.AppendTo(nil)
		if !bytes.Equal(out, m.Raw()) {
			t.Fatalf("unedited message changed on writing")
		}
		if m.Len() != len(out) {
			t.Fatalf("Len %d, wrote %d", m.Len(), len(out))
		}
		m2, err := Parse(out)
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		sameStart(t, m, m2)
		if m2.HeaderCount() != m.HeaderCount() {
			t.Fatalf("header count %d, then %d", m.HeaderCount(), m2.HeaderCount())
		}

		c := m.Clone()
		c.PrependHeader("Via", "SIP/2.0/UDP fuzz.example.com;branch=z9hG4bKfuzz")
		c.SetMaxForwards(10)
		c.PrependHeader("Record-Route", "<sip:fuzz.example.com;lr>")
		c.PopRoute()
		c.SetHeader("X-Fuzz", "1")
		c.RemoveHeader("Subject")
		out = c.AppendTo(nil)
		if c.Len() != len(out) {
			t.Fatalf("Len after edits %d, wrote %d", c.Len(), len(out))
		}
		m3, err := Parse(out)
		if err != nil {
			t.Fatalf("re-parse after edits: %v\n%q", err, out)
		}
		sameStart(t, m, m3)
		if m3.count(HVia) != m.count(HVia)+1 || m3.count(HMaxForwards) != 1 ||
			m3.Header("X-Fuzz") != "1" || m3.HasHeader("Subject") {
			t.Fatalf("edits lost:\n%q", out)
		}
		if v := m3.Header("Via"); v != "SIP/2.0/UDP fuzz.example.com;branch=z9hG4bKfuzz" {
			t.Fatalf("top via: %q", v)
		}
		if !bytes.Equal(m3.Body(), m.Body()) {
			t.Fatalf("body changed")
		}
		if !bytes.Equal(m.AppendTo(nil), m.Raw()) {
			t.Fatalf("editing a clone changed the original")
		}
		var pooled Message
		if err := DefaultLimits.ParseInto(&pooled, data); err != nil || pooled.HeaderCount() != m.HeaderCount() {
			t.Fatalf("ParseInto: %v", err)
		}
	})
}

func sameStart(t *testing.T, a, b *Message) {
	t.Helper()
	if a.IsRequest() != b.IsRequest() || a.Method() != b.Method() || a.RequestURI() != b.RequestURI() ||
		a.StatusCode() != b.StatusCode() || a.Reason() != b.Reason() {
		t.Fatalf("start line changed: %q %q %d %q / %q %q %d %q", a.Method(), a.RequestURI(), a.StatusCode(), a.Reason(),
			b.Method(), b.RequestURI(), b.StatusCode(), b.Reason())
	}
}

// FuzzParseURI parses anything as a URI, a name-addr, a Via and a
// parameter list. A URI that parses must write back as it came, equal
// itself, and rebuild from its fields into an equal URI.
func FuzzParseURI(f *testing.F) {
	f.Add("sip:alice@atlanta.com;transport=tcp?subject=x")
	f.Fuzz(func(t *testing.T, s string) {
		if n, err := ParseNameAddr(s); err == nil {
			_ = n.String()
			n.Q()
			n.Expires()
			n.DisplayName()
			n.Tag()
		}
		if v, err := ParseVia(s); err == nil {
			v.SentBy()
			v.RPort()
			v.Branch()
			v.WithReceived("192.0.2.1", 5060)
		}
		Params(s).Each(func(string, string) bool { return true })
		Params(s).Get("tag")
		checkWithout(t, Params(s))
		validParams(s)
		Unescape(s)
		Unquote(s)

		u, err := ParseURI(s)
		if err != nil {
			return
		}
		if u.String() != s {
			t.Fatalf("String() = %q", u.String())
		}
		if !u.Equal(u) {
			t.Fatal("not equal to itself")
		}
		u.AOR()
		u.HostPort()
		built := u
		built.raw = ""
		text := built.String()
		v, err := ParseURI(text)
		if err != nil {
			t.Fatalf("rebuilt %q does not parse: %v", text, err)
		}
		if !v.Equal(u) || !u.Equal(v) {
			t.Fatalf("rebuilt %q is not equal", text)
		}
	})
}

// checkWithout: Without("expires") drops exactly the expires parameters
// and keeps every other one, in order.
func checkWithout(t *testing.T, p Params) {
	w := p.Without("expires")
	if w.Has("expires") {
		t.Fatalf("Without(expires) of %q kept one: %q", p, w)
	}
	var want, got []string
	p.Each(func(n, v string) bool {
		if !named(n, "expires") {
			want = append(want, n+"="+v)
		}
		return true
	})
	w.Each(func(n, v string) bool { got = append(got, n+"="+v); return true })
	if !slices.Equal(got, want) {
		t.Fatalf("Without(expires) of %q = %q: params %q, want %q", p, w, got, want)
	}
}

// FuzzFramer writes a stream to a Framer in pieces the fuzzer chooses.
// It must never panic, and must cut the same frames, and fail the same
// way, however the stream is split; every frame must parse or fail
// cleanly.
func FuzzFramer(f *testing.F) {
	f.Add([]byte("\r\n\r\n"+minimal+"\r\n"+minimal), []byte{3, 200, 1})
	f.Fuzz(func(t *testing.T, stream, cuts []byte) {
		whole, wholeErr := feed(stream, len(stream))
		sizes := []int{len(stream) + 1}
		if len(cuts) > 0 {
			sizes = sizes[:0]
			for _, c := range cuts {
				sizes = append(sizes, int(c))
			}
		}
		split, splitErr := feed(stream, sizes...)
		if (wholeErr == nil) != (splitErr == nil) || len(whole) != len(split) {
			t.Fatalf("whole: %d frames, %v; split: %d frames, %v", len(whole), wholeErr, len(split), splitErr)
		}
		for i := range whole {
			if whole[i] != split[i] {
				t.Fatalf("frame %d differs", i)
			}
			if whole[i] == "PING" {
				continue
			}
			if len(whole[i]) > DefaultLimits.MaxSize {
				t.Fatalf("frame of %d bytes", len(whole[i]))
			}
			if m, err := Parse([]byte(whole[i])); m != nil {
				exerciseAll(m)
			} else if err == nil {
				t.Fatal("nil message without an error")
			}
		}
	})
}
