package guard

import (
	"bytes"
	"log/slog"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-sip/parley/clock"
)

// newFakeClock is the tests' fake time.
func newFakeClock() *clock.Fake { return clock.NewFake(time.Unix(1_700_000_000, 0)) }

var (
	alice = netip.MustParseAddr("192.0.2.1")
	bob   = netip.MustParseAddr("192.0.2.2")
)

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// admitN sends n messages from src at the current time and counts the
// admitted ones.
func admitN(g *Guard, src netip.Addr, n int) int {
	ok := 0
	for range n {
		if g.Admit(src) {
			ok++
		}
	}
	return ok
}

func TestZeroConfigAdmitsEverything(t *testing.T) {
	g := New(Config{Logger: quiet()})
	if got := admitN(g, alice, 10000); got != 10000 {
		t.Fatalf("admitted %d of 10000 with rate limiting off", got)
	}
	if st := g.Stats(); st.Sources != 0 {
		t.Errorf("tracked %d sources with rate limiting off", st.Sources)
	}
}

// TestTokenBucket: a burst, then the rate, per source.
func TestTokenBucket(t *testing.T) {
	clk := newFakeClock()
	g := New(Config{Rate: 10, Burst: 20, Now: clk.Now, Logger: quiet()})
	if got := admitN(g, alice, 50); got != 20 {
		t.Fatalf("burst: admitted %d, want 20", got)
	}
	if got := admitN(g, bob, 5); got != 5 {
		t.Fatalf("another source is limited by alice's flood: %d of 5", got)
	}
	clk.Advance(500 * time.Millisecond)
	if got := admitN(g, alice, 50); got != 5 {
		t.Fatalf("after 0.5 s at 10/s: admitted %d, want 5", got)
	}
	clk.Advance(time.Hour)
	if got := admitN(g, alice, 50); got != 20 {
		t.Fatalf("the bucket holds no more than the burst: admitted %d, want 20", got)
	}
	st := g.Stats()
	if st.Admitted != 50 || st.Limited != 105 || st.Sources != 2 || st.Bans != 0 {
		t.Errorf("stats %+v", st)
	}
}

