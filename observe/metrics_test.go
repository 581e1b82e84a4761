package observe

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/parley-sip/parley/clock"
)

// feed captures a call through the proxy as Parley sees it: each message
// once received and once sent, with Parley's own 100 Trying.
func feed(o *Observer, clk *clock.Fake) {
	capture := func(dir Direction, peer msg, d time.Duration) {
		clk.Advance(d)
		p := alice
		if dir == Sent {
			p = bob
		}
		o.Capture(dir, "udp", parley, p, []byte(peer.text()))
	}
	capture(Received, invite(), 0)
	capture(Sent, msg{status: 100, cseq: "INVITE", callID: "c1", branch: "z9hG4bK-0"}, time.Millisecond)
	capture(Sent, invite(), time.Millisecond)
	capture(Received, resp(180), 30*time.Millisecond) // 30 ms after forwarding
	capture(Sent, resp(180), time.Millisecond)
	capture(Received, resp(200), time.Second)
	capture(Sent, resp(200), time.Millisecond)
	capture(Received, bye(), time.Second)
	capture(Sent, bye(), time.Millisecond)
	capture(Received, byeResp(200), 2*time.Millisecond) // 2 ms
	capture(Sent, byeResp(200), time.Millisecond)
	capture(Received, msg{method: "FOO", callID: "junk"}, 0)
}

