package dialplan_test

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/parley-sip/parley/dialplan"
	"github.com/parley-sip/parley/sip"
)

// gws is a gateway set: every gateway at NAME.example, those in down out
// of service.
type gws struct{ down []string }

func (g gws) Up(name string) bool { return !slices.Contains(g.down, name) }
func (g gws) URI(name, user string) (string, bool) {
	return "sip:" + sip.EscapeUser(user) + "@" + name + ".example;transport=udp", true
}

// officePlan is the README's small-office plan, and a few more.
func officePlan(down ...string) *dialplan.Dialplan {
	return dialplan.New([]dialplan.Rule{
		{Name: "emergency", Regex: regexp.MustCompile(`^(11[02])$`), Gateways: []string{"provider", "backup"}},
		{Name: "extensions", Regex: regexp.MustCompile(`^\*(2\d\d)$`), Replace: "$1", Local: true},
		{Name: "international", Prefix: "00", CountryCode: "49", Gateways: []string{"provider", "backup"}},
		{Name: "national", Prefix: "0", CountryCode: "49", Gateways: []string{"provider", "backup"}},
		{Name: "outside-line", Prefix: "9", Strip: 1, AddPrefix: "+4930", Gateways: []string{"backup"}},
		{Name: "other-office", Prefix: "5", Domain: "branch.example.com", Gateways: []string{"branch"}, B2BUA: true},
		{Name: "e164", Regex: regexp.MustCompile(`^\+`), Gateways: []string{"provider"}},
	}, gws{down: down})
}

func TestMatchAndRewrite(t *testing.T) {
	tests := []struct {
		user, domain string
		route, want  string
	}{
		{"112", "example.com", "emergency", "112"},
		{"1120", "example.com", "", ""},
		{"*201", "example.com", "extensions", "201"},
		{"00442079460000", "example.com", "international", "+442079460000"},
		{"030-1234 567", "example.com", "national", "+49301234567"},
		{"0301234567", "example.com", "national", "+49301234567"},
		{"91234567", "example.com", "outside-line", "+49301234567"},
		{"9", "example.com", "outside-line", "+4930"},
		{"5001", "branch.example.com", "other-office", "5001"},
		{"5001", "BRANCH.example.com", "other-office", "5001"},
		{"5001", "example.com", "", ""},
		{"+4930123", "example.com", "e164", "+4930123"},
		{"alice", "example.com", "", ""},
		{"", "example.com", "", ""},
	}
	plan := officePlan()
	for _, tc := range tests {
		r, got, ok := plan.Match(tc.user, tc.domain)
		name := ""
		if ok {
			name = r.Name
		}
		if name != tc.route || got != tc.want {
			t.Errorf("Match(%q, %q) = route %q, %q; want route %q, %q", tc.user, tc.domain, name, got, tc.route, tc.want)
		}
	}
}

func TestE164(t *testing.T) {
	tests := []struct{ in, cc, national, intl, want string }{
		{"0301234567", "49", "", "", "+49301234567"},
		{"00442079460000", "49", "", "", "+442079460000"},
		{"+1 (212) 555-0100", "49", "", "", "+12125550100"},
		{"1234567", "49", "", "", "1234567"},
		{"80012345", "1", "8", "810", "+10012345"},
		{"81012125550100", "7", "8", "810", "+12125550100"},
		{"0", "49", "", "", "+49"},
		{"0abc", "49", "", "", "0abc"},
		{"", "49", "", "", ""},
	}
	for _, tc := range tests {
		if got := dialplan.E164(tc.in, tc.cc, tc.national, tc.intl); got != tc.want {
			t.Errorf("E164(%q, %q, %q, %q) = %q, want %q", tc.in, tc.cc, tc.national, tc.intl, got, tc.want)
		}
	}
}

