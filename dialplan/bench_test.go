package dialplan_test

import (
	"context"
	"testing"
)

// The dial plan runs once per initial request. Prefix routes need no
// regexp; a regex route costs what Go's regexp costs.
func BenchmarkRoute(b *testing.B) {
	plan := officePlan()
	for _, bc := range []struct{ name, ruri string }{
		{"prefix+e164", "sip:0301234567@example.com"},
		{"regex+replace", "sip:*201@example.com"},
		{"no-route", "sip:alice@example.com"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			m := invite(&testing.T{}, bc.ruri)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				plan.Route(ctx, m)
			}
		})
	}
}
