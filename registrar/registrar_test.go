package registrar

import (
	"context"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parley-sip/parley/clock"
	"github.com/parley-sip/parley/location"
	"github.com/parley-sip/parley/location/redisstore"
	"github.com/parley-sip/parley/location/redisstore/redistest"
	"github.com/parley-sip/parley/location/sqlstore"
	"github.com/parley-sip/parley/sip"
	// subscriber's storetest hands out a throwaway PostgreSQL schema.
	pgschema "github.com/parley-sip/parley/subscriber/storetest"
	"github.com/parley-sip/parley/transport"
)

var t0 = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

// fixture is a registrar on a memory store with a clock the test moves.
type fixture struct {
	r   *Registrar
	clk *clock.Fake
}

func newFixture(p Policy) *fixture {
	f := &fixture{clk: clock.NewFake(t0)}
	f.r = &Registrar{
		Store:     location.NewMemory(),
		Serves:    func(d string) bool { return d == "example.com" },
		PolicyFor: func(string) Policy { return p },
		Now:       f.clk.Now,
	}
	return f
}

// register sends a REGISTER for alice with the given Call-ID, CSeq and
// extra header lines, and returns the response.
func (f *fixture) register(t *testing.T, callID string, cseq int, lines ...string) *sip.Message {
	t.Helper()
	return f.registerTo(t, "sip:example.com", "sip:alice@example.com", callID, cseq, lines...)
}

func (f *fixture) registerTo(t *testing.T, ruri, to, callID string, cseq int, lines ...string) *sip.Message {
	t.Helper()
	b := sip.NewRequestBuilder("REGISTER", ruri).
		Header("Via", "SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK"+callID+strconv.Itoa(cseq)).
		Header("Max-Forwards", "70").
		Header("From", "<"+to+">;tag=f1").
		Header("To", "<"+to+">").
		Header("Call-ID", callID).
		Header("CSeq", strconv.Itoa(cseq)+" REGISTER")
	for _, l := range lines {
		name, value, _ := strings.Cut(l, ": ")
		b.Header(name, value)
	}
	req, err := b.Message("", nil)
	if err != nil {
		t.Fatalf("building REGISTER: %v", err)
	}
	in := &transport.Incoming{
		Msg:    req,
		Proto:  transport.UDP,
		Source: netip.MustParseAddrPort("198.51.100.7:40000"),
		Local:  netip.MustParseAddrPort("203.0.113.1:5060"),
	}
	return f.r.Handle(context.Background(), in, "tt")
}

// contacts returns the response's Contact values.
func contacts(t *testing.T, m *sip.Message) []string {
	t.Helper()
	return m.HeaderValues("Contact")
}

