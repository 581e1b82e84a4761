package proxy

import (
	"testing"
	"time"

	"github.com/parley-sip/parley/location"
	"github.com/parley-sip/parley/sip"
)

// TestLocalResponses covers requests the proxy answers itself: §16.3
// request validation (syntax, URI scheme, Max-Forwards, Proxy-Require),
// OPTIONS addressed to the proxy (§11), unknown users (§16.5) and a
// failing location service. Each answer copies Via, From, Call-ID and
// CSeq, adds a To tag (§8.2.6.2) and nothing is forwarded.
func TestLocalResponses(t *testing.T) {
	optionsAnswer := map[string][]string{
		"Allow":     {allowed},
		"Accept":    {"application/sdp"},
		"Supported": {"path, outbound, gruu"},
	}
	tests := []struct {
		name   string
		file   string
		edits  []string
		bob    bool // bob@example.com has a binding
		code   int
		reason string
		extra  map[string][]string
	}{
		// §16.3 step 1: reasonable syntax; the reason phrase names the defect.
		{name: "malformed CSeq number", file: "invite.sip", edits: []string{"CSeq: abc INVITE"},
			code: 400, reason: "Malformed CSeq"},
		{name: "CSeq number above 2**31", file: "invite.sip", edits: []string{"CSeq: 2147483648 INVITE"},
			code: 400, reason: "Malformed CSeq"},
		{name: "CSeq without method", file: "invite.sip", edits: []string{"CSeq: 1"},
			code: 400, reason: "Malformed CSeq"},
		{name: "CSeq method differs from the request's", file: "invite.sip", edits: []string{"CSeq: 1 BYE"},
			code: 400, reason: "CSeq Method Mismatch"},
		{name: "malformed Max-Forwards", file: "invite.sip", edits: []string{"Max-Forwards: seventy"},
			code: 400, reason: "Malformed Max-Forwards"},
		// §16.3 step 2: a URI scheme the proxy does not understand.
		{name: "mailto Request-URI", file: "invite.sip", edits: []string{"RURI mailto:bob@example.com"},
			code: 416, reason: "Unsupported URI Scheme"},
		// §16.3 step 3.
		{name: "Max-Forwards 0", file: "invite.sip", edits: []string{"Max-Forwards: 0"}, bob: true,
			code: 483, reason: "Too Many Hops"},
		{name: "OPTIONS with Max-Forwards 0 to the proxy", file: "options.sip", edits: []string{"Max-Forwards: 0"},
			code: 200, reason: "OK", extra: optionsAnswer},
		{name: "OPTIONS with Max-Forwards 0 to a user", file: "options.sip", bob: true,
			edits: []string{"Max-Forwards: 0", "RURI sip:bob@example.com", "To: <sip:bob@example.com>"},
			code:  200, reason: "OK", extra: optionsAnswer},
		// §11: OPTIONS for the server itself, by address or by domain.
		{name: "OPTIONS to the proxy's address", file: "options.sip",
			code: 200, reason: "OK", extra: optionsAnswer},
		{name: "OPTIONS to the domain", file: "options.sip", edits: []string{"RURI sip:example.com", "To: <sip:example.com>"},
			code: 200, reason: "OK", extra: optionsAnswer},
		// §16.3 step 5: no option tag is supported for proxies.
		{name: "Proxy-Require", file: "invite.sip", edits: []string{"+Proxy-Require: foo"}, bob: true,
			code: 420, reason: "Bad Extension", extra: map[string][]string{"Unsupported": {"foo"}}},
		{name: "Proxy-Require with two tags on two lines", file: "invite.sip", bob: true,
			edits: []string{"+Proxy-Require: foo, bar", "+Proxy-Require: baz"},
			code:  420, reason: "Bad Extension", extra: map[string][]string{"Unsupported": {"foo, bar, baz"}}},
		// §16.5: an AOR of our domain without bindings.
		{name: "unknown user of our domain", file: "invite.sip",
			code: 404, reason: "Not Found"},
		{name: "user whose bindings have expired", file: "invite.sip", edits: []string{"RURI sip:dave@example.com"},
			code: 404, reason: "Not Found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, defaultConfig())
			if tt.bob {
				f.bind("sip:bob@example.com", location.Binding{Contact: "sip:bob@10.0.0.5:5062", Source: ap("198.51.100.20:40000")})
			}
			f.bind("sip:dave@example.com", location.Binding{Contact: "sip:dave@10.0.0.6", Expires: t0.Add(-time.Second)})
			answeredLocally(t, f, req(t, tt.file, tt.edits...), tt.code, tt.reason, tt.extra)
		})
	}
}

