package e2e

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// daveParams are an RFC 5626 phone's Contact parameters (issue 13): a
// quoted +sip.instance holding '<' and '>', reg-id and RFC 3840 feature
// tags with and without a value; the URI carries ;ob.
const (
	daveURI    = "<sip:dave@198.51.100.7:5062;ob>"
	daveParams = `reg-id=1;+sip.instance="<urn:uuid:00000000-0000-1000-8000-000A95A0E128>";+g.oma.sip-im;audio="TRUE"`
)

// TestContactParamsSurviveRestart: parley on SQLite (the default engine)
// answers sipp's REGISTER with the Contact's parameters byte for byte and
// its own expires, and after a kill -9 and a restart on the same data
// directory a query lists the same bytes.
func TestContactParamsSurviveRestart(t *testing.T) {
	requireTool(t, "sipp", sippHint)
	data := t.TempDir()
	p := startParley(t, "--data-dir", data)
	// sipp sends the phone's REGISTER and fails unless the 200 lists the
	// Contact byte for byte with expires=600.
	if code := runSipp(t, "-sf", scenario("register_params.xml"), p.Addr); code != 0 {
		t.Fatalf("sipp register_params exited %d: the 200 did not list the Contact as sent", code)
	}

	p.kill(t)
	time.Sleep(1100 * time.Millisecond) // the remaining expiry visibly drops below 600
	p2 := startParley(t, "--data-dir", data)
	contacts := queryBindings(t, p2.Addr, "dave")
	if len(contacts) != 1 {
		t.Fatalf("after the restart: contacts %q, want 1", contacts)
	}
	wantContact(t, "the query's 200 after the restart", strings.TrimSpace(strings.TrimPrefix(contacts[0], "Contact:")), 500, 599)
}

// wantContact checks that a 200's Contact value is dave's, byte for
// byte, with an expires between lo and hi.
func wantContact(t *testing.T, what, got string, lo, hi int) {
	t.Helper()
	m := regexp.MustCompile(`^` + regexp.QuoteMeta(daveURI) + `;expires=(\d+);(.*)$`).FindStringSubmatch(got)
	if m == nil || m[2] != daveParams {
		t.Fatalf("%s: Contact %q, want %s;expires=N;%s", what, got, daveURI, daveParams)
	}
	if left, _ := strconv.Atoi(m[1]); left < lo || left > hi {
		t.Errorf("%s: expires=%d, want %d to %d", what, left, lo, hi)
	}
}
