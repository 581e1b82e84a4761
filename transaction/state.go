package transaction

// State is a transaction's state in the figures of RFC 3261 §17 and RFC
// 6026 §7. Client INVITE transactions use Calling, Proceeding,
// Completed, Accepted and Terminated; client non-INVITE transactions
// Trying, Proceeding, Completed and Terminated; server INVITE
// transactions Proceeding, Completed, Confirmed, Accepted and
// Terminated; server non-INVITE transactions Trying, Proceeding,
// Completed and Terminated.
type State uint8

// The transaction states.
const (
	Calling State = iota
	Trying
	Proceeding
	Completed
	Confirmed
	Accepted
	Terminated
)

var stateNames = [...]string{"Calling", "Trying", "Proceeding", "Completed", "Confirmed", "Accepted", "Terminated"}

// String returns the state's name as the RFC figures write it.
func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "State(?)"
}
