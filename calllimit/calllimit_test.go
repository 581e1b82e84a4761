package calllimit

import (
	"strings"
	"sync"
	"testing"
	"time"
)

func TestAdmit(t *testing.T) {
	alice := Keys{Caller: "alice@example.com", Callee: "bob@example.com", CallerDomain: "example.com", CalleeDomain: "example.com"}
	carol := Keys{Caller: "carol@example.com", Callee: "bob@example.com", CallerDomain: "example.com", CalleeDomain: "example.com"}
	dave := Keys{Caller: "dave@example.com", Callee: "+15551234", CallerDomain: "example.com", Trunk: "provider"}
	erin := Keys{Caller: "erin@other.org", Callee: "+15559876", CallerDomain: "other.org", Trunk: "Provider"}
	type step struct {
		keys    Keys
		release int // index of an earlier admitted call to release first; -1 none
		code    int // 0 admitted
		reason  string
		retry   int
	}
	tests := []struct {
		name   string
		limits Limits
		steps  []step
	}{
		{"no limits", Limits{}, []step{{alice, -1, 0, "", 0}, {alice, -1, 0, "", 0}, {alice, -1, 0, "", 0}}},
		{"callee busy at its user limit", Limits{PerUser: 1}, []step{
			{alice, -1, 0, "", 0},
			{carol, -1, 486, "Callee Call Limit Reached", 0},
		}},
		{"caller at its limit is named first", Limits{PerUser: 1}, []step{
			{alice, -1, 0, "", 0},
			{alice, -1, 486, "Caller Call Limit Reached", 0},
		}},
		{"a released slot is free again", Limits{PerUser: 1}, []step{
			{alice, -1, 0, "", 0},
			{carol, 0, 0, "", 0},
		}},
		{"domain limit counts a call inside one domain once", Limits{PerDomain: 2, RetryAfter: 30 * time.Second}, []step{
			{alice, -1, 0, "", 0},
			{carol, -1, 0, "", 0},
			{dave, -1, 503, "Domain Call Limit Reached", 30},
		}},
		{"per-name override beats the default", Limits{PerUser: 1, Users: map[string]int{"bob@EXAMPLE.com": 2}}, []step{
			{alice, -1, 0, "", 0},
			{carol, -1, 0, "", 0},
		}},
		{"override of 0 lifts the limit", Limits{PerDomain: 1, Domains: map[string]int{"example.com": 0}}, []step{
			{alice, -1, 0, "", 0},
			{carol, -1, 0, "", 0},
		}},
		{"trunk names fold case; Retry-After at least 1 s", Limits{Trunks: map[string]int{"PROVIDER": 1}}, []step{
			{dave, -1, 0, "", 0},
			{erin, -1, 503, "Trunk Call Limit Reached", 1},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lim := New(tt.limits)
			var calls []*Call
			for i, s := range tt.steps {
				if s.release >= 0 {
					calls[s.release].Release()
				}
				c, r := lim.Admit(s.keys)
				switch {
				case s.code == 0 && r != nil:
					t.Fatalf("step %d: refused: %v", i, r)
				case s.code != 0 && r == nil:
					t.Fatalf("step %d: admitted, want %d", i, s.code)
				case r != nil && (r.Code != s.code || r.Reason != s.reason || r.RetryAfter != s.retry):
					t.Fatalf("step %d: %d %q retry %d, want %d %q retry %d", i, r.Code, r.Reason, r.RetryAfter, s.code, s.reason, s.retry)
				}
				calls = append(calls, c)
			}
		})
	}
}

// TestRefusalTakesNothing checks that a refused call leaves every counter
// as it was, including those it was admitted to before the full one.
func TestRefusalTakesNothing(t *testing.T) {
	lim := New(Limits{PerTrunk: 1})
	first, r := lim.Admit(Keys{Caller: "a@x", CallerDomain: "x", Trunk: "t"})
	if r != nil {
		t.Fatal(r)
	}
	if _, r := lim.Admit(Keys{Caller: "b@x", CallerDomain: "x", Trunk: "t"}); r == nil {
		t.Fatal("second call on a full trunk admitted")
	}
	if n := lim.Active(Caller, "b@x"); n != 0 {
		t.Fatalf("refused caller holds %d", n)
	}
	if n := lim.Active(Domain, "X"); n != 1 {
		t.Fatalf("domain counts %d, want 1", n)
	}
	first.Release()
	for _, k := range []struct {
		kind Kind
		name string
	}{{Caller, "a@x"}, {Domain, "x"}, {Trunk, "t"}} {
		if n := lim.Active(k.kind, k.name); n != 0 {
			t.Errorf("%v %s: %d after release", k.kind, k.name, n)
		}
	}
}

func TestReleaseOnce(t *testing.T) {
	lim := New(Limits{PerUser: 2})
	k := Keys{Caller: "a@x", Callee: "b@x"}
	c1, _ := lim.Admit(k)
	c2, _ := lim.Admit(k)
	c1.Release()
	c1.Release() // a BYE and a timeout both reporting the end
	if n := lim.Active(Callee, "b@x"); n != 1 {
		t.Fatalf("b@x counts %d, want 1: a second Release gave c2's slot away", n)
	}
	c2.Release()
	var nilCall *Call
	nilCall.Release()
	if n := lim.Active(Caller, "a@x"); n != 0 {
		t.Fatalf("a@x counts %d", n)
	}
}

