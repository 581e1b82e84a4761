package observe

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestTransactionBoundsScrape: the bound counters appear under their
// names only when the source is set.
func TestTransactionBoundsScrape(t *testing.T) {
	m := newMetrics(Sources{TransactionBounds: func() TransactionBounds {
		return TransactionBounds{Rejected: 17, InFlight: 4, Lingering: 250, LingerBytes: 1 << 20}
	}}, func() (int, int) { return 0, 0 })
	want := `
# HELP parley_transactions_rejected_total Requests answered 503 with Retry-After because transaction.max_in_flight, transaction.max_transactions or the live heap's share of limits.max_memory was reached.
# TYPE parley_transactions_rejected_total counter
parley_transactions_rejected_total 17
# HELP parley_transactions_in_flight Server and client transactions still without a final response: what transaction.max_in_flight bounds.
# TYPE parley_transactions_in_flight gauge
parley_transactions_in_flight 4
# HELP parley_transactions_lingering Completed transactions kept off the Go heap until Timer J or L to absorb retransmissions (counted in parley_transactions_active too).
# TYPE parley_transactions_lingering gauge
parley_transactions_lingering 250
# HELP parley_transactions_linger_bytes Memory held by the lingering transactions' store.
# TYPE parley_transactions_linger_bytes gauge
parley_transactions_linger_bytes 1.048576e+06
`
	names := []string{"parley_transactions_rejected_total", "parley_transactions_in_flight",
		"parley_transactions_lingering", "parley_transactions_linger_bytes"}
	if err := testutil.GatherAndCompare(m.reg, strings.NewReader(want), names...); err != nil {
		t.Fatal(err)
	}
	none := newMetrics(Sources{}, func() (int, int) { return 0, 0 })
	if n, err := testutil.GatherAndCount(none.reg, names...); err != nil || n != 0 {
		t.Fatalf("without the source: %d series, %v", n, err)
	}
}