// TestBanAfterSustainedFlood: a source over its rate for BanAfter is
// banned for BanFor, then starts afresh.
func TestBanAfterSustainedFlood(t *testing.T) {
	clk := newFakeClock()
	var logs bytes.Buffer
	g := New(Config{Rate: 10, Burst: 10, BanAfter: 3 * time.Second, BanFor: time.Minute,
		Now: clk.Now, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	// 100 messages a second, ten times the rate, in 10 ms steps.
	for step := range 500 {
		admitN(g, alice, 1)
		clk.Advance(10 * time.Millisecond)
		if st := g.Stats(); st.Bans > 0 {
			if elapsed := time.Duration(step) * 10 * time.Millisecond; elapsed < 3*time.Second {
				t.Fatalf("banned after %v, want 3 s over the rate", elapsed)
			}
			break
		}
	}
	st := g.Stats()
	if st.Bans != 1 || st.BannedNow != 1 {
		t.Fatalf("no ban after 3 s at ten times the rate: %+v", st)
	}
	if !strings.Contains(logs.String(), `msg="source banned" source=192.0.2.1 reason="rate limit" for=1m0s`) {
		t.Errorf("ban not logged with source and duration: %s", logs.String())
	}
	clk.Advance(59 * time.Second)
	if got := admitN(g, alice, 5); got != 0 {
		t.Fatalf("banned source admitted %d", got)
	}
	g.LogEndedBans()
	if strings.Contains(logs.String(), "ban ended") {
		t.Fatalf("ban logged as ended while in force: %s", logs.String())
	}
	clk.Advance(2 * time.Second)
	g.LogEndedBans()
	g.LogEndedBans()
	if n := strings.Count(logs.String(), `msg="source ban ended" source=192.0.2.1 reason="rate limit"`); n != 1 {
		t.Errorf("end of the ban logged %d times, want once: %s", n, logs.String())
	}
	if got := admitN(g, alice, 5); got != 5 {
		t.Fatalf("ban over: admitted %d of 5", got)
	}
	if st := g.Stats(); st.BannedNow != 0 || st.Banned != 5 {
		t.Errorf("after the ban: %+v", st)
	}
}

// TestBurstsNeverBan: a source that goes over now and then, with calm
// seconds between, is limited but never banned.
func TestBurstsNeverBan(t *testing.T) {
	clk := newFakeClock()
	g := New(Config{Rate: 10, Burst: 10, BanAfter: 2 * time.Second, BanFor: time.Minute, Now: clk.Now, Logger: quiet()})
	for range 20 {
		admitN(g, alice, 30) // 20 over
		clk.Advance(1500 * time.Millisecond)
	}
	if st := g.Stats(); st.Bans != 0 || st.Limited == 0 {
		t.Errorf("bursts with calm gaps: %+v, want limited and not banned", st)
	}
}

func TestBanAtOnce(t *testing.T) {
	clk := newFakeClock()
	g := New(Config{Rate: 1, Burst: 1, BanFor: time.Minute, Now: clk.Now, Logger: quiet()})
	admitN(g, alice, 2)
	if st := g.Stats(); st.Bans != 1 {
		t.Errorf("BanAfter 0 does not ban at the first message over: %+v", st)
	}
}

func TestBanForZeroOnlyLimits(t *testing.T) {
	clk := newFakeClock()
	g := New(Config{Rate: 1, Burst: 1, Now: clk.Now, Logger: quiet()})
	for range 100 {
		admitN(g, alice, 10)
		clk.Advance(100 * time.Millisecond)
	}
	if st := g.Stats(); st.Bans != 0 {
		t.Errorf("BanFor 0 banned: %+v", st)
	}
}

// TestTrustedBypass: trusted networks are never limited and never
// tracked; IPv4-mapped spellings match too.
func TestTrustedBypass(t *testing.T) {
	g := New(Config{Rate: 1, Burst: 1, BanFor: time.Minute, Logger: quiet(),
		Trusted: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/28"), netip.MustParsePrefix("2001:db8::/32")}})
	for _, a := range []string{"192.0.2.1", "::ffff:192.0.2.9", "2001:db8::77"} {
		src := netip.MustParseAddr(a)
		if got := admitN(g, src, 100); got != 100 {
			t.Errorf("trusted %s: admitted %d of 100", a, got)
		}
		if !g.Trusted(src) {
			t.Errorf("Trusted(%s) = false", a)
		}
	}
	other := netip.MustParseAddr("192.0.2.16")
	if got := admitN(g, other, 5); got != 1 || g.Trusted(other) {
		t.Errorf("192.0.2.16 is outside 192.0.2.0/28: admitted %d of 5", got)
	}
	if st := g.Stats(); st.Trusted != 300 || st.Sources != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestSourceKey(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.7":                 "192.0.2.7",
		"::ffff:192.0.2.7":          "192.0.2.7",
		"2001:db8:1:2:3:4:5:6":      "2001:db8:1:2::",
		"2001:db8:1:2::":            "2001:db8:1:2::",
		"fe80::1%eth0":              "fe80::",
		"2001:db8:1:3:ffff:ffff::1": "2001:db8:1:3::",
	} {
		if got := SourceKey(netip.MustParseAddr(in)); got != netip.MustParseAddr(want) {
			t.Errorf("SourceKey(%s) = %s, want %s", in, got, want)
		}
	}
}

// TestIPv6ByPrefix: every address of one /64 shares one bucket.
func TestIPv6ByPrefix(t *testing.T) {
	g := New(Config{Rate: 1, Burst: 3, Logger: quiet()})
	ok := 0
	for i := range 10 {
		a := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(i)})
		if g.Admit(a) {
			ok++
		}
	}
	if ok != 3 {
		t.Errorf("ten addresses of one /64: admitted %d, want the burst of 3", ok)
	}
}

// TestTableIsBounded: a flood from fresh addresses never holds more than
// MaxSources, and a ban survives it.
func TestTableIsBounded(t *testing.T) {
	clk := newFakeClock()
	g := New(Config{Rate: 1, Burst: 1, BanFor: time.Hour, MaxSources: 64 * shards, Now: clk.Now, Logger: quiet()})
	admitN(g, alice, 2) // banned
	for i := range 100_000 {
		g.Admit(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}))
		if i%1000 == 0 {
			clk.Advance(time.Millisecond)
		}
	}
	st := g.Stats()
	if st.Sources > 64*shards || st.Evicted < 100_000-64*shards {
		t.Errorf("table not bounded: %+v", st)
	}
	if g.Admit(alice) {
		t.Errorf("the flood of fresh addresses washed out alice's ban")
	}
}

