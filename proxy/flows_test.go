package proxy

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/parley-sip/parley/flowtoken"
	"github.com/parley-sip/parley/gruu"
	"github.com/parley-sip/parley/location"
	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transport"
)

const (
	instA = "urn:uuid:00000000-0000-4000-8000-00000000000a"
	instB = "urn:uuid:00000000-0000-4000-8000-00000000000b"
)

// liveConns is the fake transport with connections that may have closed.
type liveConns struct {
	*fakeTransport
	closed map[transport.ConnID]bool
}

func (l liveConns) ConnOpen(id transport.ConnID) bool { return !l.closed[id] }

// flowBinding is one TCP flow of an instance.
func flowBinding(inst string, regID int, conn uint64, src string) location.Binding {
	return location.Binding{Contact: "sip:bob@203.0.113.9:5060;transport=tcp;ob", Transport: "tcp",
		Source: ap(src), ConnID: conn, InstanceID: inst, RegID: regID}
}

func flowFixture(t *testing.T, closed ...transport.ConnID) *fixture {
	f := newFixture(t, defaultConfig())
	lc := liveConns{f.tp, map[transport.ConnID]bool{}}
	for _, c := range closed {
		lc.closed[c] = true
	}
	f.p.tp = lc
	return f
}

// One instance's flows are one target: the newest live flow first, the
// others after it when it cannot be reached; 430 when none can. A
// connection flow stored before a restart comes back without its
// connection (ConnID 0) and is not dialed back.
func TestOutboundFlows(t *testing.T) {
	twoFlows := []location.Binding{flowBinding(instA, 1, 7, "198.51.100.7:40001"), flowBinding(instA, 2, 8, "198.51.100.8:40002")}
	wss := flowBinding(instB, 1, 0, "198.51.100.9:52100")
	wss.Contact, wss.Transport = "sip:k0boe151@h8558ubtm154.invalid;transport=ws", "wss"
	tests := []struct {
		name     string
		bs       []location.Binding // twoFlows when nil
		closed   []transport.ConnID
		refused  []string // sources whose sends fail
		wantConn []transport.ConnID
		status   string
	}{
		{"the newest flow carries it", nil, nil, nil, []transport.ConnID{8}, ""},
		{"a closed flow is skipped", nil, []transport.ConnID{8}, nil, []transport.ConnID{7}, ""},
		{"a flow that fails on send falls back", nil, nil, []string{"198.51.100.8:40002"}, []transport.ConnID{7}, ""},
		{"every flow closed: 430", nil, []transport.ConnID{7, 8}, nil, nil, "430 Flow Failed"},
		{"every flow fails on send: 430", nil, nil, []string{"198.51.100.8:40002", "198.51.100.7:40001"}, nil, "430 Flow Failed"},
		{"a flow from before a restart is skipped", []location.Binding{twoFlows[0], flowBinding(instA, 2, 0, "198.51.100.8:40002")}, nil, nil, []transport.ConnID{7}, ""},
		{"a tcp flow from before a restart only: 430", []location.Binding{flowBinding(instA, 1, 0, "198.51.100.7:40001")}, nil, nil, nil, "430 Flow Failed"},
		{"a wss flow from before a restart only: 430", []location.Binding{wss}, nil, nil, nil, "430 Flow Failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := flowFixture(t, tt.closed...)
			for _, a := range tt.refused {
				f.txs.fail[ap(a)] = true
			}
			bs := tt.bs
			if bs == nil {
				bs = twoFlows
			}
			for _, b := range bs {
				f.bind("sip:bob@example.com", b)
			}
			tx := f.serve(req(t, "invite.sip"))
			var conns []transport.ConnID
			for _, c := range f.txs.all("INVITE") {
				conns = append(conns, c.dst.Conn)
			}
			if !sameSet(conns, tt.wantConn) {
				t.Errorf("INVITE sent on connections %v, want %v", conns, tt.wantConn)
			}
			if tt.status == "" {
				if got := tx.statuses(); len(got) != 0 {
					t.Errorf("answered %v", got)
				}
				return
			}
			if got := tx.statuses(); len(got) == 0 || got[len(got)-1] != tt.status {
				t.Errorf("answered %v, want %s", got, tt.status)
			}
		})
	}
}

