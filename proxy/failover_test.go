package proxy

import (
	"slices"
	"testing"

	"github.com/parley-sip/parley/transport"
)

// failoverFixture routes every INVITE to three gateways as a dial plan
// does: ordered alternatives, reached at phoneAddr(0..2).
func failoverFixture(t *testing.T, cfg Config, down ...int) (*fixture, *fakeServerTx) {
	t.Helper()
	plan := StageFunc{StageName: "dialplan", Fn: func(r *Request, next func()) {
		for i := range 3 {
			r.AddTarget(Target{URI: "sip:+4930123@gw" + string(rune('a'+i)) + ".example", Q: 1000 - i,
				Dest: target(transport.UDP, phoneAddr(i)), Failover: true})
		}
		next()
	}}
	stages, err := Insert(DefaultStages(), "location", plan)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Stages = stages
	f := newFixture(t, cfg)
	for _, i := range down {
		f.txs.fail[ap(phoneAddr(i))] = true
	}
	return f, f.serve(req(t, "invite.sip"))
}

// TestOrderedFailover: a dial plan's gateways are tried one at a time, even in
// parallel forking mode; the next only after a 5xx, a 408 or a
// transport error, and a 4xx or 6xx ends the search.
func TestOrderedFailover(t *testing.T) {
	parallel := defaultConfig()
	parallel.Fork = ForkParallel
	tests := []struct {
		name     string
		codes    []int // answers of gateways 0, 1, … in turn
		tried    int
		upstream []string
	}{
		{"503 then 200", []int{503, 200}, 2, []string{"200 OK"}},
		{"500 and 408 then 200", []int{500, 408, 200}, 3, []string{"200 OK"}},
		{"502 then 486", []int{502, 486}, 2, []string{"486 Busy Here"}},
		{"404 ends the search", []int{404}, 1, []string{"404 Not Found"}},
		{"603 ends the search", []int{603}, 1, []string{"603 Decline"}},
		{"all fail with 5xx", []int{503, 502, 500}, 3, []string{"500 Server Internal Error"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, tx := failoverFixture(t, parallel)
			for i, code := range tc.codes {
				if n := len(f.txs.all("INVITE")); n != i+1 {
					t.Fatalf("%d INVITEs sent before gateway %d answered, want %d (one at a time)", n, i, i+1)
				}
				f.branchOf(i, "INVITE").deliver(t, code, "gw")
			}
			if n := len(f.txs.all("INVITE")); n != tc.tried {
				t.Errorf("%d gateways tried, want %d", n, tc.tried)
			}
			if got := tx.statuses(); !slices.Equal(got, tc.upstream) {
				t.Errorf("upstream = %q, want %q", got, tc.upstream)
			}
		})
	}
	t.Run("transport error tries the next", func(t *testing.T) {
		f, tx := failoverFixture(t, defaultConfig(), 0)
		f.branchOf(1, "INVITE").deliver(t, 200, "gw")
		if got := tx.statuses(); !slices.Equal(got, []string{"200 OK"}) {
			t.Errorf("upstream = %q, want [200 OK]", got)
		}
	})
}
