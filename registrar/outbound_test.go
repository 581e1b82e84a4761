package registrar

import (
	"context"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parley-sip/parley/gruu"
	"github.com/parley-sip/parley/location"
	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transport"
)

const (
	linphoneInstance = "urn:uuid:5f5a3a8e-0f2b-00c8-8d4e-4fd2d4c6c0a1"
	jssipInstance    = "urn:uuid:1a8ab6ad-4e5f-4c35-9d4b-7a2c0d1e3f42"
)

// flowFixture is a registrar on a memory store that issues GRUUs.
func flowFixture(t *testing.T, p Policy) *fixture {
	t.Helper()
	f := newFixture(p)
	is, err := gruu.NewIssuer([]byte("a test secret of some length"))
	if err != nil {
		t.Fatal(err)
	}
	f.r.GRUU = is
	return f
}

// golden reads a REGISTER under testdata/, written with LF line ends,
// and applies edits: "Name: value" replaces that header, "-Name" drops it.
func golden(t *testing.T, name string, edits ...string) string {
	t.Helper()
	data, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	head, _, _ := strings.Cut(string(data), "\n\n")
	lines := strings.Split(head, "\n")
	for _, e := range edits {
		name, _, isSet := strings.Cut(e, ": ")
		name = strings.TrimPrefix(name, "-")
		kept := lines[:0:0]
		done := false
		for _, l := range lines {
			if n, _, _ := strings.Cut(l, ":"); strings.EqualFold(n, name) {
				if isSet && !done {
					kept = append(kept, e)
					done = true
				}
				continue
			}
			kept = append(kept, l)
		}
		if isSet && !done {
			kept = append(kept, e)
		}
		lines = kept
	}
	return strings.Join(lines, "\r\n") + "\r\n\r\n"
}

// flow is the transport side of one REGISTER.
type flow struct {
	proto transport.Proto
	conn  transport.ConnID
	src   string
}

var (
	tcp1 = flow{transport.TCP, 7, "198.51.100.7:40001"}
	tcp2 = flow{transport.TCP, 8, "198.51.100.7:40002"}
	udp1 = flow{transport.UDP, 0, "198.51.100.7:40000"}
)

func (f *fixture) send(t *testing.T, raw string, fl flow) *sip.Message {
	t.Helper()
	m, err := sip.Parse([]byte(raw))
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, raw)
	}
	in := &transport.Incoming{Msg: m, Proto: fl.proto, Conn: fl.conn,
		Source: netip.MustParseAddrPort(fl.src), Local: netip.MustParseAddrPort("203.0.113.1:5060")}
	return f.r.Handle(context.Background(), in, "tt")
}