// keptAlive is the fake transport whose UDP flows' phones sent their last
// STUN keepalives at the times given.
type keptAlive struct {
	*fakeTransport
	last map[netip.AddrPort]time.Time
}

func (k keptAlive) LastKeepAlive(src netip.AddrPort) (time.Time, bool) {
	t, ok := k.last[src]
	return t, ok
}

// udpFlow is one UDP flow of an instance.
func udpFlow(inst string, regID int, src string) location.Binding {
	return location.Binding{Contact: "sip:bob@" + src + ";ob", Transport: "udp",
		Source: ap(src), InstanceID: inst, RegID: regID}
}

// A UDP flow whose STUN keepalives stopped for longer than the Flow-Timer
// and its grace has failed (RFC 5626 §4.4.2): the request takes the
// instance's other flow, or gets 430 when there is none. A flow whose
// phone never pinged it shows nothing and is tried.
func TestOutboundUDPFlowKeepAlives(t *testing.T) {
	const timeout = 35 * time.Second
	older, newer := "198.51.100.7:40001", "198.51.100.8:40002"
	tests := []struct {
		name   string
		silent map[string]time.Duration // source → time since its last keepalive
		want   []string                 // where the INVITE goes
		status string
	}{
		{"both pinging: the newest flow", map[string]time.Duration{older: time.Second, newer: time.Second}, []string{newer}, ""},
		{"at the timeout: still alive", map[string]time.Duration{older: time.Second, newer: timeout}, []string{newer}, ""},
		{"the newest silent too long: the other", map[string]time.Duration{older: time.Second, newer: timeout + time.Second}, []string{older}, ""},
		{"never pinged: tried", map[string]time.Duration{older: time.Second}, []string{newer}, ""},
		{"both silent too long: 430", map[string]time.Duration{older: time.Minute, newer: 2 * time.Minute}, nil, "430 Flow Failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := defaultConfig()
			cfg.UDPFlowTimeout = timeout
			f := newFixture(t, cfg)
			ka := keptAlive{f.tp, map[netip.AddrPort]time.Time{}}
			for src, ago := range tt.silent {
				ka.last[ap(src)] = f.clock.Now().Add(-ago)
			}
			f.p.tp = ka
			f.bind("sip:bob@example.com", udpFlow(instA, 1, older))
			f.bind("sip:bob@example.com", udpFlow(instA, 2, newer))
			tx := f.serve(req(t, "invite.sip"))
			var got []string
			for _, c := range f.txs.all("INVITE") {
				got = append(got, c.dst.Addr.String())
			}
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Errorf("INVITE sent to %v, want %v", got, tt.want)
			}
			statuses := tx.statuses()
			switch {
			case tt.status == "" && len(statuses) != 0:
				t.Errorf("answered %v", statuses)
			case tt.status != "" && (len(statuses) == 0 || statuses[len(statuses)-1] != tt.status):
				t.Errorf("answered %v, want %s", statuses, tt.status)
			}
		})
	}
}

// Without a UDP flow timeout, keepalives are not looked at.
func TestOutboundUDPFlowTimeoutOff(t *testing.T) {
	f := newFixture(t, defaultConfig())
	f.p.tp = keptAlive{f.tp, map[netip.AddrPort]time.Time{ap("198.51.100.8:40002"): f.clock.Now().Add(-time.Hour)}}
	f.bind("sip:bob@example.com", udpFlow(instA, 1, "198.51.100.8:40002"))
	f.serve(req(t, "invite.sip"))
	if n := len(f.txs.all("INVITE")); n != 1 {
		t.Errorf("%d INVITEs, want 1", n)
	}
}

// A 430 from the flow (an edge proxy's answer) or a 408 makes the
// request try the instance's next flow (RFC 5626 §7).
func TestOutboundFlowAnswers430(t *testing.T) {
	f := flowFixture(t)
	f.bind("sip:bob@example.com", flowBinding(instA, 1, 7, "198.51.100.7:40001"))
	f.bind("sip:bob@example.com", flowBinding(instA, 2, 8, "198.51.100.8:40002"))
	f.serve(req(t, "invite.sip"))
	first := f.txs.all("INVITE")
	if len(first) != 1 || first[0].dst.Conn != 8 {
		t.Fatalf("first INVITE %+v", first)
	}
	first[0].deliver(t, 430, "")
	all := f.txs.all("INVITE")
	if len(all) != 2 || all[1].dst.Conn != 7 {
		t.Fatalf("after 430: %d INVITEs, last on %v", len(all), all[len(all)-1].dst.Conn)
	}
}