func TestRegisterSteps(t *testing.T) {
	policy := DefaultPolicy
	tests := []struct {
		name    string
		lines   []string
		code    int
		reason  string
		contact []string // expected Contact values in the 200
		header  [2]string
	}{
		{name: "default expiry", lines: []string{"Contact: <sip:alice@192.0.2.10>"}, code: 200, contact: []string{"<sip:alice@192.0.2.10>;expires=3600"}},
		{name: "Expires header", lines: []string{"Contact: <sip:alice@192.0.2.10>", "Expires: 300"}, code: 200, contact: []string{"<sip:alice@192.0.2.10>;expires=300"}},
		{name: "contact parameter wins", lines: []string{"Contact: <sip:alice@192.0.2.10>;expires=120", "Expires: 300"}, code: 200, contact: []string{"<sip:alice@192.0.2.10>;expires=120"}},
		{name: "too brief", lines: []string{"Contact: <sip:alice@192.0.2.10>;expires=10"}, code: 423, reason: "Interval Too Brief", header: [2]string{"Min-Expires", "60"}},
		{name: "clamped to max", lines: []string{"Contact: <sip:alice@192.0.2.10>;expires=999999"}, code: 200, contact: []string{"<sip:alice@192.0.2.10>;expires=86400"}},
		{name: "q value", lines: []string{"Contact: <sip:alice@192.0.2.10>;q=0.5"}, code: 200, contact: []string{"<sip:alice@192.0.2.10>;expires=3600;q=0.5"}},
		{name: "contact parameters kept", lines: []string{"Contact: " + daveContact}, code: 200, contact: []string{"<sip:dave@198.51.100.7:5062;ob>;expires=3600;" + daveParams}},
		{name: "phone's expires replaced", lines: []string{`Contact: <sip:a@192.0.2.10>;reg-id=1;EXPIRES=99999 ;+sip.instance="<urn:uuid:1>"`}, code: 200, contact: []string{`<sip:a@192.0.2.10>;expires=86400;reg-id=1;+sip.instance="<urn:uuid:1>"`}},
		{name: "contact not UTF-8", lines: []string{"Contact: <sip:alice@192.0.2.10>;n=\"\xff\""}, code: 400, reason: "Malformed Contact"},
		{name: "bad q value", lines: []string{"Contact: <sip:alice@192.0.2.10>;q=2"}, code: 400, reason: "Malformed Contact q Value"},
		{name: "wildcard needs Expires 0", lines: []string{"Contact: *"}, code: 400, reason: "Invalid Wildcard Contact"},
		{name: "wildcard alone", lines: []string{"Contact: *, <sip:alice@192.0.2.10>", "Expires: 0"}, code: 400, reason: "Malformed Contact"},
		{name: "query of nothing", code: 200},
		{name: "unsupported contact scheme", lines: []string{"Contact: <mailto:alice@example.com>"}, code: 400, reason: "Unsupported Contact URI Scheme"},
		{name: "malformed Expires", lines: []string{"Contact: <sip:alice@192.0.2.10>", "Expires: soon"}, code: 400, reason: "Malformed Expires"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(policy)
			resp := f.register(t, "c1", 1, tc.lines...)
			if resp.StatusCode() != tc.code {
				t.Fatalf("status %d %s, want %d", resp.StatusCode(), resp.Reason(), tc.code)
			}
			if tc.reason != "" && resp.Reason() != tc.reason {
				t.Errorf("reason %q, want %q", resp.Reason(), tc.reason)
			}
			if tc.header[0] != "" && resp.Header(tc.header[0]) != tc.header[1] {
				t.Errorf("%s: %q, want %q", tc.header[0], resp.Header(tc.header[0]), tc.header[1])
			}
			if tc.code == 200 {
				got := contacts(t, resp)
				if strings.Join(got, "|") != strings.Join(tc.contact, "|") {
					t.Errorf("contacts %q, want %q", got, tc.contact)
				}
				if to, _ := resp.To(); to.Tag() != "tt" {
					t.Errorf("To tag %q, want tt", to.Tag())
				}
			}
		})
	}
}

// daveContact is an RFC 5626 phone's Contact (issue 13): a quoted
// +sip.instance holding '<' and '>', reg-id, ;ob in the URI and RFC 3840
// feature tags, with and without a value.
const (
	daveParams  = `reg-id=1;+sip.instance="<urn:uuid:00000000-0000-1000-8000-000A95A0E128>";+g.oma.sip-im;audio="TRUE"`
	daveContact = "<sip:dave@198.51.100.7:5062;ob>;" + daveParams
)

// TestContactParamsEveryEngine: the Contact's parameters come back byte
// for byte from every engine, in the REGISTER's own 200 and, for the
// durable ones, in a query answered after the store was closed and
// opened again on the same database (a restart).
func TestContactParamsEveryEngine(t *testing.T) {
	want := "<sip:dave@198.51.100.7:5062;ob>;expires=600;" + daveParams
	for _, e := range []struct {
		name string
		// database returns an opener of one database, nil for memory.
		database func(t *testing.T) func(opts ...sqlstore.Option) (location.Store, error)
	}{
		{"memory", nil},
		{"sqlite", func(t *testing.T) func(opts ...sqlstore.Option) (location.Store, error) {
			path := filepath.Join(t.TempDir(), "parley.db")
			return func(opts ...sqlstore.Option) (location.Store, error) { return sqlstore.OpenSQLite(path, opts...) }
		}},
		{"postgres", func(t *testing.T) func(opts ...sqlstore.Option) (location.Store, error) {
			dsn := pgschema.PostgresDSN(t)
			return func(opts ...sqlstore.Option) (location.Store, error) {
				return sqlstore.OpenPostgres(context.Background(), dsn, opts...)
			}
		}},
		{"redis", func(t *testing.T) func(opts ...sqlstore.Option) (location.Store, error) {
			url := redistest.URL(t)
			prefix := redistest.Prefix(t, url)
			return func(...sqlstore.Option) (location.Store, error) {
				return redisstore.Open(context.Background(), url, redisstore.WithPrefix(prefix))
			}
		}},
	} {
		t.Run(e.name, func(t *testing.T) {
			f := newFixture(DefaultPolicy)
			var open func(opts ...sqlstore.Option) (location.Store, error)
			if e.database != nil {
				open = e.database(t)
				reopen(t, f, open)
			}
			defer f.r.Store.Close()
			mustContacts(t, f.registerTo(t, "sip:example.com", "sip:dave@example.com", "c1", 1, "Contact: "+daveContact, "Expires: 600"), want)
			if open == nil {
				return // nothing survives a restart
			}
			reopen(t, f, open)
			mustContacts(t, f.registerTo(t, "sip:example.com", "sip:dave@example.com", "c9", 1), want)
		})
	}
}

