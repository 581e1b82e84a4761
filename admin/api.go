package admin

import (
	"cmp"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/parley-sip/parley/cluster"
	"github.com/parley-sip/parley/location"
	"github.com/parley-sip/parley/observe"
)

// maxListed bounds one registrations answer; the search narrows it.
const maxListed = 1000

// registration is a binding as the API shows it.
type registration struct {
	AOR        string    `json:"aor"`
	Contact    string    `json:"contact"`
	Params     string    `json:"params,omitempty"` // the Contact's parameters as the phone sent them
	Q          float64   `json:"q"`
	Expires    time.Time `json:"expires"`
	ExpiresIn  int64     `json:"expires_in"` // seconds left
	Transport  string    `json:"transport"`
	Source     string    `json:"source"`
	Local      string    `json:"local"`
	UserAgent  string    `json:"user_agent,omitempty"`
	CallID     string    `json:"call_id"`
	CSeq       uint32    `json:"cseq"`
	Path       []string  `json:"path,omitempty"`
	Node       string    `json:"node,omitempty"` // the cluster node that holds the phone's flow
	InstanceID string    `json:"instance_id,omitempty"`
	RegID      int       `json:"reg_id,omitempty"`
	Updated    time.Time `json:"updated"`
}

func toRegistration(b *location.Binding, now time.Time) registration {
	return registration{
		AOR: b.AOR, Contact: b.Contact, Params: b.Params, Q: float64(b.Q) / 1000, Expires: b.Expires,
		ExpiresIn: int64(b.Expires.Sub(now).Round(time.Second) / time.Second),
		Transport: b.Transport, Source: addrString(b.Source.String(), b.Source.IsValid()),
		Local: addrString(b.Local.String(), b.Local.IsValid()), UserAgent: b.UserAgent,
		CallID: b.CallID, CSeq: b.CSeq, Path: b.Path, Node: cluster.NodeOf(b.Path), InstanceID: b.InstanceID, RegID: b.RegID, Updated: b.Updated,
	}
}

func addrString(s string, valid bool) string {
	if !valid {
		return ""
	}
	return s
}

// regFilter is a registrations search: each set field must occur in the
// binding's field, ignoring case.
type regFilter struct{ aor, contact, source string }

func (f regFilter) match(r *registration) bool {
	return contains(r.AOR, f.aor) && contains(r.Contact, f.contact) && contains(r.Source, f.source)
}

func contains(s, sub string) bool {
	return sub == "" || strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}

// listRegistrations answers GET /api/registrations?aor=&contact=&source=.
func (s *Server) listRegistrations(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Store == nil {
		writeJSON(w, map[string]any{"registrations": []registration{}, "truncated": false})
		return
	}
	q := r.URL.Query()
	f := regFilter{aor: q.Get("aor"), contact: q.Get("contact"), source: q.Get("source")}
	now := s.cfg.Now()
	list := []registration{}
	truncated := false
	s.cfg.Store.Range(func(_ string, bs []location.Binding) bool {
		for i := range bs {
			if !bs[i].Live(now) {
				continue // expired, not swept yet
			}
			if reg := toRegistration(&bs[i], now); f.match(&reg) {
				if len(list) == maxListed {
					truncated = true
					return false
				}
				list = append(list, reg)
			}
		}
		return true
	})
	slices.SortStableFunc(list, func(a, b registration) int {
		return cmp.Or(cmp.Compare(a.AOR, b.AOR), cmp.Compare(b.Q, a.Q))
	})
	writeJSON(w, map[string]any{"registrations": list, "truncated": truncated})
}