// Two phones of one AOR are two targets, each on its own flow; a plain
// binding beside them is a third.
func TestOutboundInstancesFork(t *testing.T) {
	f := flowFixture(t)
	f.bind("sip:bob@example.com", flowBinding(instA, 1, 7, "198.51.100.7:40001"))
	f.bind("sip:bob@example.com", flowBinding(instA, 2, 8, "198.51.100.8:40002"))
	f.bind("sip:bob@example.com", flowBinding(instB, 1, 9, "198.51.100.9:40003"))
	f.bind("sip:bob@example.com", location.Binding{Contact: "sip:bob@198.51.100.10:5060", Source: ap("198.51.100.10:5060")})
	f.serve(req(t, "invite.sip"))
	var conns []transport.ConnID
	for _, c := range f.txs.all("INVITE") {
		conns = append(conns, c.dst.Conn)
	}
	if !sameSet(conns, []transport.ConnID{8, 9, 0}) {
		t.Errorf("INVITEs on %v, want one per instance and the plain binding", conns)
	}
}

// A GRUU reaches its instance only (RFC 5627 §6): never the AOR's
// other phones; one whose instance is gone gets 480, one that never was
// or was invalidated gets 404.
func TestGRUURouting(t *testing.T) {
	is, err := gruu.NewIssuer([]byte("a test secret of some length"))
	if err != nil {
		t.Fatal(err)
	}
	tempA := is.Temp("example.com", "sip:bob@example.com", instA, "reg-1")
	staleA := is.Temp("example.com", "sip:bob@example.com", instA, "reg-before-reboot")
	tempC := is.Temp("example.com", "sip:bob@example.com", "urn:uuid:00000000-0000-4000-8000-00000000000c", "reg-9")
	other, _ := gruu.NewIssuer([]byte("another server's secret"))
	tests := []struct {
		name     string
		ruri     string
		wantConn []transport.ConnID
		status   string
	}{
		{"public GRUU of A", gruu.Public("sip:bob@example.com", instA), []transport.ConnID{7}, ""},
		{"public GRUU of B", gruu.Public("sip:bob@example.com", instB), []transport.ConnID{9}, ""},
		{"temporary GRUU of A", tempA, []transport.ConnID{7}, ""},
		{"the AOR reaches both", "sip:bob@example.com", []transport.ConnID{7, 9}, ""},
		{"public GRUU of an instance not registered", gruu.Public("sip:bob@example.com", "urn:uuid:00000000-0000-4000-8000-00000000000c"), nil, "480 Temporarily Unavailable"},
		{"temporary GRUU of an instance not registered", tempC, nil, "480 Temporarily Unavailable"},
		{"temporary GRUU of an earlier Call-ID", staleA, nil, "404 Not Found"},
		{"another server's temporary GRUU", other.Temp("example.com", "sip:bob@example.com", instA, "reg-1"), nil, "404 Not Found"},
		{"gr naming no URN", "sip:bob@example.com;gr=bob", nil, "404 Not Found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := defaultConfig()
			cfg.GRUU = is
			f := newFixture(t, cfg)
			f.bind("sip:bob@example.com", flowBinding(instA, 1, 7, "198.51.100.7:40001")) // Call-ID reg-1
			f.bind("sip:bob@example.com", flowBinding(instB, 1, 9, "198.51.100.9:40003"))
			tx := f.serve(req(t, "invite.sip", "RURI "+tt.ruri))
			var conns []transport.ConnID
			for _, c := range f.txs.all("INVITE") {
				conns = append(conns, c.dst.Conn)
				if u, _ := c.req.RequestURIParsed(); u.Params.Has("gr") {
					t.Errorf("forwarded with the GRUU as Request-URI: %s", u.String())
				}
			}
			if !sameSet(conns, tt.wantConn) {
				t.Errorf("INVITEs on %v, want %v", conns, tt.wantConn)
			}
			got := tx.statuses()
			if tt.status == "" && len(got) != 0 || tt.status != "" && (len(got) == 0 || got[len(got)-1] != tt.status) {
				t.Errorf("answered %v, want %q", got, tt.status)
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

// aliceFlow is the TCP flow the caller's requests come on in the flow
// token tests.
func aliceFlow(m *sip.Message) *transport.Incoming {
	return &transport.Incoming{Msg: m, Proto: transport.TCP, Conn: 7, Source: ap("198.51.100.7:40001"),
		Local: ap("192.0.2.1:5060"), Listener: tcpListener()}
}

func tokenFixture(t *testing.T, closed ...transport.ConnID) (*fixture, *flowtoken.Signer) {
	t.Helper()
	signer, err := flowtoken.NewSigner([]byte("a test secret of some length"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := defaultConfig()
	cfg.FlowTokens = signer
	f := newFixture(t, cfg)
	lc := liveConns{f.tp, map[transport.ConnID]bool{}}
	for _, c := range closed {
		lc.closed[c] = true
	}
	f.p.tp = lc
	return f, signer
}

// A dialog-making request from a phone whose Contact has "ob" is
// record-routed with a token of its flow (RFC 5626 §5.3), in the entry
// facing the phone; one without "ob" is not.
func TestRecordRouteFlowToken(t *testing.T) {
	for _, ob := range []bool{true, false} {
		f, signer := tokenFixture(t)
		f.bind("sip:bob@example.com", location.Binding{Contact: "sip:bob@198.51.100.20:5062", Source: ap("198.51.100.20:5062")})
		contact := "Contact: <sip:alice@10.0.0.5:5060;transport=tcp>"
		if ob {
			contact = "Contact: <sip:alice@10.0.0.5:5060;transport=tcp;ob>"
		}
		f.serveIn(aliceFlow(req(t, "invite.sip", contact, "Via: SIP/2.0/TCP 10.0.0.5:5060;branch=z9hG4bKuac1")))
		c := onlyBranch(t, f)
		rr := c.req.HeaderValues("Record-Route")
		if len(rr) != 2 {
			t.Fatalf("Record-Route %v, want two entries (in on TCP, out on UDP)", rr)
		}
		var tokens []string
		for _, v := range rr {
			u, err := sip.ParseURI(strings.Trim(strings.SplitN(v, ">", 2)[0], "<"))
			if err != nil {
				t.Fatal(err)
			}
			if u.User != "" {
				tokens = append(tokens, u.User)
			}
		}
		if !ob {
			if len(tokens) != 0 {
				t.Errorf("without ob: tokens %v", tokens)
			}
			continue
		}
		if len(tokens) != 1 || !strings.Contains(rr[1], tokens[0]) {
			t.Fatalf("Record-Route %v: want one token, in the entry facing the phone", rr)
		}
		fl, err := signer.Open(tokens[0])
		want := flowtoken.Flow{Proto: "tcp", Local: ap("192.0.2.1:5060"), Remote: ap("198.51.100.7:40001"), Conn: 7}
		if err != nil || fl != want {
			t.Errorf("token opens to %+v, %v; want %+v", fl, err, want)
		}
	}
}

// A request coming back along a token's route goes over the flow; one
// from the phone itself on that flow goes by its Request-URI; a closed
// flow is 430.
func TestRouteFlowToken(t *testing.T) {
	signer, _ := flowtoken.NewSigner([]byte("a test secret of some length"))
	tok := signer.Seal(flowtoken.Flow{Proto: "tcp", Local: ap("192.0.2.1:5060"), Remote: ap("198.51.100.7:40001"), Conn: 7})
	forged, _ := flowtoken.NewSigner([]byte("someone else's secret......"))
	tests := []struct {
		name   string
		route  string
		fromUA bool // sent by the phone, on the flow
		closed bool
		dst    transport.Target
		status string
	}{
		{"from the far end: over the flow", tok, false, false, transport.Target{Proto: transport.TCP, Addr: ap("198.51.100.7:40001"), Conn: 7}, ""},
		{"from the phone on its flow: by Request-URI", tok, true, false, target(transport.UDP, "198.51.100.20:5062"), ""},
		{"the flow closed: 430", tok, false, true, transport.Target{}, "430 Flow Failed"},
		{"the flow closed: an ACK is dropped", tok, false, true, transport.Target{}, "none"},
		{"a token of another key: by Request-URI", forged.Seal(flowtoken.Flow{Proto: "tcp", Remote: ap("203.0.113.66:1"), Conn: 1}), false, false, target(transport.UDP, "198.51.100.20:5062"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var closed []transport.ConnID
			if tt.closed {
				closed = append(closed, 7)
			}
			f, _ := tokenFixture(t, closed...)
			route := "Route: <sip:192.0.2.1:5060;r2=on;lr>, <sip:" + tt.route + "@192.0.2.1:5060;transport=tcp;r2=on;lr>"
			m := req(t, "bye.sip", route, "RURI sip:bob@198.51.100.20:5062")
			if tt.status == "none" {
				m = parse(t, strings.Replace(load(t, "bye.sip", route, "RURI sip:bob@198.51.100.20:5062", "CSeq: 1 ACK"), "BYE ", "ACK ", 1))
			}
			in := incoming(m)
			if tt.fromUA {
				m = req(t, "bye.sip", "Route: <sip:"+tt.route+"@192.0.2.1:5060;transport=tcp;r2=on;lr>, <sip:192.0.2.1:5060;r2=on;lr>",
					"Via: SIP/2.0/TCP 10.0.0.5:5060;branch=z9hG4bKuac2")
				in = aliceFlow(m)
			}
			tx := f.serveIn(in)
			if tt.status == "none" {
				if got := tx.statuses(); len(got) != 0 || len(f.txs.all("")) != 0 || len(f.tp.messages()) != 0 {
					t.Errorf("ACK on a closed flow: answered %v, sent %d", got, len(f.txs.all(""))+len(f.tp.messages()))
				}
				return
			}
			if tt.status != "" {
				if got := tx.statuses(); len(got) == 0 || got[len(got)-1] != tt.status {
					t.Errorf("answered %v, want %s", got, tt.status)
				}
				return
			}
			if c := onlyBranch(t, f); !sameDst(c.dst, tt.dst) {
				t.Errorf("sent to %+v, want %+v", c.dst, tt.dst)
			}
		})
	}
}

// A reload keeps the GRUU and flow token keys: what phones and dialogs
// hold must still open.
func TestReconfigureKeepsOutboundKeys(t *testing.T) {
	f, signer := tokenFixture(t)
	is, _ := gruu.NewIssuer([]byte("a test secret of some length"))
	cfg := *f.p.config()
	cfg.GRUU = is
	f.p.setConfig(cfg)
	f.p.Reconfigure(defaultConfig())
	if c := f.p.config(); c.FlowTokens != signer || c.GRUU != is {
		t.Errorf("after a reload: FlowTokens %p GRUU %p, want %p %p", c.FlowTokens, c.GRUU, signer, is)
	}
}

// Relaying a phone's REGISTER to another domain's registrar, Parley is
// its edge proxy: a Path with the flow token and ob (RFC 5626 §5.1) when
// the phone registers flows and supports Path, none otherwise.
func TestEdgePath(t *testing.T) {
	tests := []struct {
		name  string
		edits []string
		path  bool
	}{
		{"flows and Path", []string{"Supported: path, outbound", `Contact: <sip:carol@10.0.0.5:5060;transport=tcp;ob>;+sip.instance="<` + instA + `>";reg-id=1`}, true},
		{"no reg-id", []string{"Supported: path, outbound", "Contact: <sip:carol@10.0.0.5:5060;transport=tcp;ob>"}, false},
		{"no Supported: path", []string{"Supported: outbound", `Contact: <sip:carol@10.0.0.5:5060;transport=tcp;ob>;+sip.instance="<` + instA + `>";reg-id=1`}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, signer := tokenFixture(t)
			cfg := *f.p.config()
			cfg.OpenRelay = func() bool { return true }
			f.p.setConfig(cfg)
			edits := append([]string{"RURI sip:192.0.2.99", "To: <sip:carol@other.example>", "From: <sip:carol@other.example>;tag=r1",
				"Via: SIP/2.0/TCP 10.0.0.5:5060;branch=z9hG4bKreg1"}, tt.edits...)
			tx := f.serveIn(aliceFlow(req(t, "register.sip", edits...)))
			if got := tx.statuses(); len(got) != 0 {
				t.Fatalf("answered %v, want the REGISTER relayed", got)
			}
			paths := onlyBranch(t, f).req.HeaderValues("Path")
			if !tt.path {
				if len(paths) != 0 {
					t.Errorf("Path %v", paths)
				}
				return
			}
			if len(paths) != 1 {
				t.Fatalf("Path %v, want ours", paths)
			}
			u, err := sip.ParseURI(strings.Trim(paths[0], "<>"))
			if err != nil || !u.Params.Has("ob") || !u.Params.Has("lr") {
				t.Fatalf("Path %q: %v", paths[0], err)
			}
			if fl, err := signer.Open(u.User); err != nil || fl.Conn != 7 || fl.Remote != ap("198.51.100.7:40001") {
				t.Errorf("Path token opens to %+v, %v", fl, err)
			}
		})
	}
}

// The registrar's requests to the phone come back through our Path: an
// initial request whose Route is our flow token goes over the flow, even
// from a domain we do not serve; a closed flow is 430.
func TestInitialRequestThroughPath(t *testing.T) {
	signer, _ := flowtoken.NewSigner([]byte("a test secret of some length"))
	tok := signer.Seal(flowtoken.Flow{Proto: "tcp", Local: ap("192.0.2.1:5060"), Remote: ap("198.51.100.7:40001"), Conn: 7})
	for _, closed := range []bool{false, true} {
		var cs []transport.ConnID
		if closed {
			cs = append(cs, 7)
		}
		f, _ := tokenFixture(t, cs...)
		m := req(t, "invite.sip", "RURI sip:carol@10.0.0.5:5060;transport=tcp;ob", "From: <sip:dave@other.example>;tag=d1",
			"To: <sip:carol@other.example>", "Route: <sip:"+tok+"@192.0.2.1:5060;transport=tcp;lr;ob>")
		tx := f.serve(m)
		if closed {
			if got := tx.statuses(); len(got) == 0 || got[len(got)-1] != "430 Flow Failed" {
				t.Errorf("closed flow: answered %v, want 430", got)
			}
			continue
		}
		if got := tx.statuses(); len(got) != 0 {
			t.Errorf("answered %v, want it relayed", got)
		}
		want := transport.Target{Proto: transport.TCP, Addr: ap("198.51.100.7:40001"), Conn: 7}
		if c := onlyBranch(t, f); !sameDst(c.dst, want) {
			t.Errorf("sent to %+v, want the flow %+v", c.dst, want)
		}
	}
}

// A phone that puts its GRUU in Contact (Linphone does) gets its
// in-dialog requests through the location service too: the BYE and the
// ACK along our Record-Route reach its binding, not port 5060 of the
// GRUU's host; once it is gone an ACK is dropped and a BYE gets 480.
func TestInDialogGRUU(t *testing.T) {
	pub := gruu.Public("sip:bob@example.com", instA)
	for _, method := range []string{"BYE", "ACK"} {
		t.Run(method, func(t *testing.T) {
			f := newFixture(t, defaultConfig())
			f.bind("sip:bob@example.com", location.Binding{Contact: "sip:bob@198.51.100.20:5062", Source: ap("198.51.100.20:5062"),
				InstanceID: instA})
			text := load(t, "bye.sip", "RURI "+pub, "CSeq: 2 "+method)
			f.serve(parse(t, strings.Replace(text, "BYE ", method+" ", 1)))
			got := f.tp.messages()
			var dsts []transport.Target
			for _, c := range f.txs.all("") {
				dsts = append(dsts, c.dst)
			}
			for _, s := range got {
				dsts = append(dsts, s.dst)
			}
			if len(dsts) != 1 || !sameDst(dsts[0], target(transport.UDP, "198.51.100.20:5062")) {
				t.Errorf("%s to the GRUU sent to %+v, want the phone's binding", method, dsts)
			}
		})
	}
	f := newFixture(t, defaultConfig())
	tx := f.serve(req(t, "bye.sip", "RURI "+pub))
	if got := tx.statuses(); len(got) == 0 || got[len(got)-1] != "404 Not Found" {
		t.Errorf("BYE to the GRUU of a user with no binding: %v, want 404", got)
	}
}
