package e2e

import (
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// srvZone is a tiny authoritative DNS server for one test: the SIP
// domain's _sip._udp SRV records point at nodeN.DOMAIN, priorities 10,
// 20 … in the order of hosts, each of which has its A record; every
// other name has no records (NAPTR included, so a client goes on to
// SRV, RFC 3263 §4.1). TTLs are 1 s, so a client asks again.
type srvZone struct {
	addr string
	mu   sync.Mutex
	asks map[string]int // "SRV _sip._udp.example.test." -> times asked
}

func serveSRV(t *testing.T, domain string, port int, hosts ...string) *srvZone {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	z := &srvZone{addr: pc.LocalAddr().String(), asks: map[string]int{}}
	srvName := "_sip._udp." + domain + "."
	hdr := func(name string, typ uint16) dns.RR_Header {
		return dns.RR_Header{Name: name, Rrtype: typ, Class: dns.ClassINET, Ttl: 1}
	}
	a := map[string]net.IP{}
	var srvs []dns.RR
	for i, h := range hosts {
		target := "node" + strconv.Itoa(i+1) + "." + domain + "."
		a[target] = net.ParseIP(h).To4()
		srvs = append(srvs, &dns.SRV{Hdr: hdr(srvName, dns.TypeSRV), Priority: uint16(10 * (i + 1)), Weight: 1, Port: uint16(port), Target: target})
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		m.Authoritative = true
		if len(r.Question) == 1 {
			q := r.Question[0]
			name := strings.ToLower(q.Name)
			z.mu.Lock()
			z.asks[dns.TypeToString[q.Qtype]+" "+name]++
			z.mu.Unlock()
			switch {
			case q.Qtype == dns.TypeSRV && name == srvName:
				m.Answer = srvs
				for _, rr := range srvs {
					target := rr.(*dns.SRV).Target
					m.Extra = append(m.Extra, &dns.A{Hdr: hdr(target, dns.TypeA), A: a[target]})
				}
			case q.Qtype == dns.TypeA && a[name] != nil:
				m.Answer = []dns.RR{&dns.A{Hdr: hdr(name, dns.TypeA), A: a[name]}}
			}
		}
		_ = w.WriteMsg(m)
	})}
	go func() { _ = srv.ActivateAndServe() }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return z
}

func (z *srvZone) asked(what string) int {
	z.mu.Lock()
	defer z.mu.Unlock()
	return z.asks[what]
}

// TestClusterSRV is issue 19's "behind DNS SRV" with a real phone: two
// nodes on 127.0.0.1 and 127.0.0.2 (one port) serve example.test, whose
// _sip._udp SRV records, served by a DNS server in the test, put node 1
// first (priority 10) and node 2 second (20). baresip, told only its
// AOR bob@example.test and that DNS server, resolves the registrar by
// SRV (RFC 3263) and registers at node 1. Node 1 is killed; bob's next
// registration times out there and baresip tries the next SRV target:
// node 2 holds bob's binding, and carol, a phone at node 2, calls him.
func TestClusterSRV(t *testing.T) {
	requireTool(t, "baresip", baresipHint)
	redis := startRedis(t)
	hosts := []string{"127.0.0.1", "127.0.0.2"}
	nodes := startNodesIn(t, "example.test", hosts,
		"storage:\n  engine: memory\n  location: redis\n  redis_url: "+redis.URL()+"\nregistrar:\n  min_expires: 10s\n", "", nil)
	n1, n2 := nodes[0], nodes[1]
	zone := serveSRV(t, "example.test", n1.Port, hosts...)

	bob := startSoftphoneFor(t, t.TempDir(), "bob", `<sip:bob@example.test;transport=udp>;regint=10;answermode=auto`,
		120*time.Second, "dns_server "+zone.addr)
	bob.waitLog(reRegistered, phoneWait)
	if n := zone.asked("SRV _sip._udp.example.test."); n == 0 {
		t.Fatalf("baresip registered without asking for example.test's SRV records: %v", zone.asks)
	}
	holder := func() string {
		_, body := httpGet(t, "http://"+n2.admin+"/api/registrations?aor=bob")
		m := regexp.MustCompile(`"node":"(n\d)"`).FindStringSubmatch(body)
		if m == nil {
			return ""
		}
		return m[1]
	}
	if h := holder(); h != "n1" {
		t.Fatalf("bob's binding held by %q, want n1 (SRV priority 10)", h)
	}

	n1.kill(t)
	killed := time.Now()
	// UDP tells baresip nothing of the death: its refresh (every ~9 s)
	// waits out Timer F (32 s) at node 1 before the next SRV target.
	for deadline := time.Now().Add(75 * time.Second); holder() != "n2"; time.Sleep(500 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("bob's binding not moved to n2 within 75 s of node 1's death (held by %q)", holder())
		}
	}
	t.Logf("bob registered at node 2 %v after node 1 was killed", time.Since(killed).Round(100*time.Millisecond))

	carol := startSoftphone(t, "carol", fmt.Sprintf(`<sip:carol@example.test>;outbound="sip:%s;transport=udp";regint=0`, n2.Addr),
		"dns_server "+zone.addr)
	carol.command("/dial bob")
	carol.waitLog(reEstablished, phoneWait)
	bob.waitLog(reEstablished, phoneWait)
	// bob must have answered the BYE before the test ends: a BYE still
	// on its way to him when the phones stop leaves node 2 a transaction
	// in flight, which its drain waits out (shutdown_timeout, past the
	// harness's 5 s for a SIGTERM). A call this short ends in baresip's
	// log as "session closed", not as the "Call with … terminated" of
	// its menu.
	carol.command("/hangup")
	bob.waitLog(reSessionClosed, phoneWait)
}

// reSessionClosed is baresip's line for a call the other side hung up.
var reSessionClosed = regexp.MustCompile(`sip:\S+: session closed`)