// answeredLocally serves req and checks that the proxy answered it
// itself, once, with code and reason (see checkLocalResponse), and sent
// nothing else.
func answeredLocally(t *testing.T, f *fixture, req *sip.Message, code int, reason string, extra map[string][]string) {
	t.Helper()
	tx := f.serve(req)
	resps := tx.responses()
	if len(resps) != 1 {
		t.Fatalf("responses = %q, want exactly one %d %s", tx.statuses(), code, reason)
	}
	checkLocalResponse(t, f, req, resps[0], code, reason, extra)
	if got := f.txs.all(""); len(got) != 0 {
		t.Errorf("forwarded %d requests, want none", len(got))
	}
	if got := f.tp.messages(); len(got) != 0 {
		t.Errorf("sent %d messages outside transactions, want none", len(got))
	}
}

// checkLocalResponse checks a response the proxy made itself to req
// (§8.2.6.2): status line, Via/From/Call-ID/CSeq copied, To copied with
// the proxy's tag added, and the extra headers.
func checkLocalResponse(t *testing.T, f *fixture, req, resp *sip.Message, code int, reason string, extra map[string][]string) {
	t.Helper()
	if resp.StatusCode() != code || resp.Reason() != reason {
		t.Fatalf("response = %q, want %d %s", status(resp), code, reason)
	}
	want := map[string][]string{
		"Via":     lines(req, "Via"),
		"From":    lines(req, "From"),
		"Call-ID": lines(req, "Call-ID"),
		"CSeq":    lines(req, "CSeq"),
		"To":      {lines(req, "To")[0] + ";tag=" + f.p.toTag(req)},
	}
	for k, v := range extra {
		want[k] = v
	}
	checkHeaders(t, status(resp), resp, want)
	if resp.ToTag() == "" {
		t.Errorf("%s: To %q has no tag", status(resp), resp.Header("To"))
	}
}

// TestUnanswerableRequestsAreDropped: a request without what a response
// must copy (§8.2.6.2) cannot be answered; it is dropped silently.
func TestUnanswerableRequestsAreDropped(t *testing.T) {
	for _, edit := range []string{"-Call-ID", "-Via", "-From", "-To", "-CSeq"} {
		t.Run(edit, func(t *testing.T) {
			f := newFixture(t, defaultConfig())
			f.bind("sip:bob@example.com", location.Binding{Contact: "sip:bob@10.0.0.5:5062", Source: ap("198.51.100.20:40000")})
			tx := f.serve(parse(t, load(t, "invite.sip", edit)))
			if got := tx.statuses(); len(got) != 0 {
				t.Errorf("answered %q, want the request dropped", got)
			}
			if got := f.txs.all(""); len(got) != 0 {
				t.Errorf("forwarded %d requests, want none", len(got))
			}
			if got := f.tp.messages(); len(got) != 0 {
				t.Errorf("sent %d messages, want none", len(got))
			}
		})
	}
}

// TestLocationServiceFailure: a store that fails is a 503 with
// Retry-After, not a 404 (the user may well be registered).
func TestLocationServiceFailure(t *testing.T) {
	f := newFixture(t, defaultConfig())
	f.store.Close()
	m := req(t, "invite.sip")
	tx := f.serve(m)
	resps := tx.responses()
	if len(resps) != 1 {
		t.Fatalf("responses = %q, want one 503", tx.statuses())
	}
	checkLocalResponse(t, f, m, resps[0], 503, "Location Service Unavailable", map[string][]string{"Retry-After": {"5"}})
}

// TestServerHeader: Config.ServerHeader goes into every response the
// proxy makes itself.
func TestServerHeader(t *testing.T) {
	cfg := defaultConfig()
	cfg.ServerHeader = "Parley/test"
	f := newFixture(t, cfg)
	m := req(t, "invite.sip")
	tx := f.serve(m)
	resps := tx.responses()
	if len(resps) != 1 {
		t.Fatalf("responses = %q, want one 404", tx.statuses())
	}
	checkLocalResponse(t, f, m, resps[0], 404, "Not Found", map[string][]string{"Server": {"Parley/test"}})
}
