package server

import (
	"testing"

	"github.com/parley-sip/parley/b2bua"
	"github.com/parley-sip/parley/observe"
)

// TestObservedCallStatus: a B2BUA call shows the observer (the call log's
// "call answered" line, /api/calls) the 200 Parley answered its caller
// with once it is answered, not the 0 of a call without a final response.
func TestObservedCallStatus(t *testing.T) {
	tests := []struct {
		state  string
		status int
	}{
		{"setup", 0},
		{"ringing", 0},
		{"answered", 200},
	}
	for _, tt := range tests {
		t.Run(tt.state, func(t *testing.T) {
			oc := observedCall(b2bua.CallInfo{State: tt.state})
			if oc.Status != tt.status {
				t.Errorf("status %d, want %d (state %s)", oc.Status, tt.status, oc.State)
			}
			if tt.state == "answered" && oc.State != observe.CallEstablished {
				t.Errorf("state %s, want established", oc.State)
			}
		})
	}
}
