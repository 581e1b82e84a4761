package proxy

import (
	"strconv"
	"testing"
)

// TestReconfigure: a reloaded policy applies to the next request, and
// what running state depends on (the stateless secret) stays.
func TestReconfigure(t *testing.T) {
	f := authFixture(t)
	withAuth := *f.p.config()
	noAuth := withAuth
	noAuth.Auth = nil
	for i, step := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"auth off", noAuth, "200 OK"},
		{"auth on", withAuth, "401 Unauthorized"},
		{"auth off again", noAuth, "200 OK"},
	} {
		c := step.cfg
		c.Secret = "changed"
		f.p.Reconfigure(c)
		if got := f.serve(req(t, "register.sip", "CSeq: "+strconv.Itoa(i+1)+" REGISTER")).statuses(); len(got) != 1 || got[0] != step.want {
			t.Errorf("%s: REGISTER got %q, want [%s]", step.name, got, step.want)
		}
		if s := f.p.config().Secret; s != "s3cret" {
			t.Errorf("%s: Secret became %q; it must outlive a reload", step.name, s)
		}
	}
}