func TestMetricsScrape(t *testing.T) {
	clk := newClock()
	o := New(Config{CaptureMessages: 100, CaptureBytes: 1 << 20, Now: clk.Now, Sources: Sources{
		Transactions:    func() (int64, int64) { return 3, 2 },
		Registrations:   func() int { return 7 },
		Dropped:         func() map[string]uint64 { return map[string]uint64{"malformed": 4, "framing": 1} },
		Connections:     func() map[string]int { return map[string]int{"stream": 5} },
		Auth:            func() (uint64, int) { return 9, 1 },
		CDR:             func() (uint64, uint64) { return 12, 2 },
		CDRLeftToNode:   func() uint64 { return 3 },
		SubscriberCache: func() (uint64, uint64, int, int) { return 40, 3, 2, 1 },
	}})
	o.Start()
	defer o.Close()
	feed(o, clk)
	o.Flush()

	want := `
# HELP parley_sip_requests_total SIP requests received and sent, by method.
# TYPE parley_sip_requests_total counter
parley_sip_requests_total{direction="received",method="BYE"} 1
parley_sip_requests_total{direction="received",method="INVITE"} 1
parley_sip_requests_total{direction="received",method="other"} 1
parley_sip_requests_total{direction="sent",method="BYE"} 1
parley_sip_requests_total{direction="sent",method="INVITE"} 1
# HELP parley_sip_responses_total SIP responses received and sent, by the method they answer and status class.
# TYPE parley_sip_responses_total counter
parley_sip_responses_total{class="1xx",direction="received",method="INVITE"} 1
parley_sip_responses_total{class="1xx",direction="sent",method="INVITE"} 2
parley_sip_responses_total{class="2xx",direction="received",method="BYE"} 1
parley_sip_responses_total{class="2xx",direction="received",method="INVITE"} 1
parley_sip_responses_total{class="2xx",direction="sent",method="BYE"} 1
parley_sip_responses_total{class="2xx",direction="sent",method="INVITE"} 1
# HELP parley_transactions_active Live transactions, by kind (server or client).
# TYPE parley_transactions_active gauge
parley_transactions_active{kind="client"} 2
parley_transactions_active{kind="server"} 3
# HELP parley_registrations_active Bindings held by the location store.
# TYPE parley_registrations_active gauge
parley_registrations_active 7
# HELP parley_calls_active Calls answered and not yet ended (2xx to BYE), as seen in the message stream.
# TYPE parley_calls_active gauge
parley_calls_active 0
# HELP parley_calls_setup Calls being set up: INVITE sent on, not yet answered nor failed.
# TYPE parley_calls_setup gauge
parley_calls_setup 0
# HELP parley_auth_failures_total Failed authentications: wrong password or unknown user.
# TYPE parley_auth_failures_total counter
parley_auth_failures_total 9
# HELP parley_blocked_sources Source addresses blocked now for failing authentication too often.
# TYPE parley_blocked_sources gauge
parley_blocked_sources 1
# HELP parley_cdr_written_total Call detail records committed to the database.
# TYPE parley_cdr_written_total counter
parley_cdr_written_total 12
# HELP parley_cdr_write_errors_total Call detail records whose commit failed (each retry counts again) or that were dropped.
# TYPE parley_cdr_write_errors_total counter
parley_cdr_write_errors_total 2
# HELP parley_cdr_left_to_node_total Calls not recorded by this node because another cluster node relayed them here and records them.
# TYPE parley_cdr_left_to_node_total counter
parley_cdr_left_to_node_total 3
# HELP parley_subscriber_cache_lookups_total Subscriber lookups (digest checks, known-user tests), by result: hit (answered from memory) or miss (read from the database).
# TYPE parley_subscriber_cache_lookups_total counter
parley_subscriber_cache_lookups_total{result="hit"} 40
parley_subscriber_cache_lookups_total{result="miss"} 3
# HELP parley_subscriber_cache_entries Entries in the subscriber cache, by kind: known (subscribers) or unknown (names that are no subscriber).
# TYPE parley_subscriber_cache_entries gauge
parley_subscriber_cache_entries{kind="known"} 2
parley_subscriber_cache_entries{kind="unknown"} 1
# HELP parley_messages_dropped_total SIP messages dropped, by reason: malformed, framing or overflow (a stream cut off), send_failed, denied (rate limits, bans, filters).
# TYPE parley_messages_dropped_total counter
parley_messages_dropped_total{reason="framing"} 1
parley_messages_dropped_total{reason="malformed"} 4
# HELP parley_transport_connections Open connections, by transport.
# TYPE parley_transport_connections gauge
parley_transport_connections{proto="stream"} 5
# HELP parley_capture_dropped_total Captured messages the observer's worker had no room for (not tracked for calls, export or the live stream).
# TYPE parley_capture_dropped_total counter
parley_capture_dropped_total 0
# HELP parley_forward_latency_seconds Time from forwarding a request to the first response received for it.
# TYPE parley_forward_latency_seconds histogram
parley_forward_latency_seconds_bucket{le="0.0005"} 0
parley_forward_latency_seconds_bucket{le="0.001"} 0
parley_forward_latency_seconds_bucket{le="0.0025"} 1
parley_forward_latency_seconds_bucket{le="0.005"} 1
parley_forward_latency_seconds_bucket{le="0.01"} 1
parley_forward_latency_seconds_bucket{le="0.025"} 1
parley_forward_latency_seconds_bucket{le="0.05"} 2
parley_forward_latency_seconds_bucket{le="0.1"} 2
parley_forward_latency_seconds_bucket{le="0.25"} 2
parley_forward_latency_seconds_bucket{le="0.5"} 2
parley_forward_latency_seconds_bucket{le="1"} 2
parley_forward_latency_seconds_bucket{le="2.5"} 2
parley_forward_latency_seconds_bucket{le="5"} 2
parley_forward_latency_seconds_bucket{le="10"} 2
parley_forward_latency_seconds_bucket{le="+Inf"} 2
parley_forward_latency_seconds_sum 0.032
parley_forward_latency_seconds_count 2
`
	names := []string{"parley_sip_requests_total", "parley_sip_responses_total", "parley_transactions_active",
		"parley_registrations_active", "parley_calls_active", "parley_calls_setup", "parley_auth_failures_total", "parley_blocked_sources",
		"parley_messages_dropped_total", "parley_transport_connections", "parley_capture_dropped_total",
		"parley_forward_latency_seconds", "parley_subscriber_cache_lookups_total", "parley_subscriber_cache_entries"}
	if err := testutil.GatherAndCompare(o.Metrics().Registry(), strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}

	// The handler serves the same registry in the text format, with the
	// Go runtime's metrics beside Parley's.
	rec := httptest.NewRecorder()
	o.Metrics().Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, s := range []string{`parley_sip_requests_total{direction="received",method="INVITE"} 1`, "go_goroutines", "process_"} {
		if !strings.Contains(string(body), s) {
			t.Errorf("/metrics lacks %q", s)
		}
	}
}

func TestMetricsWithoutSources(t *testing.T) {
	o := New(Config{})
	n, err := testutil.GatherAndCount(o.Metrics().Registry(), "parley_transactions_active", "parley_registrations_active",
		"parley_auth_failures_total", "parley_messages_dropped_total", "parley_transport_connections")
	if err != nil || n != 0 {
		t.Errorf("%d series without sources (%v), want none", n, err)
	}
}

func TestCountAllocates(t *testing.T) {
	m := newMetrics(Sources{}, func() (int, int) { return 0, 0 })
	s := Scan(resp(180).text())
	if n := testing.AllocsPerRun(100, func() { m.count(Sent, &s) }); n != 0 {
		t.Errorf("count allocates %v times, want 0", n)
	}
}
