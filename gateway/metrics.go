package gateway

import "github.com/prometheus/client_golang/prometheus"

var (
	descUp = prometheus.NewDesc("parley_gateway_up",
		"1 while the gateway is in service (answering pings, or not pinged), 0 while it is skipped.", []string{"gateway"}, nil)
	descPings = prometheus.NewDesc("parley_gateway_pings_total",
		"OPTIONS pings sent to the gateway, by result (ok, failed).", []string{"gateway", "result"}, nil)
)

// Describe implements prometheus.Collector.
func (s *Set) Describe(ch chan<- *prometheus.Desc) {
	ch <- descUp
	ch <- descPings
}

// Collect implements prometheus.Collector.
func (s *Set) Collect(ch chan<- prometheus.Metric) {
	for _, st := range s.States() {
		v := 0.0
		if st.Up {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, v, st.Name)
		ch <- prometheus.MustNewConstMetric(descPings, prometheus.CounterValue, float64(st.Pings-st.Failed), st.Name, "ok")
		ch <- prometheus.MustNewConstMetric(descPings, prometheus.CounterValue, float64(st.Failed), st.Name, "failed")
	}
}