func TestReconfigure(t *testing.T) {
	g := New(Config{Rate: 1, Burst: 1, Logger: quiet()})
	if admitN(g, alice, 5) != 1 {
		t.Fatal("limit not applied")
	}
	g.Reconfigure(Config{Trusted: []netip.Prefix{netip.MustParsePrefix("192.0.2.1/32")}})
	if admitN(g, alice, 5) != 5 {
		t.Error("a reload that trusts alice did not apply")
	}
	g.Reconfigure(Config{})
	if admitN(g, bob, 5) != 5 {
		t.Error("a reload that turns limits off did not apply")
	}
}

// scanners is config/defaults.yaml's security.drop_user_agents.
var scanners = []string{"friendly-scanner", "sipvicious", "sipcli", "VaxSIPUserAgent",
	"pplsip", "sundayddr", "iWar", "sip-scan", "SIPScan"}

func TestDropAgent(t *testing.T) {
	g := New(Config{DropUserAgents: scanners, Logger: quiet(),
		Trusted: []netip.Prefix{netip.MustParsePrefix("192.0.2.2/32")}})
	for ua, want := range map[string]bool{
		"friendly-scanner":     true,
		"Friendly-Scanner 1.0": true,
		"sipvicious/0.3.3":     true,
		"VaxSIPUserAgent/3.1":  true,
		"SIPScan":              true,
		"sip-scan 2":           true,
		"Linphone/5.2":         false,
		"baresip v1.0":         false,
		"":                     false,
		"friendly":             false,
	} {
		if got := g.DropAgent(alice, ua); got != want {
			t.Errorf("DropAgent(%q) = %v, want %v", ua, got, want)
		}
	}
	if g.DropAgent(bob, "friendly-scanner") {
		t.Error("a trusted source's request dropped as a scanner's")
	}
	if st := g.Stats(); st.ScannerDrops != 6 {
		t.Errorf("ScannerDrops %d, want 6", st.ScannerDrops)
	}
	if New(Config{}).DropAgent(alice, "friendly-scanner") {
		t.Error("an empty list drops a request")
	}
}

// TestConcurrentAdmit runs Admit from several goroutines, for the race
// detector, and checks the counters add up.
func TestConcurrentAdmit(t *testing.T) {
	g := New(Config{Rate: 1000, Burst: 1000, BanAfter: time.Second, BanFor: time.Second, Logger: quiet()})
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 5000 {
				g.Admit(netip.AddrFrom4([4]byte{10, 0, byte(w), byte(i % 7)}))
			}
		}()
	}
	wg.Wait()
	st := g.Stats()
	if total := st.Admitted + st.Limited + st.Banned; total != 40000 {
		t.Errorf("admitted+limited+banned = %d, want 40000: %+v", total, st)
	}
}

func BenchmarkAdmit(b *testing.B) {
	g := New(Config{Rate: 1 << 30, Burst: 1 << 30, Logger: quiet()})
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			g.Admit(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}))
			i++
		}
	})
}

func BenchmarkAdmitTrusted(b *testing.B) {
	g := New(Config{Rate: 10, Trusted: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, Logger: quiet()})
	src := netip.MustParseAddr("10.1.2.3")
	for b.Loop() {
		g.Admit(src)
	}
}

// TestMemoryPerSource checks the figure the config reference gives for
// security.max_sources: a full table of 100 000 sources costs about
// 150 bytes each, and never more than the table's cap.
func TestMemoryPerSource(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates a full table")
	}
	const n = 100_000
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	g := New(Config{Rate: 10, Burst: 10, MaxSources: n, Logger: quiet()})
	for i := range 2 * n {
		g.Admit(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}))
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	st := g.Stats()
	per := float64(after.HeapAlloc-before.HeapAlloc) / float64(st.Sources)
	t.Logf("%d sources tracked (%d evicted): %.0f bytes each", st.Sources, st.Evicted, per)
	if st.Sources > n || per > 250 {
		t.Errorf("%d sources at %.0f bytes each, want at most %d at about 150", st.Sources, per, n)
	}
	runtime.KeepAlive(g)
}
