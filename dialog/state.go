package dialog

// State is where a dialog stands (§12).
type State uint8

// Dialog states. An early dialog comes from a provisional response with a
// To tag; a 2xx confirms it. Terminated is final.
const (
	Early State = iota + 1
	Confirmed
	Terminated
)

// String returns "early", "confirmed" or "terminated".
func (s State) String() string {
	switch s {
	case Early:
		return "early"
	case Confirmed:
		return "confirmed"
	case Terminated:
		return "terminated"
	}
	return "unknown"
}

// Role says which side of the dialog-creating request the local side was.
type Role uint8

// Roles.
const (
	UAC Role = iota + 1
	UAS
)

// String returns "uac" or "uas".
func (r Role) String() string {
	if r == UAS {
		return "uas"
	}
	return "uac"
}

// scope is how far the effect of a final response to an in-dialog request
// reaches (RFC 5057 §5.1).
type scope uint8

const (
	scopeTransaction scope = iota // only the transaction failed
	scopeUsage                    // the usage the request belongs to ends
	scopeDialog                   // the dialog and every usage end
)

// responseScope classifies a final response to a request in a dialog.
// RFC 3261 §12.2.1.2 has a UAC end the dialog on a 481, a 408 or no
// response at all (Timer B or F, which the transaction layer reports as a
// local 408); with several usages RFC 5057 §5.1 narrows those to the usage
// the request was sent in, and names the responses that say the remote
// side is gone (404, 410, 416, 482–485, 502, 604), which end everything.
func responseScope(code int) scope {
	switch code {
	case 404, 410, 416, 482, 483, 484, 485, 502, 604:
		return scopeDialog
	case 481, 408, 405, 501, 489:
		return scopeUsage
	}
	return scopeTransaction
}
