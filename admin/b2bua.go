package admin

import "net/http"

// CallControl is what the admin API needs of a B2BUA: its calls with
// both legs, JSON-encoded as they are, and hanging one up by its id.
type CallControl interface {
	// List returns the calls in progress.
	List() any
	// Hangup ends the call with id (BYE on both legs) and reports
	// whether it existed.
	Hangup(id string) bool
}

// listB2BUACalls answers GET /api/b2bua/calls. Without a B2BUA the list
// is empty and says so ("b2bua": false) rather than 404, so that the
// console, which asks on every refresh, can hide its section without a
// failed request each time.
func (s *Server) listB2BUACalls(w http.ResponseWriter, _ *http.Request) {
	if s.cfg.Calls == nil {
		writeJSON(w, map[string]any{"b2bua": false, "calls": []any{}})
		return
	}
	writeJSON(w, map[string]any{"b2bua": true, "calls": s.cfg.Calls.List()})
}

// hangupB2BUACall answers DELETE /api/b2bua/calls/{id}: 202, since the
// BYEs go out after the answer.
func (s *Server) hangupB2BUACall(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Calls == nil {
		httpError(w, http.StatusNotFound, "not a B2BUA: mode is not b2bua")
		return
	}
	id := r.PathValue("id")
	if !s.cfg.Calls.Hangup(id) {
		httpError(w, http.StatusNotFound, "no call "+id)
		return
	}
	s.cfg.Logger.Info("admin: call hung up", "call", id)
	w.WriteHeader(http.StatusAccepted)
}
