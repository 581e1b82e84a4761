package observe

import "github.com/prometheus/client_golang/prometheus"

// TransactionBounds are the transaction layer's counters behind its
// bounds (transaction.max_in_flight and max_transactions).
type TransactionBounds struct {
	// Rejected counts requests answered 503 past either bound.
	Rejected uint64
	// InFlight counts transactions without a final response yet.
	InFlight int64
	// Lingering counts completed transactions kept off the Go heap to
	// absorb retransmissions, and LingerBytes the memory they hold.
	Lingering, LingerBytes int64
}

var (
	descRejected = prometheus.NewDesc("parley_transactions_rejected_total",
		"Requests answered 503 with Retry-After because transaction.max_in_flight, transaction.max_transactions or the live heap's share of limits.max_memory was reached.", nil, nil)
	descInFlight = prometheus.NewDesc("parley_transactions_in_flight",
		"Server and client transactions still without a final response: what transaction.max_in_flight bounds.", nil, nil)
	descLingering = prometheus.NewDesc("parley_transactions_lingering",
		"Completed transactions kept off the Go heap until Timer J or L to absorb retransmissions (counted in parley_transactions_active too).", nil, nil)
	descLingerBytes = prometheus.NewDesc("parley_transactions_linger_bytes",
		"Memory held by the lingering transactions' store.", nil, nil)
)

// boundsCollector turns TransactionBounds into series when scraped.
type boundsCollector struct{ read func() TransactionBounds }

// Describe implements prometheus.Collector.
func (c boundsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRejected, descInFlight, descLingering, descLingerBytes} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c boundsCollector) Collect(ch chan<- prometheus.Metric) {
	b := c.read()
	ch <- prometheus.MustNewConstMetric(descRejected, prometheus.CounterValue, float64(b.Rejected))
	ch <- prometheus.MustNewConstMetric(descInFlight, prometheus.GaugeValue, float64(b.InFlight))
	ch <- prometheus.MustNewConstMetric(descLingering, prometheus.GaugeValue, float64(b.Lingering))
	ch <- prometheus.MustNewConstMetric(descLingerBytes, prometheus.GaugeValue, float64(b.LingerBytes))
}
