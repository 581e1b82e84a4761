package observe

import (
	"net/http"
	"sort"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Sources read the other layers' counters when /metrics is scraped, so
// that those layers keep their own cheap counters and need not know about
// Prometheus. Any of them may be nil, which leaves its metric out.
type Sources struct {
	// Transactions returns the live server and client transactions.
	Transactions func() (server, client int64)
	// Registrations returns the bindings held by the location store.
	Registrations func() int
	// Dropped returns messages dropped since start, by reason (malformed,
	// framing, ...).
	Dropped func() map[string]uint64
	// Connections returns the open connections by transport.
	Connections func() map[string]int
	// Auth returns failed authentications since start and the sources
	// blocked now for failing too often.
	Auth func() (failures uint64, blocked int)
	// CDR returns the call detail records committed since start and those
	// that failed to commit or were dropped.
	CDR func() (written, errors uint64)
	// CDRLeftToNode returns the calls a cluster node did not record
	// because they came from another node, which records them.
	CDRLeftToNode func() uint64
	// SubscriberCache returns the subscriber cache's lookups answered from
	// memory and from the database, and the subscribers and unknown users
	// it holds.
	SubscriberCache func() (hits, misses uint64, known, unknown int)
	// Stages returns the request stages' counters, in chain order.
	Stages func() []StageStats
	// TransactionBounds returns the counters behind the transaction
	// layer's bounds.
	TransactionBounds func() TransactionBounds
	// Presence returns the presence server's counters.
	Presence func() PresenceStats
	// Relays returns the B2BUA's relay times by kind of message (a
	// request's method, a response's class): requests and responses
	// passed from one leg to the other, from the arrival of the message
	// relayed to the kernel's taking the one that relays it.
	Relays func() map[string]Histogram
}

// Histogram is a latency histogram read from another layer: Buckets maps
// an upper bound in seconds to the count at most that long (cumulative),
// Count is every observation and Sum their total in seconds.
type Histogram struct {
	Buckets map[float64]uint64
	Count   uint64
	Sum     float64
}

// PresenceStats are the presence server's counters.
type PresenceStats struct {
	// Subscriptions are the subscriptions held now, by event package.
	Subscriptions map[string]int
	// NotifiesSent and NotifiesFailed count NOTIFYs answered 2xx and
	// answered otherwise or not at all, since start.
	NotifiesSent, NotifiesFailed uint64
	// PublishAccepted and PublishRefused count PUBLISHes answered 200 and
	// otherwise, since start.
	PublishAccepted, PublishRefused uint64
}

// StageStats are one request stage's counters since start.
type StageStats struct {
	Name string
	// Outcomes counts requests by how the stage let go of them (next,
	// answered, dropped, forwarded).
	Outcomes map[string]uint64
	// Buckets maps a latency bound in seconds to the requests the stage
	// kept at most that long (cumulative); Count is every request and
	// Sum their time in seconds.
	Buckets map[float64]uint64
	Count   uint64
	Sum     float64
}

// methods are the request methods counted by name; any other is counted
// as "other", so that junk methods cannot create series without bound.
var methods = [...]string{"INVITE", "ACK", "BYE", "CANCEL", "REGISTER", "OPTIONS", "PRACK",
	"SUBSCRIBE", "NOTIFY", "PUBLISH", "INFO", "REFER", "MESSAGE", "UPDATE", "other"}

const numMethods = len(methods)

func methodIndex(m string) int {
	for i, name := range methods[:numMethods-1] {
		if m == name {
			return i
		}
	}
	return numMethods - 1
}

var classes = [...]string{"1xx", "2xx", "3xx", "4xx", "5xx", "6xx"}

// Metrics are Parley's Prometheus metrics. Per-message counts are plain
// atomic counters that Capture bumps; a custom collector turns them into
// series only when scraped, which keeps the hot path to one atomic add.
type Metrics struct {
	requests  [2][numMethods]atomic.Uint64               // by direction, method
	responses [2][numMethods][len(classes)]atomic.Uint64 // by direction, CSeq method, class

	latency        prometheus.Histogram
	captureDropped atomic.Uint64
	calls          func() (setup, answered int)
	src            Sources
	reg            *prometheus.Registry
}

// Metric descriptions. Names follow parley_<subsystem>_<what>_<unit>.
var (
	descRequests = prometheus.NewDesc("parley_sip_requests_total",
		"SIP requests received and sent, by method.", []string{"direction", "method"}, nil)
	descResponses = prometheus.NewDesc("parley_sip_responses_total",
		"SIP responses received and sent, by the method they answer and status class.", []string{"direction", "method", "class"}, nil)
	descTransactions = prometheus.NewDesc("parley_transactions_active",
		"Live transactions, by kind (server or client).", []string{"kind"}, nil)
	descRegistrations = prometheus.NewDesc("parley_registrations_active",
		"Bindings held by the location store.", nil, nil)
	descCalls = prometheus.NewDesc("parley_calls_active",
		"Calls answered and not yet ended (2xx to BYE), as seen in the message stream.", nil, nil)
	descCallsSetup = prometheus.NewDesc("parley_calls_setup",
		"Calls being set up: INVITE sent on, not yet answered nor failed.", nil, nil)
	descAuthFailures = prometheus.NewDesc("parley_auth_failures_total",
		"Failed authentications: wrong password or unknown user.", nil, nil)
	descBlocked = prometheus.NewDesc("parley_blocked_sources",
		"Source addresses blocked now for failing authentication too often.", nil, nil)
	descCDRWritten = prometheus.NewDesc("parley_cdr_written_total",
		"Call detail records committed to the database.", nil, nil)
	descCDRErrors = prometheus.NewDesc("parley_cdr_write_errors_total",
		"Call detail records whose commit failed (each retry counts again) or that were dropped.", nil, nil)
	descCDRLeft = prometheus.NewDesc("parley_cdr_left_to_node_total",
		"Calls not recorded by this node because another cluster node relayed them here and records them.", nil, nil)
	descCacheLookups = prometheus.NewDesc("parley_subscriber_cache_lookups_total",
		"Subscriber lookups (digest checks, known-user tests), by result: hit (answered from memory) or miss (read from the database).", []string{"result"}, nil)
	descCacheEntries = prometheus.NewDesc("parley_subscriber_cache_entries",
		"Entries in the subscriber cache, by kind: known (subscribers) or unknown (names that are no subscriber).", []string{"kind"}, nil)
	descDropped = prometheus.NewDesc("parley_messages_dropped_total",
		"SIP messages dropped, by reason: malformed, framing or overflow (a stream cut off), send_failed, denied (rate limits, bans, filters).", []string{"reason"}, nil)
	descConnections = prometheus.NewDesc("parley_transport_connections",
		"Open connections, by transport.", []string{"proto"}, nil)
	descStageRequests = prometheus.NewDesc("parley_stage_requests_total",
		"Requests each stage of the request route let go of, by outcome: next (handed on), answered, dropped, forwarded.", []string{"stage", "outcome"}, nil)
	descStageDuration = prometheus.NewDesc("parley_stage_duration_seconds",
		"Time each stage of the request route kept a request, until it handed it on or let go of it.", []string{"stage"}, nil)
	descPresenceSubs = prometheus.NewDesc("parley_presence_subscriptions",
		"Subscriptions the notifier holds, by event package (presence, dialog, reg, message-summary).", []string{"event"}, nil)
	descPresenceNotifies = prometheus.NewDesc("parley_presence_notifies_total",
		"NOTIFYs the notifier sent, by result: sent (answered 2xx) or failed (another answer or none; each retry counts).", []string{"result"}, nil)
	descPresencePublications = prometheus.NewDesc("parley_presence_publications_total",
		"PUBLISHes of presence, by result: accepted (200) or refused (any other answer).", []string{"result"}, nil)
	descRelay = prometheus.NewDesc("parley_b2bua_relay_seconds",
		"B2BUA added latency: time from a message's arrival on one leg (the kernel's receive time over UDP, its read over TCP, TLS and WebSocket) to the kernel's taking the message that relays it on the other leg, by message: INVITE, ACK, BYE, other (requests), 1xx, 2xx, 3xx-6xx (responses). Only a message's first send counts.", []string{"message"}, nil)
	descCaptureDropped = prometheus.NewDesc("parley_capture_dropped_total",
		"Captured messages the observer's worker had no room for (not tracked for calls, export or the live stream).", nil, nil)
)

func newMetrics(src Sources, calls func() (setup, answered int)) *Metrics {
	m := &Metrics{src: src, calls: calls, reg: prometheus.NewRegistry()}
	m.latency = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "parley_forward_latency_seconds",
		Help:    "Time from forwarding a request to the first response received for it.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	})
	m.reg.MustRegister(m, m.latency,
		// The scheduler's metrics too: go_sched_latencies_seconds is how
		// long goroutines waited, runnable, for a processor, which tells a
		// relay's tail (parley_b2bua_relay_seconds) that is the machine's or
		// the collector's from one that is Parley's own work.
		collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(collectors.MetricsScheduler)),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if src.TransactionBounds != nil {
		m.reg.MustRegister(boundsCollector{src.TransactionBounds})
	}
	return m
}

// count records one message by its summary.
func (m *Metrics) count(dir Direction, s *Summary) {
	d := 0
	if dir == Sent {
		d = 1
	}
	if s.Status == 0 {
		m.requests[d][methodIndex(s.Method)].Add(1)
		return
	}
	if c := s.Status/100 - 1; c >= 0 && c < len(classes) {
		m.responses[d][methodIndex(s.CSeqMethod)][c].Add(1)
	}
}

// Handler serves the metrics in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Registry returns the registry the metrics live in, so that other
// packages can register metrics of their own next to them.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRequests, descResponses, descTransactions, descRegistrations,
		descCalls, descCallsSetup, descAuthFailures, descBlocked, descCDRWritten, descCDRErrors, descCDRLeft, descCacheLookups, descCacheEntries,
		descDropped, descConnections, descCaptureDropped, descStageRequests, descStageDuration,
		descPresenceSubs, descPresenceNotifies, descPresencePublications, descRelay} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	m.collectMessages(ch)
	m.collectSources(ch)
	setup, answered := m.calls()
	ch <- prometheus.MustNewConstMetric(descCalls, prometheus.GaugeValue, float64(answered))
	ch <- prometheus.MustNewConstMetric(descCallsSetup, prometheus.GaugeValue, float64(setup))
	ch <- prometheus.MustNewConstMetric(descCaptureDropped, prometheus.CounterValue, float64(m.captureDropped.Load()))
}

