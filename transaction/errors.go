package transaction

import "errors"

// Errors returned by the layer and passed to callbacks.
var (
	// ErrTimeout reports that a transaction timed out: Timer B or F for a
	// client transaction (which then hands its TU a local 408), Timer H
	// for an INVITE server transaction that never saw its ACK.
	ErrTimeout = errors.New("transaction: timed out")
	// ErrTransport wraps an error from transport.Sender (§17.1.4,
	// §17.2.4); a client transaction hands its TU a local 503.
	ErrTransport = errors.New("transaction: transport error")
	// ErrTerminated is returned for a response given to a terminated
	// server transaction.
	ErrTerminated = errors.New("transaction: terminated")
	// ErrFinalSent is returned for a response that the transaction's
	// state does not allow: anything after a non-2xx final response, or a
	// non-2xx after a 2xx.
	ErrFinalSent = errors.New("transaction: final response already sent")
	// ErrNotResponse is returned by Respond for a request or a status
	// code outside 100..699.
	ErrNotResponse = errors.New("transaction: not a response")
	// ErrBadRequest is returned by Request for a message that cannot
	// start a client transaction: a response, an ACK (never a
	// transaction, §17.1.1.3), or a top Via without an RFC 3261 branch.
	ErrBadRequest = errors.New("transaction: request cannot start a client transaction")
	// ErrDuplicate is returned by Request when a client transaction with
	// the same branch and method is live.
	ErrDuplicate = errors.New("transaction: duplicate branch")
)
