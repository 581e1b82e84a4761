package dialog

import "github.com/parley-sip/parley/sip"

// ID identifies a dialog from one side (§12): the Call-ID and the tags of
// the local and the remote side.
type ID struct {
	CallID    string
	LocalTag  string
	RemoteTag string
}

// String returns the ID as Call-ID;local-tag;remote-tag, for logs.
func (id ID) String() string { return id.CallID + ";" + id.LocalTag + ";" + id.RemoteTag }

// Reverse returns the ID the other side knows the dialog by.
func (id ID) Reverse() ID {
	return ID{CallID: id.CallID, LocalTag: id.RemoteTag, RemoteTag: id.LocalTag}
}

// IncomingID returns the ID of the dialog a message belongs to for a side
// that did not send the request it carries: a request received, or a
// response to one (§12.2.2: local tag from To, remote tag from From). ok
// is false when the message lacks a Call-ID or a readable From or To.
func IncomingID(m *sip.Message) (id ID, ok bool) {
	callID, from, to, ok := tags(m)
	return ID{CallID: callID, LocalTag: to, RemoteTag: from}, ok
}

// OutgoingID returns the ID of the dialog a message belongs to for the
// side that sent the request it carries: a request sent, or a response
// received (local tag from From, remote tag from To).
func OutgoingID(m *sip.Message) (id ID, ok bool) {
	callID, from, to, ok := tags(m)
	return ID{CallID: callID, LocalTag: from, RemoteTag: to}, ok
}

// tags reads what a dialog ID is made of.
func tags(m *sip.Message) (callID, fromTag, toTag string, ok bool) {
	callID, err := m.CallID()
	if err != nil || callID == "" {
		return "", "", "", false
	}
	if !m.HasHeader("From") || !m.HasHeader("To") {
		return "", "", "", false
	}
	// Only the tags are read: a From or To whose address is off-grammar is
	// forwarded as it is (the leniency table), and its dialog is one too.
	return callID, m.FromTag(), m.ToTag(), true
}