// reopen closes f's store and gives it a new one from open, as a restart
// of the server would.
func reopen(t *testing.T, f *fixture, open func(opts ...sqlstore.Option) (location.Store, error)) {
	t.Helper()
	f.r.Store.Close()
	s, err := open(sqlstore.WithClock(f.clk.Now))
	if err != nil {
		t.Fatal(err)
	}
	f.r.Store = s
}

func TestRaiseToMin(t *testing.T) {
	p := DefaultPolicy
	p.RaiseToMin = true
	f := newFixture(p)
	resp := f.register(t, "c1", 1, "Contact: <sip:alice@192.0.2.10>;expires=10")
	if got := contacts(t, resp); resp.StatusCode() != 200 || len(got) != 1 || got[0] != "<sip:alice@192.0.2.10>;expires=60" {
		t.Fatalf("got %d %q", resp.StatusCode(), got)
	}
}

func TestDomains(t *testing.T) {
	f := newFixture(DefaultPolicy)
	if resp := f.registerTo(t, "sip:other.org", "sip:alice@other.org", "c1", 1, "Contact: <sip:a@192.0.2.1>"); resp.StatusCode() != 403 {
		t.Errorf("foreign Request-URI: %d, want 403", resp.StatusCode())
	}
	if resp := f.registerTo(t, "sip:example.com", "sip:alice@other.org", "c1", 1, "Contact: <sip:a@192.0.2.1>"); resp.StatusCode() != 404 {
		t.Errorf("foreign AOR: %d, want 404", resp.StatusCode())
	}
}

// TestRequestURINamingTheServer: a Request-URI that names the server
// itself (a desk phone with the server's IP as registrar) takes the
// domain from To; any other Request-URI is the domain (§10.3 step 1).
func TestRequestURINamingTheServer(t *testing.T) {
	tests := []struct {
		name, ruri, to string
		code           int
	}{
		{"server's address, our AOR", "sip:192.0.2.1", "sip:alice@example.com", 200},
		{"server's address and port, our AOR", "sip:192.0.2.1:5060", "sip:alice@example.com", 200},
		{"server's address, foreign AOR", "sip:192.0.2.1", "sip:alice@other.org", 403},
		{"another address", "sip:192.0.2.99", "sip:alice@example.com", 403},
		{"malformed To", "sip:192.0.2.1", "sip:alice@exa mple.com", 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(DefaultPolicy)
			f.r.ForUs = func(u *sip.URI) bool { return u.Host == "192.0.2.1" }
			resp := f.registerTo(t, tc.ruri, tc.to, "c1", 1, "Contact: <sip:a@198.51.100.7>")
			mustCode(t, resp, tc.code)
			if tc.code != 200 {
				return
			}
			bs, err := f.r.Store.Lookup(context.Background(), "sip:alice@example.com", f.clk.Now())
			if err != nil || len(bs) != 1 || bs[0].Contact != "sip:a@198.51.100.7" {
				t.Errorf("bindings of sip:alice@example.com = %v, %v; want the one registered", bs, err)
			}
		})
	}
}

