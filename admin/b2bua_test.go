package admin

import (
	"net/http"
	"testing"
)

// calls is a CallControl holding call ids.
type calls map[string]bool

func (c calls) List() any {
	out := []string{}
	for id := range c {
		out = append(out, id)
	}
	return out
}

func (c calls) Hangup(id string) bool {
	ok := c[id]
	delete(c, id)
	return ok
}

func TestB2BUACalls(t *testing.T) {
	f := newFixture(t, "", nil)
	if got := decode[struct {
		B2BUA bool
		Calls []string
	}](t, f.do("GET", "/api/b2bua/calls", "")); got.B2BUA || got.Calls == nil || len(got.Calls) != 0 {
		t.Errorf("without a B2BUA: %+v, want b2bua false and no calls", got)
	}
	if w := f.do("DELETE", "/api/b2bua/calls/c1", ""); w.Code != http.StatusNotFound {
		t.Errorf("hang-up without a B2BUA: %d, want 404", w.Code)
	}
	cc := calls{"c1": true}
	f.srv = New(Config{Calls: cc, Now: f.clk.Now})
	tests := []struct {
		method, path string
		code         int
	}{
		{"GET", "/api/b2bua/calls", 200},
		{"DELETE", "/api/b2bua/calls/c2", 404},
		{"DELETE", "/api/b2bua/calls/c1", 202},
		{"DELETE", "/api/b2bua/calls/c1", 404},
		{"POST", "/api/b2bua/calls/c1", 405},
	}
	for _, tt := range tests {
		if w := f.do(tt.method, tt.path, ""); w.Code != tt.code {
			t.Errorf("%s %s: %d, want %d", tt.method, tt.path, w.Code, tt.code)
		}
	}
	if got := decode[struct{ Calls []string }](t, f.do("GET", "/api/b2bua/calls", "")); len(got.Calls) != 0 {
		t.Errorf("calls after the hang-up: %v", got.Calls)
	}
}