func (f *fixture) bindings(t *testing.T, aor string) []location.Binding {
	t.Helper()
	bs, err := f.r.Store.Lookup(context.Background(), aor, f.clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	return bs
}

// contactParam reads a parameter of the response's Contact number i.
func contactParam(t *testing.T, resp *sip.Message, i int, name string) (string, bool) {
	t.Helper()
	cs, err := resp.Contacts()
	if err != nil || len(cs) <= i {
		t.Fatalf("response Contacts %v: %v", resp.HeaderValues("Contact"), err)
	}
	v, ok := cs[i].Params.Get(name)
	return strings.Trim(v, `"`), ok
}

// The REGISTERs Linphone and JsSIP send get what RFC 5626 and 5627 ask:
// Require: outbound, a Flow-Timer, and both GRUUs of the instance.
func TestGoldenOutboundRegisters(t *testing.T) {
	tests := []struct {
		file, aor, instance string
		fl                  flow
		flowTimer           string
	}{
		{"register-linphone-outbound.sip", "sip:alice@example.com", linphoneInstance, tcp1, "120"},
		{"register-jssip-outbound.sip", "sip:bob@example.com", jssipInstance, tcp2, "120"},
		{"register-linphone-outbound.sip", "sip:alice@example.com", linphoneInstance, udp1, "25"},
	}
	for _, tt := range tests {
		t.Run(tt.file+"/"+string(tt.fl.proto), func(t *testing.T) {
			f := flowFixture(t, DefaultPolicy)
			resp := f.send(t, golden(t, tt.file), tt.fl)
			if resp.StatusCode() != 200 {
				t.Fatalf("status %d %s", resp.StatusCode(), resp.Reason())
			}
			if !resp.HasToken("Require", "outbound") || !resp.HasToken("Supported", "outbound") || !resp.HasToken("Supported", "gruu") {
				t.Errorf("Require %q, Supported %q", resp.Header("Require"), resp.Header("Supported"))
			}
			if got := resp.Header("Flow-Timer"); got != tt.flowTimer {
				t.Errorf("Flow-Timer %q, want %q", got, tt.flowTimer)
			}
			pub, _ := contactParam(t, resp, 0, "pub-gruu")
			if want := tt.aor + ";gr=" + tt.instance; pub != want {
				t.Errorf("pub-gruu %q, want %q", pub, want)
			}
			temp, _ := contactParam(t, resp, 0, "temp-gruu")
			u, err := sip.ParseURI(temp)
			if err != nil {
				t.Fatalf("temp-gruu %q: %v", temp, err)
			}
			ref, ok, err := f.r.GRUU.Read(&u)
			if !ok || err != nil || ref.AOR != tt.aor || ref.Instance != tt.instance {
				t.Errorf("temp-gruu opens to %+v, %v, %v", ref, ok, err)
			}
			bs := f.bindings(t, tt.aor)
			if len(bs) != 1 || bs[0].InstanceID != tt.instance || bs[0].RegID != 1 || bs[0].ConnID != uint64(tt.fl.conn) {
				t.Errorf("bindings %+v", bs)
			}
		})
	}
}

// Outbound bindings are keyed by instance and reg-id (RFC 5626 §6).
func TestOutboundBindingKeys(t *testing.T) {
	type step struct {
		fl    flow
		edits []string
		code  int
	}
	ctc := func(uri, params string) string { return "Contact: <" + uri + ">;" + params }
	inst := `+sip.instance="<` + linphoneInstance + `>"`
	tests := []struct {
		name   string
		steps  []step
		flows  []uint64 // ConnIDs of the bindings left, in any order
		regIDs []int
	}{
		{"same reg-id from a new connection replaces the flow", []step{
			{tcp1, nil, 200},
			{tcp2, []string{"Call-ID: other", ctc("sip:alice@10.0.0.23:5555;transport=tcp;ob", inst+";reg-id=1")}, 200},
		}, []uint64{8}, []int{1}},
		{"a second reg-id is a second flow", []step{
			{tcp1, nil, 200},
			{tcp2, []string{"CSeq: 21 REGISTER", ctc("sip:alice@10.0.0.23:5555;transport=tcp;ob", inst+";reg-id=2")}, 200},
		}, []uint64{7, 8}, []int{1, 2}},
		{"an instance without reg-id is keyed by the instance", []step{
			{tcp1, []string{ctc("sip:alice@10.0.0.23:1111;transport=tcp", inst)}, 200},
			{tcp2, []string{"CSeq: 21 REGISTER", ctc("sip:alice@10.0.0.23:2222;transport=tcp", inst)}, 200},
		}, []uint64{8}, []int{0}},
		{"reg-id without instance is ignored", []step{
			{tcp1, []string{ctc("sip:alice@10.0.0.23:1111;transport=tcp", "reg-id=1")}, 200},
		}, []uint64{7}, []int{0}},
		{"reg-id without Supported: outbound is ignored", []step{
			{tcp1, []string{"Supported: gruu"}, 200},
		}, []uint64{7}, []int{0}},
		{"deregistering the flow by its key, another Contact URI", []step{
			{tcp1, nil, 200},
			{tcp2, []string{"CSeq: 21 REGISTER", ctc("sip:alice@192.0.2.9;transport=tcp", inst+";reg-id=1;expires=0")}, 200},
		}, nil, nil},
		{"a malformed reg-id", []step{{tcp1, []string{ctc("sip:a@10.0.0.23", inst+";reg-id=x")}, 400}}, nil, nil},
		{"reg-id 0", []step{{tcp1, []string{ctc("sip:a@10.0.0.23", inst+";reg-id=0")}, 400}}, nil, nil},
		{"an instance that is no URN keys by Contact", []step{
			{tcp1, []string{ctc("sip:alice@10.0.0.23:1111", `+sip.instance="<abc>";reg-id=1`)}, 200},
			{tcp2, []string{"CSeq: 21 REGISTER", ctc("sip:alice@10.0.0.23:2222", `+sip.instance="<abc>";reg-id=1`)}, 200},
		}, []uint64{7, 8}, []int{0, 0}},
		{"a first hop without outbound: 439", []step{
			{tcp1, []string{"Via: SIP/2.0/TCP edge.example.net;branch=z9hG4bKe1, SIP/2.0/TCP 10.0.0.23:43211;branch=z9hG4bKa"}, 439},
		}, nil, nil},
		{"an edge proxy that keeps flows (Path ;ob)", []step{
			{tcp1, []string{"Via: SIP/2.0/TCP edge.example.net;branch=z9hG4bKe1, SIP/2.0/TCP 10.0.0.23:43211;branch=z9hG4bKa",
				"Path: <sip:edge.example.net;lr;ob>"}, 200},
		}, []uint64{7}, []int{1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := flowFixture(t, DefaultPolicy)
			for i, s := range tt.steps {
				resp := f.send(t, golden(t, "register-linphone-outbound.sip", s.edits...), s.fl)
				if resp.StatusCode() != s.code {
					t.Fatalf("step %d: %d %s, want %d", i, resp.StatusCode(), resp.Reason(), s.code)
				}
				if s.code == 439 && resp.Reason() != "First Hop Lacks Outbound Support" {
					t.Errorf("reason %q", resp.Reason())
				}
			}
			bs := f.bindings(t, "sip:alice@example.com")
			var conns []uint64
			var regs []int
			for _, b := range bs {
				conns = append(conns, b.ConnID)
				regs = append(regs, b.RegID)
			}
			if !sameSet(conns, tt.flows) || !sameSet(regs, tt.regIDs) {
				t.Errorf("bindings: conns %v reg-ids %v, want %v %v", conns, regs, tt.flows, tt.regIDs)
			}
		})
	}
}

func sameSet[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	left := map[T]int{}
	for _, v := range a {
		left[v]++
	}
	for _, v := range b {
		left[v]--
	}
	for _, n := range left {
		if n != 0 {
			return false
		}
	}
	return true
}

// Require: outbound and Flow-Timer come only with a flow binding.
func TestOutboundResponseHeaders(t *testing.T) {
	tests := []struct {
		name      string
		policy    time.Duration
		fl        flow
		edits     []string
		require   bool
		flowTimer string
	}{
		{"tcp, Parley's choice", 0, tcp1, nil, true, "120"},
		{"udp, Parley's choice", 0, udp1, nil, true, "25"},
		{"configured", 60 * time.Second, udp1, nil, true, "60"},
		{"no outbound asked", 0, tcp1, []string{"Supported: path"}, false, ""},
		{"removing the flow", 0, tcp1, []string{"Expires: 0"}, false, ""},
		{"a UDP phone behind a TCP edge", 0, tcp1, []string{"Via: SIP/2.0/TCP edge.example.net;branch=z9hG4bKe1, SIP/2.0/UDP 10.0.0.23:43211;branch=z9hG4bKa",
			"Path: <sip:edge.example.net;lr;ob>"}, true, "25"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := DefaultPolicy
			p.FlowTimer = tt.policy
			f := flowFixture(t, p)
			resp := f.send(t, golden(t, "register-linphone-outbound.sip", tt.edits...), tt.fl)
			if resp.StatusCode() != 200 {
				t.Fatalf("%d %s", resp.StatusCode(), resp.Reason())
			}
			if got := resp.HasToken("Require", "outbound"); got != tt.require {
				t.Errorf("Require: outbound %v, want %v", got, tt.require)
			}
			if got := resp.Header("Flow-Timer"); got != tt.flowTimer {
				t.Errorf("Flow-Timer %q, want %q", got, tt.flowTimer)
			}
		})
	}
}

