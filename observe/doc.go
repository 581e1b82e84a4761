// Package observe watches the SIP messages Parley receives and sends, and
// turns them into what an operator asks about: Prometheus metrics, a ring
// of recent messages grouped by Call-ID (the data of the console's call
// ladders), the calls in progress and a live event stream.
//
// The server calls [Observer.Capture] for every message on the goroutine
// that received or sends it, so Capture does the least it can: it scans a
// few headers without parsing, copies the bytes once, counts, appends to
// the ring and queues the message for a single background worker, which
// it wakes once per batch, not per message. When nothing reads the
// messages themselves (no ring, no HEP: [Config].CallsOnly), it copies
// only what the scan found of a message that can change a call. The
// worker does everything else (call tracking, which follows each call's
// dialogs from the caller's side on the scanned summaries alone, with no
// second parse; forwarding latency; export to HEP; events for the
// console), so a slow consumer never slows SIP.
//
// The package knows nothing of transports or transactions: the server
// hands it bytes and addresses, and functions ([Sources]) that read the
// other layers' counters when /metrics is scraped.
package observe
