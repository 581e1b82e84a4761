// Package transaction implements the SIP transaction layer of RFC 3261
// §17 with RFC 6026's Accepted states, as a proxy needs it: server
// transactions for the requests it receives, client transactions for
// the requests it sends, their timers, and the matching of requests and
// responses to them (§17.1.3, §17.2.3).
//
// A Layer sits between the transport (it is a transport.Handler) and a
// Core, the transaction user. There is no goroutine per transaction:
// transactions live in sharded tables and their timers in one
// clock.Clock (a timing wheel in production, clock.Fake in tests), whose
// goroutine runs the expiries. The Core and the response callbacks are
// never called with a lock held, so they may call back into the layer.
package transaction
