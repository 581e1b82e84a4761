package proxy

import (
	"slices"
	"strings"
	"testing"

	"github.com/parley-sip/parley/location"
	"github.com/parley-sip/parley/sip"
)

// TestForwardingOnlyHeadersPassUntouched is the lenient side of the
// leniency table (docs/ARCHITECTURE.md): a header the proxy only forwards
// never causes a 400, however broken its grammar, and leaves as it came,
// byte for byte. testdata/invite-odd.sip breaks all of them at once.
func TestForwardingOnlyHeadersPassUntouched(t *testing.T) {
	tests := []struct {
		name  string
		file  string
		edits []string
	}{
		{"every forwarding-only header off-grammar", "invite-odd.sip", nil},
		{"To host with a space", "invite.sip", []string{"To: Bob <sip:bob@exa mple.com>"}},
		{"To with duplicate URI parameters", "invite.sip", []string{"To: <sip:bob@example.com:5060;transport=udp;transport=udp>"}},
		{"From with an unbalanced quote", "invite.sip", []string{`From: "Alice <sip:alice@example.com>;tag=a1`}},
		{"Via below the top with empty parameters", "invite.sip", []string{"+Via: SIP/2.0/UDP 203.0.113.9;;,"}},
		{"Via below the top of another version", "invite.sip", []string{"+Via: SIP/3.0/UDP 203.0.113.9"}},
		{"Contact of an INVITE", "invite.sip", []string{"Contact: <sip:alice@198.51.100.7:5060;;>"}},
		{"Expires of an INVITE", "invite.sip", []string{"Expires: -1"}},
		{"Record-Route without its closing bracket", "invite.sip", []string{"+Record-Route: <sip:edge.example.net;lr"}},
		{"in-dialog BYE whose To does not parse", "bye.sip", []string{"To: Bob <sip:bob@exa mple.com>;tag=b1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, defaultConfig())
			f.bind("sip:bob@example.com", location.Binding{Contact: "sip:bob@198.51.100.20:5062", Source: ap("198.51.100.20:5062")})
			m := req(t, tt.file, tt.edits...)
			want := headerLines(m)
			tx := f.serve(m)
			if got := tx.statuses(); len(got) != 0 {
				t.Fatalf("answered %q, want the request forwarded", got)
			}
			c := onlyBranch(t, f)
			if got := theirLines(headerLines(c.req)); !slices.Equal(got, forwardedAs(want)) {
				t.Errorf("forwarded header lines:\n%s\nwant, besides our Via and Record-Route, as received:\n%s",
					strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

// theirLines drops the proxy's own lines from a forwarded request: its
// Via on top and its Record-Route.
func theirLines(lines []string) []string {
	return slices.DeleteFunc(lines, func(l string) bool {
		return l == "Record-Route: <sip:192.0.2.1:5060;lr>" || strings.HasPrefix(l, "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=")
	})
}

// forwardedAs is the received header lines as the proxy forwards them:
// Max-Forwards one less and the Route to us removed (§16.6, §16.4).
func forwardedAs(in []string) []string {
	var out []string
	for _, l := range in {
		switch {
		case l == "Max-Forwards: 70":
			out = append(out, "Max-Forwards: 69")
		case !strings.HasPrefix(l, "Route: <sip:192.0.2.1"):
			out = append(out, l)
		}
	}
	return out
}

// headerLines lists a message's header lines as "Name: value".
func headerLines(m *sip.Message) []string {
	var out []string
	m.EachHeader(func(name, value string) bool {
		out = append(out, name+": "+value)
		return true
	})
	return out
}

// TestInterpretedHeadersAreStrict is the strict side of the leniency
// table: what Parley must interpret to act is refused with a 400 that
// names it.
func TestInterpretedHeadersAreStrict(t *testing.T) {
	tests := []struct {
		name   string
		file   string
		edits  []string
		reason string
	}{
		{"two To headers", "invite.sip", []string{"+To: <sip:carol@example.com>"}, "Multiple To Headers"},
		{"Route that does not parse", "invite.sip", []string{"Route: <sip:192.0.2.1;lr"}, "Malformed Route"},
		{"Call-ID with a space", "invite.sip", []string{"Call-ID: c1 @198.51.100.7"}, "Malformed Call-ID"},
		{"Request-URI with headers", "invite.sip", []string{"RURI sip:bob@example.com?Subject=x"}, "Malformed Request-URI"},
		{"To of a REGISTER", "register.sip", []string{"To: <sip:carol@exa mple.com>"}, "Malformed To"},
		{"Contact of a REGISTER", "register.sip", []string{"Contact: <sip:carol@198.51.100.7:5060;;>"}, "Malformed Contact"},
		{"Expires of a REGISTER", "register.sip", []string{"Expires: soon"}, "Malformed Expires"},
		{"Path of a REGISTER", "register.sip", []string{"Path: <sip:edge.example.net;lr"}, "Malformed Path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, defaultConfig())
			answeredLocally(t, f, req(t, tt.file, tt.edits...), 400, tt.reason, nil)
		})
	}
	t.Run("From when auth must check it", func(t *testing.T) {
		f := authFixture(t)
		answeredLocally(t, f, req(t, "invite.sip", `From: "Alice <sip:alice@example.com>;tag=a1`), 400, "Malformed From", nil)
	})
}