func TestRefreshOrderingAndRemoval(t *testing.T) {
	f := newFixture(DefaultPolicy)
	c := "Contact: <sip:alice@192.0.2.10>"
	mustCode(t, f.register(t, "c1", 5, c), 200)
	// An older CSeq of the same Call-ID must not overwrite (§10.3 step 7).
	mustCode(t, f.register(t, "c1", 4, c, "Expires: 100"), 500)
	mustCode(t, f.register(t, "c1", 5, c, "Expires: 100"), 500)
	// A newer one refreshes.
	resp := f.register(t, "c1", 6, c, "Expires: 100")
	mustContacts(t, resp, "<sip:alice@192.0.2.10>;expires=100")
	// A contact that differs by an explicit port is another binding
	// (§19.1.4), listed most recent first.
	f.clk.Advance(time.Second)
	resp = f.register(t, "c2", 1, "Contact: <sip:alice@192.0.2.10:5060>", "Expires: 200")
	mustContacts(t, resp, "<sip:alice@192.0.2.10:5060>;expires=200", "<sip:alice@192.0.2.10>;expires=99")
	// Another Call-ID (the phone rebooted) replaces a binding whatever its CSeq.
	f.clk.Advance(time.Second)
	resp = f.register(t, "c3", 1, "Contact: <sip:alice@192.0.2.10>", "Expires: 300")
	mustContacts(t, resp, "<sip:alice@192.0.2.10>;expires=300", "<sip:alice@192.0.2.10:5060>;expires=199")
	// Expires: 0 removes one binding, '*' all.
	resp = f.register(t, "c2", 2, "Contact: <sip:alice@192.0.2.10:5060>", "Expires: 0")
	mustContacts(t, resp, "<sip:alice@192.0.2.10>;expires=300")
	resp = f.register(t, "c4", 1, "Contact: *", "Expires: 0")
	mustContacts(t, resp)
}

func TestQueryAndExpiry(t *testing.T) {
	f := newFixture(DefaultPolicy)
	mustCode(t, f.register(t, "c1", 1, "Contact: <sip:alice@192.0.2.10>", "Expires: 120"), 200)
	f.clk.Advance(20 * time.Second)
	mustContacts(t, f.register(t, "c9", 1), "<sip:alice@192.0.2.10>;expires=100")
	f.clk.Advance(101 * time.Second)
	mustContacts(t, f.register(t, "c9", 2))
}

func TestContactLimit(t *testing.T) {
	p := DefaultPolicy
	p.MaxContacts = 2
	f := newFixture(p)
	mustCode(t, f.register(t, "c1", 1, "Contact: <sip:a@192.0.2.1>"), 200)
	f.clk.Advance(time.Second)
	mustCode(t, f.register(t, "c2", 1, "Contact: <sip:b@192.0.2.2>"), 200)
	resp := f.register(t, "c3", 1, "Contact: <sip:c@192.0.2.3>")
	if resp.StatusCode() != 503 || resp.Reason() != "Too Many Contacts" {
		t.Fatalf("third contact: %d %s, want 503 Too Many Contacts", resp.StatusCode(), resp.Reason())
	}
	p.ReplaceOldest = true
	f.r.PolicyFor = func(string) Policy { return p }
	f.clk.Advance(time.Second)
	resp = f.register(t, "c3", 2, "Contact: <sip:c@192.0.2.3>")
	got := contacts(t, resp)
	if len(got) != 2 || strings.Contains(strings.Join(got, " "), "sip:a@") {
		t.Fatalf("replace-oldest kept %q", got)
	}
}

func TestPathAndFlowStored(t *testing.T) {
	f := newFixture(DefaultPolicy)
	resp := f.register(t, "c1", 1, "Path: <sip:edge.example.net;lr>", "Supported: path", "Contact: <sip:alice@10.0.0.5:5060>")
	mustCode(t, resp, 200)
	if resp.Header("Path") != "<sip:edge.example.net;lr>" {
		t.Errorf("Path not echoed: %q", resp.Header("Path"))
	}
	if !resp.HasToken("Supported", "path") {
		t.Errorf("no Supported: path")
	}
	bs, _ := f.r.Store.Lookup(context.Background(), "sip:alice@example.com", f.clk.Now())
	if len(bs) != 1 {
		t.Fatalf("bindings %d, want 1", len(bs))
	}
	b := bs[0]
	if len(b.Path) != 1 || b.Path[0] != "<sip:edge.example.net;lr>" {
		t.Errorf("path %q", b.Path)
	}
	if b.Source.String() != "198.51.100.7:40000" || b.Transport != "udp" || b.Contact != "sip:alice@10.0.0.5:5060" {
		t.Errorf("flow not stored: %+v", b)
	}
}

func mustCode(t *testing.T, m *sip.Message, code int) {
	t.Helper()
	if m.StatusCode() != code {
		t.Fatalf("status %d %s, want %d", m.StatusCode(), m.Reason(), code)
	}
}

func mustContacts(t *testing.T, m *sip.Message, want ...string) {
	t.Helper()
	mustCode(t, m, 200)
	got := m.HeaderValues("Contact")
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("contacts %q, want %q", got, want)
	}
}
