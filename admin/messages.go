package admin

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/parley-sip/parley/presence/watchers"
)

// Pages of /api/messages: 50 by default, at most 500.
const (
	messagesPage    = 50
	messagesPageMax = 500
)

// pendingMessage is one stored MESSAGE as /api/messages shows it. The
// body is shown when it is text (valid UTF-8); size is always given.
type pendingMessage struct {
	ID          int64     `json:"id"`
	User        string    `json:"user"`
	From        string    `json:"from"`
	To          string    `json:"to"`
	Date        string    `json:"date"`
	ContentType string    `json:"content_type"`
	Size        int64     `json:"size"`
	Body        *string   `json:"body,omitempty"`
	Stored      time.Time `json:"stored"`
}

// listMessages answers GET /api/messages?user=&limit=&after=: MESSAGEs
// waiting for offline users, oldest first, a page at a time; "next" is
// the after= of the following page, absent on the last one.
func (s *Server) listMessages(w http.ResponseWriter, r *http.Request) {
	user, after, limit, err := messagesQuery(r.URL.Query())
	if err != nil {
		httpError(w, http.StatusBadRequest, err.Error())
		return
	}
	out := map[string]any{"messages": []pendingMessage{}}
	if s.cfg.Messages == nil {
		writeJSON(w, out)
		return
	}
	ms, err := s.cfg.Messages.Page(r.Context(), user, after, limit)
	if err != nil {
		httpError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	list := make([]pendingMessage, 0, len(ms))
	for _, m := range ms {
		p := pendingMessage{ID: m.ID, User: m.User, From: m.From, To: m.To, Date: m.Date, ContentType: m.ContentType,
			Size: m.Size(), Stored: m.Stored}
		if utf8.Valid(m.Body) {
			body := string(m.Body)
			p.Body = &body
		}
		list = append(list, p)
	}
	out["messages"] = list
	if len(ms) == limit {
		out["next"] = ms[len(ms)-1].ID
	}
	writeJSON(w, out)
}

func messagesQuery(v url.Values) (user string, after int64, limit int, err error) {
	limit = messagesPage
	if s := v.Get("user"); s != "" {
		if user, err = watchers.ParseUser(s); err != nil {
			return "", 0, 0, fmt.Errorf("user: %q is not user@domain", s)
		}
	}
	if s := v.Get("limit"); s != "" {
		if limit, err = strconv.Atoi(s); err != nil || limit < 1 || limit > messagesPageMax {
			return "", 0, 0, fmt.Errorf("limit: want a whole number from 1 to %d, got %q", messagesPageMax, s)
		}
	}
	if s := v.Get("after"); s != "" {
		if after, err = strconv.ParseInt(s, 10, 64); err != nil || after < 0 {
			return "", 0, 0, fmt.Errorf("after: want a message id, got %q", s)
		}
	}
	return user, after, limit, nil
}

// listWatchers answers GET /api/watchers?user=: the allow and block
// lists, of one user or of everyone.
func (s *Server) listWatchers(w http.ResponseWriter, r *http.Request) {
	user := ""
	if q := r.URL.Query().Get("user"); q != "" {
		var err error
		if user, err = watchers.ParseUser(q); err != nil {
			httpError(w, http.StatusBadRequest, fmt.Sprintf("user: %q is not user@domain", q))
			return
		}
	}
	out := map[string]any{"watchers": []watchers.Entry{}}
	if s.cfg.Watchers != nil {
		es, err := s.cfg.Watchers.List(r.Context(), user)
		if err != nil {
			httpError(w, http.StatusServiceUnavailable, err.Error())
			return
		}
		if es != nil {
			out["watchers"] = es
		}
	}
	writeJSON(w, out)
}

// pendingWatchers answers GET /api/watchers/pending?user=: who asked to
// watch the user and waits, pending, for an allow or a block.
func (s *Server) pendingWatchers(w http.ResponseWriter, r *http.Request) {
	user, err := watchers.ParseUser(r.URL.Query().Get("user"))
	if err != nil {
		httpError(w, http.StatusBadRequest, fmt.Sprintf("user: %q is not user@domain", r.URL.Query().Get("user")))
		return
	}
	pending := []watchers.Request{}
	if s.cfg.PendingWatchers != nil {
		pending = append(pending, s.cfg.PendingWatchers(user)...)
	}
	writeJSON(w, map[string]any{"user": user, "pending": pending})
}

// watcherEntry reads user= and watcher= of a PUT or DELETE.
func watcherEntry(v url.Values) (user, watcher string, err error) {
	if user, err = watchers.ParseUser(v.Get("user")); err != nil {
		return "", "", fmt.Errorf("user: %q is not user@domain", v.Get("user"))
	}
	if watcher, err = watchers.ParseWatcher(v.Get("watcher")); err != nil {
		return "", "", fmt.Errorf("watcher: %q is neither user@domain nor a domain", v.Get("watcher"))
	}
	return user, watcher, nil
}

// putWatcher answers PUT /api/watchers?user=&watcher=&list=allow|block.
// PUT, not POST: a web page cannot send it to the loopback listener
// without a CORS preflight, which the API never grants.
func (s *Server) putWatcher(w http.ResponseWriter, r *http.Request) {
	user, watcher, err := watcherEntry(r.URL.Query())
	list := watchers.List(r.URL.Query().Get("list"))
	if err == nil && list != watchers.Allow && list != watchers.Block {
		err = fmt.Errorf("list: want allow or block, got %q", list)
	}
	if err != nil {
		httpError(w, http.StatusBadRequest, err.Error())
		return
	}
	if s.cfg.Watchers == nil {
		httpError(w, http.StatusNotFound, "no watcher lists on this server")
		return
	}
	e := watchers.Entry{User: user, Watcher: watcher, List: list}
	if err := s.cfg.Watchers.Put(r.Context(), e); err != nil {
		httpError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	s.cfg.Logger.Info("admin: watcher list changed", "user", user, "watcher", watcher, "list", string(list))
	writeJSON(w, e)
}

// removeWatcher answers DELETE /api/watchers?user=&watcher=.
func (s *Server) removeWatcher(w http.ResponseWriter, r *http.Request) {
	user, watcher, err := watcherEntry(r.URL.Query())
	if err != nil {
		httpError(w, http.StatusBadRequest, err.Error())
		return
	}
	if s.cfg.Watchers == nil {
		httpError(w, http.StatusNotFound, "no such entry")
		return
	}
	ok, err := s.cfg.Watchers.Remove(r.Context(), user, watcher)
	switch {
	case err != nil:
		httpError(w, http.StatusServiceUnavailable, err.Error())
	case !ok:
		httpError(w, http.StatusNotFound, "no such entry")
	default:
		s.cfg.Logger.Info("admin: watcher removed from lists", "user", user, "watcher", watcher)
		writeJSON(w, map[string]int{"removed": 1})
	}
}
