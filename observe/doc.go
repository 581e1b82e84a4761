// Package observe watches the SIP messages Parley receives and sends, and
// turns them into what an operator asks about: Prometheus metrics, a ring
// of recent messages grouped by Call-ID (the data of the console's call
// ladders), the calls in progress and a live event stream.
//
// The server calls [Observer.Capture] for every message on the goroutine
// that received or sends it, so Capture does the least it can: it copies
// the bytes once, scans a few headers without parsing, counts, appends to
// the ring and queues the message for a single background worker. The
// worker does everything else (call tracking, which runs the messages
// through package dialog's state machine from the caller's side;
// forwarding latency; export to HEP; events for the console), so a slow
// consumer never slows SIP.
//
// The package knows nothing of transports or transactions: the server
// hands it bytes and addresses, and functions ([Sources]) that read the
// other layers' counters when /metrics is scraped.
package observe
