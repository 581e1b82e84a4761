package admin

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/parley-sip/parley/cdr"
)

// cdrServer is an admin server over a memory store of five calls, one a
// minute from t0: alice's answered, bob's busy, alternately.
func cdrServer(t *testing.T) *Server {
	t.Helper()
	store := cdr.NewMemory()
	var recs []cdr.Record
	for i := range 5 {
		r := cdr.Record{Node: "n", CallID: fmt.Sprintf("c%d", i), Callee: "sip:carol@example.com",
			Setup: t0.Add(time.Duration(i) * time.Minute), Disposition: cdr.Answered, Status: 200}
		r.Answered, r.End, r.Caller = r.Setup.Add(time.Second), r.Setup.Add(3*time.Second), "sip:alice@example.com"
		if i%2 == 1 {
			r.Answered, r.Disposition, r.Status, r.Caller = time.Time{}, cdr.Busy, 486, "sip:bob@example.com"
		}
		recs = append(recs, r)
	}
	if err := store.Add(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	return New(Config{CDRs: store})
}

func TestListCDRs(t *testing.T) {
	srv := cdrServer(t)
	tests := []struct {
		query string
		code  int
		ids   string // call IDs in order, or a substring of the error
		next  bool
	}{
		{"", 200, "c4 c3 c2 c1 c0", false},
		{"?caller=BOB", 200, "c3 c1", false},
		{"?disposition=busy", 200, "c3 c1", false},
		{"?callee=carol&disposition=answered", 200, "c4 c2 c0", false},
		{"?since=" + t0.Add(time.Minute).Format(time.RFC3339) + "&until=" + t0.Add(3*time.Minute).Format(time.RFC3339), 200, "c2 c1", false},
		{"?limit=2", 200, "c4 c3", true},
		{"?limit=2&before=3", 200, "c1 c0", true},
		{"?limit=2&before=1", 200, "", false},
		{"?since=2026-05-07", 200, "", false},
		{"?disposition=maybe", 400, `disposition: "maybe" is not one of`, false},
		{"?since=yesterday", 400, `since: "yesterday" is not a time`, false},
		{"?since=2026-05-08&until=2026-05-07", 400, `until: 2026-05-07 is not after since 2026-05-08`, false},
		{"?limit=0", 400, "limit: want a whole number from 1 to 1000", false},
		{"?limit=5000", 400, "limit: want a whole number from 1 to 1000", false},
		{"?before=x", 400, `before: want a record id, got "x"`, false},
		// A filter the API does not have must not answer every record
		// as if it had filtered them (a typo, or a trunk to bill).
		{"?calller=bob", 400, `calller: not a filter of /api/cdrs (caller, callee, disposition, since, until, limit, before)`, false},
		{"?trunk=provider", 400, `trunk: not a filter of /api/cdrs`, false},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			w := httptest.NewRecorder()
			r := httptest.NewRequest(http.MethodGet, "/api/cdrs"+tt.query, nil)
			r.Host = "127.0.0.1:8080"
			srv.Handler().ServeHTTP(w, r)
			if w.Code != tt.code {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.code, w.Body)
			}
			if tt.code != 200 {
				if e := decode[map[string]string](t, w)["error"]; !strings.Contains(e, tt.ids) {
					t.Errorf("body %s, want %q", w.Body, tt.ids)
				}
				return
			}
			got := decode[struct {
				CDRs []map[string]any `json:"cdrs"`
				Next int64            `json:"next"`
			}](t, w)
			var ids []string
			for _, c := range got.CDRs {
				ids = append(ids, c["call_id"].(string))
			}
			if strings.Join(ids, " ") != tt.ids || (got.Next != 0) != tt.next {
				t.Errorf("got %v next %d, want %q next %v", ids, got.Next, tt.ids, tt.next)
			}
			if len(got.CDRs) > 0 && got.CDRs[0]["duration"] != 3.0 {
				t.Errorf("duration %v, want 3 seconds", got.CDRs[0]["duration"])
			}
		})
	}
}

func TestListCDRsWithoutStore(t *testing.T) {
	w := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodGet, "/api/cdrs", nil)
	r.Host = "127.0.0.1:8080"
	New(Config{}).Handler().ServeHTTP(w, r)
	if w.Code != 200 || strings.TrimSpace(w.Body.String()) != `{"cdrs":[]}` {
		t.Errorf("%d %s", w.Code, w.Body)
	}
}
