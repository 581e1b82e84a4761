// Package dialog holds SIP dialogs (RFC 3261 §12) and their usages (RFC
// 5057): the state two user agents share once an INVITE or a SUBSCRIBE
// has been answered with a tag — the route set, the remote target, the
// local and remote CSeq numbers, and the state (early, confirmed,
// terminated).
//
// A [Dialog] is always seen from one side, its local side: the UAC of the
// request that made it ([Table.NewUAC], through an [Invitation] for an
// INVITE, whose forks each make an early dialog of their own) or its UAS
// ([Table.NewUAS]). Four methods feed it what crosses the wire —
// [Dialog.SendRequest], [Dialog.ReceiveRequest], [Dialog.SendResponse],
// [Dialog.ReceiveResponse] — and [Dialog.NewRequest] and [Dialog.NewACK]
// build the requests the local side sends in the dialog (§12.2.1.1).
//
// A proxy in the middle tracks a dialog by taking the caller's view: what
// it receives from the caller is what the caller sent, what it sends back
// is what the caller received. The same state machine then runs without
// either user agent's help (package observe does this for call tracking);
// [Table.Locate] tells which side a message of the dialog comes from.
//
// A dialog carries one usage or several (an INVITE usage and subscription
// usages, RFC 5057 §4); it ends when its last usage ends. Which responses
// end a transaction only, a usage, or the whole dialog is RFC 5057 §5.1,
// applied to what RFC 3261 §12.2.1.2 says of 481, 408 and timeouts.
//
// The package knows nothing of transports, routing or storage: it reads
// and builds messages with package sip, and reports every change to the
// [Table]'s listener, which is how a B2BUA, a presence server, busy-lamp
// watchers or call records follow dialogs without keeping their own copy.
package dialog