func invite(t *testing.T, ruri string) *sip.Message {
	t.Helper()
	m, err := sip.NewRequestBuilder("INVITE", ruri).
		Header("Via", "SIP/2.0/UDP 192.0.2.7;branch=z9hG4bKx").Header("Max-Forwards", "70").
		Header("From", "<sip:alice@example.com>;tag=a").Header("To", "<"+ruri+">").
		Header("Call-ID", "c1").Header("CSeq", "1 INVITE").Message("", nil)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestRoute(t *testing.T) {
	tests := []struct {
		name, ruri string
		down       []string
		ok         bool
		want       dialplan.Plan
	}{
		{"gateways in order", "sip:0301234567@example.com", nil, true, dialplan.Plan{
			Route: "national", Trunk: "provider", DialledUser: "0301234567",
			Destinations: []dialplan.Destination{
				{URI: "sip:+49301234567@provider.example;transport=udp", Trunk: "provider"},
				{URI: "sip:+49301234567@backup.example;transport=udp", Trunk: "backup"},
			}}},
		{"a down gateway is skipped", "sip:0301234567@example.com", []string{"provider"}, true, dialplan.Plan{
			Route: "national", Trunk: "backup", DialledUser: "0301234567",
			Destinations: []dialplan.Destination{{URI: "sip:+49301234567@backup.example;transport=udp", Trunk: "backup"}}}},
		{"every gateway down", "sip:91234@example.com", []string{"backup"}, false, dialplan.Plan{
			Route: "outside-line", DialledUser: "91234"}},
		{"local", "sip:*201@example.com;user=phone", nil, true, dialplan.Plan{
			Route: "extensions", DialledUser: "*201",
			Destinations: []dialplan.Destination{{URI: "sip:201@example.com;user=phone"}}}},
		{"escaped user", "sip:%2B4930123@example.com", nil, true, dialplan.Plan{
			Route: "e164", Trunk: "provider", DialledUser: "+4930123",
			Destinations: []dialplan.Destination{{URI: "sip:+4930123@provider.example;transport=udp", Trunk: "provider"}}}},
		{"b2bua route", "sip:5001@branch.example.com", nil, true, dialplan.Plan{
			Route: "other-office", Trunk: "branch", DialledUser: "5001", B2BUA: true,
			Destinations: []dialplan.Destination{{URI: "sip:5001@branch.example;transport=udp", Trunk: "branch"}}}},
		{"no route", "sip:bob@example.com", nil, false, dialplan.Plan{}},
		{"no user", "sip:example.com", nil, false, dialplan.Plan{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, ok := officePlan(tc.down...).Route(context.Background(), invite(t, tc.ruri))
			if ok != tc.ok || !equalPlan(p, tc.want) {
				t.Errorf("Route = %+v, %v; want %+v, %v", p, ok, tc.want, tc.ok)
			}
		})
	}
}

func equalPlan(a, b dialplan.Plan) bool {
	return a.Route == b.Route && a.Trunk == b.Trunk && a.DialledUser == b.DialledUser && a.B2BUA == b.B2BUA &&
		slices.Equal(a.Destinations, b.Destinations)
}

func TestDIDs(t *testing.T) {
	dids := dialplan.DIDs{"+4930123456": "alice", "4930999": "bob@example.org", "+4930555": "a b"}
	tests := []struct{ number, want string }{
		{"+4930123456", "sip:alice@example.com"},
		{"4930123456", "sip:alice@example.com"},
		{"+49 30 123456", "sip:alice@example.com"},
		{"+4930999", "sip:bob@example.org"},
		{"4930999", "sip:bob@example.org"},
		{"+4930555", "sip:a%20b@example.com"},
		{"030123456", ""},
		{"", ""},
	}
	for _, tc := range tests {
		got, ok := dids.Target(tc.number, "example.com")
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("Target(%q) = %q, %v; want %q", tc.number, got, ok, tc.want)
		}
	}
}

// TestNumber: the DID a gateway's call was for is kept as the provider
// wrote it, from the Request-URI before the To (as Inbound maps it),
// so that its record says what was dialled rather than the user it rang.
func TestNumber(t *testing.T) {
	tb := dialplan.Table{DIDs: dialplan.DIDs{"+4930123456": "201", "4930123457": "202@office.example"}}
	tests := []struct {
		name, ruri, to, want, target string
	}{
		{"DID in the Request-URI", "sip:+4930123456@192.0.2.10", "sip:+4930123456@provider.example", "+4930123456", "sip:201@192.0.2.10"},
		{"written without its +", "sip:4930123456@192.0.2.10", "sip:x@provider.example", "4930123456", "sip:201@192.0.2.10"},
		{"to the registered Contact, DID in To", "sip:office@192.0.2.10", "sip:+4930123457@provider.example", "+4930123457", "sip:202@office.example"},
		{"escaped", "sip:%2B4930123456@192.0.2.10", "sip:office@provider.example", "+4930123456", "sip:201@192.0.2.10"},
		{"no DID", "sip:office@192.0.2.10", "sip:+4930999@provider.example", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ruri, to := mustURI(t, tt.ruri), mustURI(t, tt.to)
			got, ok := tb.Number(ruri, to)
			if got != tt.want || ok != (tt.want != "") {
				t.Errorf("Number = %q, %v; want %q", got, ok, tt.want)
			}
			if uri, _ := tb.Inbound(ruri, to); uri != tt.target {
				t.Errorf("Inbound = %q, want %q", uri, tt.target)
			}
		})
	}
}

func mustURI(t *testing.T, s string) sip.URI {
	t.Helper()
	u, err := sip.ParseURI(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// FuzzRewrite checks that no dialled user makes matching or rewriting
// panic, and that what a gateway route sends is a URI that parses.
func FuzzRewrite(f *testing.F) {
	for _, s := range []string{"0301234567", "*201", "+49 (30) 1", "00", "9", "%", "\x00", "0" + strings.Repeat("9", 300)} {
		f.Add(s)
	}
	plan := officePlan()
	f.Fuzz(func(t *testing.T, user string) {
		r, got, ok := plan.Match(user, "example.com")
		if !ok {
			return
		}
		if r.Local {
			return
		}
		uri := "sip:" + sip.EscapeUser(got) + "@gw.example"
		if _, err := sip.ParseURI(uri); err != nil {
			t.Fatalf("route %s made %q from %q: %v", r.Name, uri, user, err)
		}
		_ = dialplan.E164(user, "49", "", "")
	})
}
