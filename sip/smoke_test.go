package sip

import (
	"os"
	"testing"
)

func TestSmoke(t *testing.T) {
	data, _ := os.ReadFile("testdata/invite.sip")
	m, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	v, _ := m.TopVia()
	t.Log(v.Branch(), v.Host, v.Port)
	f, _ := m.From()
	t.Log(f.Tag(), f.URI.User, f.URI.Host, f.Display)
	m.PrependHeader("Via", "SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKnew")
	m.SetRequestURI("sip:bob@1.2.3.4:5070")
	m.SetMaxForwards(69)
	m.PrependHeader("Record-Route", "<sip:10.0.0.1;lr>")
	out := m.AppendTo(nil)
	t.Logf("%s", out)
	m2, err := Parse(out)
	if err != nil {
		t.Fatal(err)
	}
	vs, _ := m2.Vias()
	t.Log(len(vs), vs[0].Branch())
	r := NewResponse(m2, 180, "", "abc")
	t.Logf("%s", r.Bytes())
}

func BenchmarkParseInvite(b *testing.B) {
	data, _ := os.ReadFile("testdata/invite.sip")
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		m, err := Parse(data)
		if err != nil {
			b.Fatal(err)
		}
		_ = m
	}
}

func BenchmarkForwardInvite(b *testing.B) {
	data, _ := os.ReadFile("testdata/invite.sip")
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		m, _ := Parse(data)
		m.PrependHeader("Via", "SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKnew")
		m.SetRequestURI("sip:bob@1.2.3.4:5070")
		mf, _ := m.MaxForwards()
		m.SetMaxForwards(mf - 1)
		m.PrependHeader("Record-Route", "<sip:10.0.0.1;lr>")
		buf = m.AppendTo(buf[:0])
	}
}
