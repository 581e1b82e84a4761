package auth_test

import (
	"context"
	"testing"

	"github.com/parley-sip/parley/auth"
	"github.com/parley-sip/parley/sip"
)

// BenchmarkVerify is one authenticated REGISTER's verification: credentials
// found and parsed, HA1 looked up, the digest computed and compared, the
// nonce and its nc checked. Each request carries the next nc, as a phone
// sends; a fresh nonce every 1024 requests keeps the replay table small.
func BenchmarkVerify(b *testing.B) {
	for _, alg := range []string{auth.MD5, auth.SHA256} {
		b.Run(alg, func(b *testing.B) {
			t := &testing.T{}
			a, _ := setup(t)
			reqs := benchRequests(t, a, alg)
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if i > 0 && i%len(reqs) == 0 {
					b.StopTimer()
					reqs = benchRequests(t, a, alg)
					b.StartTimer()
				}
				if res := a.Verify(ctx, reqs[i%len(reqs)], realm, false, phone); res.Outcome != auth.OK {
					b.Fatalf("outcome %v", res.Outcome)
				}
			}
		})
	}
}

// benchRequests answers one challenge with nc 1 to 1024.
func benchRequests(t *testing.T, a *auth.Authenticator, alg string) []*sip.Message {
	ch := challengeFor(t, a, request(t, "REGISTER", "sip:example.com"), false, alg)
	reqs := make([]*sip.Message, 1024)
	for i := range reqs {
		reqs[i] = request(t, "REGISTER", "sip:example.com",
			"Authorization", answer(ch, "REGISTER", "sip:example.com", "alice", "secret", "0a4f113b", i+1))
	}
	return reqs
}

// TestVerifyAllocatesNothing holds the hot path to what BenchmarkVerify
// measured: a cached subscriber's credentials are checked without
// allocating, whichever algorithm.
func TestVerifyAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	for _, alg := range []string{auth.MD5, auth.SHA256} {
		a, _ := setup(t)
		reqs := benchRequests(t, a, alg)
		a.Verify(context.Background(), reqs[0], realm, false, phone) // the nonce's first use keeps a copy
		i := 1
		allocs := testing.AllocsPerRun(100, func() {
			if res := a.Verify(context.Background(), reqs[i], realm, false, phone); res.Outcome != auth.OK {
				t.Fatalf("%s: outcome %v", alg, res.Outcome)
			}
			i++
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations per Verify, want 0", alg, allocs)
		}
	}
}