// collectMessages emits the per-message counters that are not zero: most
// method and class pairs never occur, and empty series only cost scrapes.
func (m *Metrics) collectMessages(ch chan<- prometheus.Metric) {
	for d, dir := range []Direction{Received, Sent} {
		for i, method := range methods {
			if n := m.requests[d][i].Load(); n > 0 {
				ch <- prometheus.MustNewConstMetric(descRequests, prometheus.CounterValue, float64(n), dir.String(), method)
			}
			for c, class := range classes {
				if n := m.responses[d][i][c].Load(); n > 0 {
					ch <- prometheus.MustNewConstMetric(descResponses, prometheus.CounterValue, float64(n), dir.String(), method, class)
				}
			}
		}
	}
}

func (m *Metrics) collectSources(ch chan<- prometheus.Metric) {
	s := m.src
	if s.Transactions != nil {
		server, client := s.Transactions()
		ch <- prometheus.MustNewConstMetric(descTransactions, prometheus.GaugeValue, float64(server), "server")
		ch <- prometheus.MustNewConstMetric(descTransactions, prometheus.GaugeValue, float64(client), "client")
	}
	if s.Registrations != nil {
		ch <- prometheus.MustNewConstMetric(descRegistrations, prometheus.GaugeValue, float64(s.Registrations()))
	}
	if s.Auth != nil {
		failures, blocked := s.Auth()
		ch <- prometheus.MustNewConstMetric(descAuthFailures, prometheus.CounterValue, float64(failures))
		ch <- prometheus.MustNewConstMetric(descBlocked, prometheus.GaugeValue, float64(blocked))
	}
	if s.CDR != nil {
		written, errs := s.CDR()
		ch <- prometheus.MustNewConstMetric(descCDRWritten, prometheus.CounterValue, float64(written))
		ch <- prometheus.MustNewConstMetric(descCDRErrors, prometheus.CounterValue, float64(errs))
	}
	if s.CDRLeftToNode != nil {
		ch <- prometheus.MustNewConstMetric(descCDRLeft, prometheus.CounterValue, float64(s.CDRLeftToNode()))
	}
	if s.SubscriberCache != nil {
		hits, misses, known, unknown := s.SubscriberCache()
		ch <- prometheus.MustNewConstMetric(descCacheLookups, prometheus.CounterValue, float64(hits), "hit")
		ch <- prometheus.MustNewConstMetric(descCacheLookups, prometheus.CounterValue, float64(misses), "miss")
		ch <- prometheus.MustNewConstMetric(descCacheEntries, prometheus.GaugeValue, float64(known), "known")
		ch <- prometheus.MustNewConstMetric(descCacheEntries, prometheus.GaugeValue, float64(unknown), "unknown")
	}
	if s.Dropped != nil {
		for _, k := range sortedKeys(s.Dropped()) {
			ch <- prometheus.MustNewConstMetric(descDropped, prometheus.CounterValue, float64(k.v), k.k)
		}
	}
	if s.Connections != nil {
		for proto, n := range s.Connections() {
			ch <- prometheus.MustNewConstMetric(descConnections, prometheus.GaugeValue, float64(n), proto)
		}
	}
	if s.Stages != nil {
		collectStages(ch, s.Stages())
	}
	if s.Presence != nil {
		collectPresence(ch, s.Presence())
	}
	if s.Relays != nil {
		for kind, h := range s.Relays() {
			ch <- prometheus.MustNewConstHistogram(descRelay, h.Count, h.Sum, h.Buckets, kind)
		}
	}
}

