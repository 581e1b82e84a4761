package admin

import (
	"net/url"
	"testing"

	"github.com/parley-sip/parley/cdr"
)

// FuzzCDRQuery: any query string of /api/cdrs is refused with an error or
// becomes a query within the paging bounds; it never panics.
func FuzzCDRQuery(f *testing.F) {
	for _, seed := range []string{"", "caller=alice&limit=10", "before=5&since=2026-03-01", "until=2026-03-01T09:00:00Z",
		"disposition=busy", "limit=-1", "limit=99999999999999999999", "before=0", "since=%ZZ", "disposition=Answered"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		q, err := cdrQuery(v)
		if err != nil {
			return
		}
		if q.Limit < 1 || q.Limit > cdr.MaxLimit || q.Before < 0 || !q.Newest {
			t.Errorf("%q gave the query %+v", raw, q)
		}
	})
}