// removeRegistration answers DELETE /api/registrations?aor=&contact=,
// removing one binding, or with contact=* every binding of the AOR.
func (s *Server) removeRegistration(w http.ResponseWriter, r *http.Request) {
	aor, contact := r.URL.Query().Get("aor"), r.URL.Query().Get("contact")
	if aor == "" || contact == "" {
		httpError(w, http.StatusBadRequest, "aor and contact are required (contact=* removes every binding of the aor)")
		return
	}
	if s.cfg.Store == nil {
		httpError(w, http.StatusNotFound, "no such binding")
		return
	}
	removed := 0
	_, err := s.cfg.Store.Update(r.Context(), aor, s.cfg.Now(), func(current []location.Binding) ([]location.Binding, error) {
		kept := slices.DeleteFunc(current, func(b location.Binding) bool { return contact == "*" || b.Contact == contact })
		removed = len(current) - len(kept)
		return kept, nil
	})
	switch {
	case err != nil:
		// The store failed (Redis or the database down): the same 503 as
		// /readyz and /api/cluster give, not a fault of Parley's own.
		httpError(w, http.StatusServiceUnavailable, "location store unavailable: "+err.Error())
	case removed == 0:
		httpError(w, http.StatusNotFound, "no such binding")
	default:
		s.cfg.Logger.Info("admin: bindings removed", "aor", aor, "contact", contact, "removed", removed)
		writeJSON(w, map[string]int{"removed": removed})
	}
}

// listUsers answers GET /api/users.
func (s *Server) listUsers(w http.ResponseWriter, r *http.Request) {
	users := []string{}
	if s.cfg.Users != nil {
		list, err := s.cfg.Users.ListUsers(r.Context())
		if err != nil {
			httpError(w, http.StatusInternalServerError, err.Error())
			return
		}
		users = append(users, list...)
	}
	slices.Sort(users)
	writeJSON(w, map[string]any{"users": users})
}

// call is a call as the API shows it, with its duration worked out.
type call struct {
	observe.Call
	DurationSeconds float64 `json:"duration_seconds"`
}

func toCalls(cs []observe.Call, now time.Time) []call {
	out := make([]call, len(cs))
	for i := range cs {
		out[i] = call{Call: cs[i], DurationSeconds: cs[i].Duration(now).Seconds()}
	}
	return out
}

// listCalls answers GET /api/calls: the calls in progress and those that
// ended recently.
func (s *Server) listCalls(w http.ResponseWriter, _ *http.Request) {
	var active, recent []observe.Call
	if s.cfg.Observer != nil {
		active, recent = s.cfg.Observer.Calls()
	}
	now := s.cfg.Now()
	writeJSON(w, map[string]any{"active": toCalls(active, now), "recent": toCalls(recent, now)})
}

// message is a captured message as the ladder needs it.
type message struct {
	observe.MessageInfo
	Local string `json:"local"` // Parley's side
	Peer  string `json:"peer"`
	Text  string `json:"text"`
}

// callMessages answers GET /api/calls/{callid}/messages: the ladder.
func (s *Server) callMessages(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("callid")
	out := []message{}
	if s.cfg.Observer != nil {
		for _, m := range s.cfg.Observer.CallMessages(id) {
			out = append(out, message{MessageInfo: m.Info(), Local: m.Local.String(), Peer: m.Peer.String(), Text: m.Text})
		}
	}
	writeJSON(w, map[string]any{"call_id": id, "messages": out})
}

// stats answers GET /api/stats.
func (s *Server) stats(w http.ResponseWriter, _ *http.Request) {
	out := map[string]any{}
	if s.cfg.Stats != nil {
		out["server"] = s.cfg.Stats()
	}
	if s.cfg.Observer != nil {
		out["capture"] = s.cfg.Observer.Stats()
	}
	writeJSON(w, out)
}

// config answers GET /api/config.
func (s *Server) config(w http.ResponseWriter, _ *http.Request) {
	if s.cfg.Reload == nil {
		httpError(w, http.StatusNotFound, "no configuration state")
		return
	}
	writeJSON(w, s.cfg.Reload())
}

// cluster shows the nodes of the cluster and what each holds. A server
// that is no cluster node says so ("cluster": false) rather than 404, so
// that the console can ask every server without an error in its log.
func (s *Server) cluster(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Cluster == nil {
		writeJSON(w, map[string]any{"cluster": false, "nodes": []any{}, "calls": []any{}})
		return
	}
	v, err := s.cfg.Cluster(r.Context())
	if err != nil {
		s.cfg.Logger.Warn("admin: cluster state not read", "error", err)
		httpError(w, http.StatusServiceUnavailable, "cluster state unavailable: "+err.Error())
		return
	}
	writeJSON(w, v)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	// Encoding these types cannot fail; a write error means the client
	// left, and there is no one to tell.
	_ = json.NewEncoder(w).Encode(v)
}

func httpError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}
