package upstream

import (
	"context"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Clients are every account's client: one Start, one Statuses, and the
// metrics of them all.
type Clients []*Client

// Start starts every client.
func (cs Clients) Start(ctx context.Context) {
	for _, c := range cs {
		c.Start(ctx)
	}
}

// Unregister removes every registration in force, at once; ctx bounds
// the wait.
func (cs Clients) Unregister(ctx context.Context) {
	var wg sync.WaitGroup
	for _, c := range cs {
		wg.Go(func() { _ = c.Unregister(ctx) })
	}
	wg.Wait()
}

// Statuses returns every account's state, in config order.
func (cs Clients) Statuses() []Status {
	out := make([]Status, 0, len(cs))
	for _, c := range cs {
		out = append(out, c.Status())
	}
	return out
}

var (
	descRegistered = prometheus.NewDesc("parley_trunk_registered",
		"1 while Parley's registration to the trunk's provider is in force, else 0.", []string{"trunk"}, nil)
	descFailures = prometheus.NewDesc("parley_trunk_registration_failures",
		"Failed registration attempts in a row (0 once registered).", []string{"trunk"}, nil)
)

// Describe implements prometheus.Collector.
func (cs Clients) Describe(ch chan<- *prometheus.Desc) {
	ch <- descRegistered
	ch <- descFailures
}

// Collect implements prometheus.Collector.
func (cs Clients) Collect(ch chan<- prometheus.Metric) {
	for _, st := range cs.Statuses() {
		v := 0.0
		if st.State == Registered {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(descRegistered, prometheus.GaugeValue, v, st.Name)
		ch <- prometheus.MustNewConstMetric(descFailures, prometheus.GaugeValue, float64(st.Failures), st.Name)
	}
}
