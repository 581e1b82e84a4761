package proxy

import (
	"testing"

	"github.com/parley-sip/parley/gruu"
	"github.com/parley-sip/parley/location"
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
// others after it when it cannot be reached; 430 when none can.
func TestOutboundFlows(t *testing.T) {
	tests := []struct {
		name     string
		closed   []transport.ConnID
		refused  []string // sources whose sends fail
		wantConn []transport.ConnID
		status   string
	}{
		{"the newest flow carries it", nil, nil, []transport.ConnID{8}, ""},
		{"a closed flow is skipped", []transport.ConnID{8}, nil, []transport.ConnID{7}, ""},
		{"a flow that fails on send falls back", nil, []string{"198.51.100.8:40002"}, []transport.ConnID{7}, ""},
		{"every flow closed: 430", []transport.ConnID{7, 8}, nil, nil, "430 Flow Failed"},
		{"every flow fails on send: 430", nil, []string{"198.51.100.8:40002", "198.51.100.7:40001"}, nil, "430 Flow Failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := flowFixture(t, tt.closed...)
			for _, a := range tt.refused {
				f.txs.fail[ap(a)] = true
			}
			f.bind("sip:bob@example.com", flowBinding(instA, 1, 7, "198.51.100.7:40001"))
			f.bind("sip:bob@example.com", flowBinding(instA, 2, 8, "198.51.100.8:40002"))
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

// A GRUU reaches its instance only (RFC 5627 §5.4): never the AOR's
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