// Each REGISTER gets a new temporary GRUU, and all of them open to the
// registration's Call-ID; a phone that did not ask gets no GRUU.
func TestGRUUs(t *testing.T) {
	f := flowFixture(t, DefaultPolicy)
	var temps []string
	for cseq := 20; cseq < 23; cseq++ {
		resp := f.send(t, golden(t, "register-linphone-outbound.sip", "CSeq: "+itoa(cseq)+" REGISTER"), tcp1)
		temp, ok := contactParam(t, resp, 0, "temp-gruu")
		if !ok {
			t.Fatalf("no temp-gruu in %v", resp.HeaderValues("Contact"))
		}
		temps = append(temps, temp)
	}
	if temps[0] == temps[1] || temps[1] == temps[2] {
		t.Errorf("temporary GRUUs repeat: %v", temps)
	}
	for _, s := range temps {
		u, _ := sip.ParseURI(s)
		ref, _, err := f.r.GRUU.Read(&u)
		if err != nil || ref.CallTag != gruu.CallTag("0U~Ys6ZBKu") {
			t.Errorf("%s opens to %+v, %v", s, ref, err)
		}
	}
	resp := f.send(t, golden(t, "register-linphone-outbound.sip", "CSeq: 30 REGISTER", "Supported: outbound"), tcp1)
	if _, ok := contactParam(t, resp, 0, "pub-gruu"); ok {
		t.Errorf("pub-gruu without Supported: gruu: %v", resp.HeaderValues("Contact"))
	}
	// Without an issuer, public GRUUs only.
	f.r.GRUU = nil
	resp = f.send(t, golden(t, "register-linphone-outbound.sip", "CSeq: 31 REGISTER"), tcp1)
	_, pub := contactParam(t, resp, 0, "pub-gruu")
	_, temp := contactParam(t, resp, 0, "temp-gruu")
	if !pub || temp {
		t.Errorf("no issuer: pub-gruu %v temp-gruu %v", pub, temp)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// A Contact that is a GRUU of the AOR itself would loop (RFC 5627 §5):
// 403, for the public and the temporary form; another AOR's GRUU is a
// contact like any other.
func TestGRUUAsContact(t *testing.T) {
	f := flowFixture(t, DefaultPolicy)
	temp := f.r.GRUU.Temp("example.com", "sip:alice@example.com", linphoneInstance, "c")
	tests := []struct {
		contact string
		code    int
	}{
		{"<sip:alice@example.com;gr=" + linphoneInstance + ">", 403},
		{"<" + temp + ">", 403},
		{"<sip:bob@example.com;gr=" + linphoneInstance + ">", 200},
		{"<sip:alice@10.0.0.23;gr>", 200}, // not a GRUU of ours: no URN, no seal
	}
	for i, tt := range tests {
		resp := f.send(t, golden(t, "register-linphone-outbound.sip", "CSeq: "+strconv.Itoa(30+i)+" REGISTER", "Contact: "+tt.contact), tcp1)
		if resp.StatusCode() != tt.code {
			t.Errorf("Contact %s: %d %s, want %d", tt.contact, resp.StatusCode(), resp.Reason(), tt.code)
		}
	}
}

// A binding stored by a Parley that kept +sip.instance as written
// ("<urn:…>") is replaced by the phone's next REGISTER, not doubled.
func TestLegacyInstanceBinding(t *testing.T) {
	f := flowFixture(t, DefaultPolicy)
	legacy := location.Binding{Contact: "sip:alice@10.0.0.23:43211;transport=tcp;ob", InstanceID: "<" + linphoneInstance + ">", RegID: 1,
		Q: 1000, Expires: t0.Add(time.Hour), CallID: "old", CSeq: 1, Transport: "tcp", Updated: t0}
	if _, err := f.r.Store.Update(context.Background(), "sip:alice@example.com", t0, func([]location.Binding) ([]location.Binding, error) {
		return []location.Binding{legacy}, nil
	}); err != nil {
		t.Fatal(err)
	}
	if resp := f.send(t, golden(t, "register-linphone-outbound.sip"), tcp1); resp.StatusCode() != 200 {
		t.Fatalf("%d %s", resp.StatusCode(), resp.Reason())
	}
	bs := f.bindings(t, "sip:alice@example.com")
	if len(bs) != 1 || bs[0].InstanceID != linphoneInstance {
		t.Errorf("bindings after the upgrade's first REGISTER: %+v", bs)
	}
}