func collectPresence(ch chan<- prometheus.Metric, p PresenceStats) {
	for event, n := range p.Subscriptions {
		ch <- prometheus.MustNewConstMetric(descPresenceSubs, prometheus.GaugeValue, float64(n), event)
	}
	ch <- prometheus.MustNewConstMetric(descPresenceNotifies, prometheus.CounterValue, float64(p.NotifiesSent), "sent")
	ch <- prometheus.MustNewConstMetric(descPresenceNotifies, prometheus.CounterValue, float64(p.NotifiesFailed), "failed")
	ch <- prometheus.MustNewConstMetric(descPresencePublications, prometheus.CounterValue, float64(p.PublishAccepted), "accepted")
	ch <- prometheus.MustNewConstMetric(descPresencePublications, prometheus.CounterValue, float64(p.PublishRefused), "refused")
}

func collectStages(ch chan<- prometheus.Metric, stages []StageStats) {
	for _, st := range stages {
		for _, k := range sortedKeys(st.Outcomes) {
			ch <- prometheus.MustNewConstMetric(descStageRequests, prometheus.CounterValue, float64(k.v), st.Name, k.k)
		}
		ch <- prometheus.MustNewConstHistogram(descStageDuration, st.Count, st.Sum, st.Buckets, st.Name)
	}
}

type kv struct {
	k string
	v uint64
}

func sortedKeys(m map[string]uint64) []kv {
	out := make([]kv, 0, len(m))
	for k, v := range m {
		out = append(out, kv{k, v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].k < out[j].k })
	return out
}
