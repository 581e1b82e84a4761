package dialog

// EventKind names a change of a dialog.
type EventKind uint8

// Event kinds, in the order a dialog's life goes through them.
const (
	// EventCreated: a dialog was made, early (a provisional response with
	// a tag) or confirmed (a 2xx); Event.State says which.
	EventCreated EventKind = iota + 1
	// EventConfirmed: an early dialog got its 2xx.
	EventConfirmed
	// EventUsageAdded: the dialog carries a new usage (a subscription
	// accepted, or a NOTIFY that came first).
	EventUsageAdded
	// EventUsageEnded: a usage ended; Method and Code say by what.
	EventUsageEnded
	// EventTerminated: the dialog ended, its last usage with it, and left
	// the table; Method and Code say by what ("" and 0 when its owner
	// ended it, "INVITE" and the status when its INVITE failed).
	EventTerminated
)

// String returns the kind's name.
func (k EventKind) String() string {
	switch k {
	case EventCreated:
		return "created"
	case EventConfirmed:
		return "confirmed"
	case EventUsageAdded:
		return "usage-added"
	case EventUsageEnded:
		return "usage-ended"
	case EventTerminated:
		return "terminated"
	}
	return "unknown"
}

// Event is one change of a dialog, as the Table's listener receives it.
type Event struct {
	Kind   EventKind
	Dialog *Dialog
	ID     ID
	State  State  // the dialog's state after the change
	Usage  Usage  // the usage added or ended
	Method string // the method of the request whose response made the change
	Code   int    // that response's status (408 for a timeout); 0 for none
}

// Listener receives a table's events, in the order each dialog went
// through them, on the goroutine that fed the dialog, with no lock held.
// It must not block for long.
type Listener func(Event)
