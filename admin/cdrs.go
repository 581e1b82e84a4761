package admin

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/parley-sip/parley/cdr"
)

// listCDRs answers GET /api/cdrs?caller=&callee=&disposition=&since=&until=&limit=&before=:
// call detail records, newest first, a page at a time. "next" is the
// before= of the following page, absent on the last one.
func (s *Server) listCDRs(w http.ResponseWriter, r *http.Request) {
	q, err := cdrQuery(r.URL.Query())
	if err != nil {
		httpError(w, http.StatusBadRequest, err.Error())
		return
	}
	if s.cfg.CDRs == nil {
		writeJSON(w, map[string]any{"cdrs": []cdr.Record{}})
		return
	}
	recs, err := s.cfg.CDRs.List(r.Context(), q)
	if err != nil {
		httpError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	out := map[string]any{"cdrs": recs}
	if len(recs) == q.Limit && len(recs) > 0 {
		out["next"] = recs[len(recs)-1].ID
	}
	writeJSON(w, out)
}

// cdrParams are the query parameters /api/cdrs knows, in the order its
// errors name them.
var cdrParams = []string{"caller", "callee", "disposition", "since", "until", "limit", "before"}

// cdrQuery reads the filters and the page of /api/cdrs. A parameter it
// does not know is refused rather than ignored: answering every record
// to "?calller=bob" or "?trunk=provider" would pass for a filtered list.
func cdrQuery(v url.Values) (cdr.Query, error) {
	for name := range v {
		if !slices.Contains(cdrParams, name) {
			return cdr.Query{}, fmt.Errorf("%s: not a filter of /api/cdrs (%s)", name, strings.Join(cdrParams, ", "))
		}
	}
	q := cdr.Query{Caller: v.Get("caller"), Callee: v.Get("callee"), Disposition: cdr.Disposition(v.Get("disposition")),
		Newest: true, Limit: cdr.DefaultLimit}
	if q.Disposition != "" && !slices.Contains(cdr.Dispositions, q.Disposition) {
		return q, fmt.Errorf("disposition: %q is not one of %v", q.Disposition, cdr.Dispositions)
	}
	var err error
	if s := v.Get("since"); s != "" {
		if q.Since, err = cdr.ParseTime(s); err != nil {
			return q, fmt.Errorf("since: %w", err)
		}
	}
	if s := v.Get("until"); s != "" {
		if q.Until, err = cdr.ParseTime(s); err != nil {
			return q, fmt.Errorf("until: %w", err)
		}
		if !q.Since.IsZero() && !q.Until.After(q.Since) {
			return q, fmt.Errorf("until: %s is not after since %s: no call can start in that period", s, v.Get("since"))
		}
	}
	if s := v.Get("limit"); s != "" {
		if q.Limit, err = strconv.Atoi(s); err != nil || q.Limit < 1 || q.Limit > cdr.MaxLimit {
			return q, fmt.Errorf("limit: want a whole number from 1 to %d, got %q", cdr.MaxLimit, s)
		}
	}
	if s := v.Get("before"); s != "" {
		if q.Before, err = strconv.ParseInt(s, 10, 64); err != nil || q.Before < 1 {
			return q, fmt.Errorf("before: want a record id, got %q", s)
		}
	}
	return q, nil
}