func TestSetLimitsKeepsCalls(t *testing.T) {
	lim := New(Limits{PerUser: 3})
	k := Keys{Caller: "a@x"}
	for i := 0; i < 3; i++ {
		if _, r := lim.Admit(k); r != nil {
			t.Fatal(r)
		}
	}
	lim.SetLimits(Limits{PerUser: 2})
	if _, r := lim.Admit(k); r == nil || r.Max != 2 {
		t.Fatalf("lowered limit: %v", r)
	}
	if n := lim.Active(Caller, "a@x"); n != 3 {
		t.Fatalf("calls in progress lost on reload: %d", n)
	}
}

// TestConcurrent admits and releases from many goroutines; the count
// never passes the maximum and ends at zero. Run with -race.
func TestConcurrent(t *testing.T) {
	const limit, workers, rounds = 5, 16, 500
	lim := New(Limits{PerTrunk: limit})
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		peak int
	)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < rounds; i++ {
				c, r := lim.Admit(Keys{Caller: "u@x", Trunk: "t"})
				if r != nil {
					continue
				}
				n := lim.Active(Trunk, "t")
				mu.Lock()
				peak = max(peak, n)
				mu.Unlock()
				c.Release()
				c.Release()
			}
		}()
	}
	wg.Wait()
	if peak > limit {
		t.Fatalf("peak %d over the limit %d", peak, limit)
	}
	if n := lim.Active(Trunk, "t"); n != 0 {
		t.Fatalf("%d left after every call ended", n)
	}
}

func BenchmarkAdmitRelease(b *testing.B) {
	lim := New(Limits{PerUser: 10, PerDomain: 1000, PerTrunk: 100})
	k := Keys{Caller: "alice@example.com", Callee: "+15551234", CallerDomain: "example.com", Trunk: "provider"}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c, r := lim.Admit(k)
			if r == nil {
				c.Release()
			}
		}
	})
}

func BenchmarkAdmitReleaseSerial(b *testing.B) {
	lim := New(Limits{PerUser: 10, PerDomain: 1000, PerTrunk: 100})
	k := Keys{Caller: "alice@example.com", Callee: "+15551234", CallerDomain: "example.com", Trunk: "provider"}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		c, r := lim.Admit(k)
		if r == nil {
			c.Release()
		}
	}
}

// TestDropParty: a party that leaves a call gives back its own slots
// and nothing the party who stays still needs (a shared domain, the
// trunk); dropping twice, or after Release, gives nothing more.
func TestDropParty(t *testing.T) {
	tests := []struct {
		name   string
		keys   Keys
		callee bool
		want   map[string]int // "kind name" -> count after the drop
	}{
		{"callee of the same domain", Keys{Caller: "a@x", Callee: "b@x", CallerDomain: "x", CalleeDomain: "x"}, true,
			map[string]int{"caller a@x": 1, "callee b@x": 0, "domain x": 1}},
		{"callee of another domain", Keys{Caller: "a@x", Callee: "b@y", CallerDomain: "x", CalleeDomain: "y"}, true,
			map[string]int{"caller a@x": 1, "callee b@y": 0, "domain x": 1, "domain y": 0}},
		{"caller through a trunk", Keys{Caller: "a@x", CallerDomain: "x", Trunk: "provider"}, false,
			map[string]int{"caller a@x": 0, "domain x": 0, "trunk provider": 1}},
	}
	kinds := map[string]Kind{"caller": Caller, "callee": Callee, "domain": Domain, "trunk": Trunk}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lim := New(Limits{})
			c, _ := lim.Admit(tt.keys)
			c.DropParty(tt.callee)
			c.DropParty(tt.callee)
			for k, want := range tt.want {
				kind, name, _ := strings.Cut(k, " ")
				if n := lim.Active(kinds[kind], name); n != want {
					t.Errorf("%s counts %d, want %d", k, n, want)
				}
			}
			c.Release()
			c.DropParty(!tt.callee)
			for k := range tt.want {
				kind, name, _ := strings.Cut(k, " ")
				if n := lim.Active(kinds[kind], name); n != 0 {
					t.Errorf("after Release %s counts %d", k, n)
				}
			}
		})
	}
}

// TestMoveTrunk: a call moved to the next gateway's trunk counts against
// that trunk alone; refused, it keeps the slot it held.
func TestMoveTrunk(t *testing.T) {
	lim := New(Limits{PerTrunk: 1})
	first, refused := lim.MoveTrunk(nil, "provider")
	if refused != nil {
		t.Fatalf("first trunk refused: %+v", refused)
	}
	if _, refused := lim.Admit(Keys{Trunk: "provider"}); refused == nil {
		t.Fatal("provider's one slot is not held")
	}
	moved, refused := lim.MoveTrunk(first, "backup")
	if refused != nil {
		t.Fatalf("backup refused: %+v", refused)
	}
	other, refused := lim.Admit(Keys{Trunk: "provider"})
	if refused != nil {
		t.Fatal("provider's slot was not given back after the move")
	}
	kept, refused := lim.MoveTrunk(moved, "provider")
	if refused == nil || kept != moved {
		t.Fatalf("move to a full trunk: got %v, %+v; want the backup slot kept and a refusal", kept, refused)
	}
	if _, refused := lim.Admit(Keys{Trunk: "backup"}); refused == nil {
		t.Fatal("the refused move gave back the backup slot")
	}
	other.Release()
	kept.Release()
}
