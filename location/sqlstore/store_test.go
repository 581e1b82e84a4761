package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-sip/parley/clock"
	"github.com/parley-sip/parley/location"
	"github.com/parley-sip/parley/location/storetest"
)

func TestSQLiteConformance(t *testing.T) {
	storetest.TestStore(t, func(t *testing.T) location.Store {
		return sqliteEngine(t).open(t)
	})
}

func TestPostgresConformance(t *testing.T) {
	requirePostgres(t)
	storetest.TestStore(t, func(t *testing.T) location.Store {
		return postgresEngine(t).open(t)
	})
}

// t0 is a whole second, so bindings made from it round-trip exactly.
var t0 = time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)

// openAt returns a WithClock option reading a fake clock stopped at t.
func openAt(t time.Time) Option { return WithClock(clock.NewFake(t).Now) }

// fullBinding sets every field, so a reopen that loses one is noticed.
func fullBinding(contact string, expires time.Time) location.Binding {
	return location.Binding{
		Contact:    contact,
		Params:     `q=0.5;reg-id=2;+sip.instance="<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>";+g.oma.sip-im;audio="TRUE"`,
		Q:          500,
		Expires:    expires,
		CallID:     "call-" + contact,
		CSeq:       4294967295,
		Path:       []string{`<sip:edge1.example.net;lr>`, `<sip:"odd\x1f,]"@edge2;lr>`},
		Transport:  "tls",
		Source:     netip.MustParseAddrPort("198.51.100.7:50312"),
		Local:      netip.MustParseAddrPort("[2001:db8::1]:5061"),
		ConnID:     1<<63 + 5, // beyond int64: stored as its bits
		InstanceID: "<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>",
		RegID:      2,
		UserAgent:  "sqlstore-test/1.0",
		Updated:    t0.Add(123456 * time.Microsecond),
	}
}

func replace(bs ...location.Binding) func([]location.Binding) ([]location.Binding, error) {
	return func([]location.Binding) ([]location.Binding, error) { return bs, nil }
}

func mustUpdate(t *testing.T, s *Store, aor string, now time.Time, bs ...location.Binding) {
	t.Helper()
	if _, err := s.Update(context.Background(), aor, now, replace(bs...)); err != nil {
		t.Fatalf("Update(%s): %v", aor, err)
	}
}

func mustLookup(t *testing.T, s *Store, aor string, now time.Time) []location.Binding {
	t.Helper()
	bs, err := s.Lookup(context.Background(), aor, now)
	if err != nil {
		t.Fatalf("Lookup(%s): %v", aor, err)
	}
	return bs
}

// TestReopenRoundTrip: what one process stored, the next loads, field for
// field, except the ConnID of a connection that died with the process.
func TestReopenRoundTrip(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		const aor = "sip:alice@example.com"
		s := e.open(t, openAt(t0))
		a := fullBinding("sip:a@198.51.100.7:50312;transport=tls", t0.Add(time.Hour))
		b := location.Binding{Contact: "sip:b@h", Q: 1000, Expires: t0.Add(90 * time.Second), Updated: t0}
		mustUpdate(t, s, aor, t0, a, b)
		want := mustLookup(t, s, aor, t0)
		s.Close()

		s = e.open(t, openAt(t0))
		got := mustLookup(t, s, aor, t0)
		for i := range want {
			want[i].ConnID = 0
		}
		if !equalSets(got, want) {
			t.Fatalf("after reopen:\n got %+v\nwant %+v", got, want)
		}
		if st := s.Loaded(); st.Bindings != 2 || st.AORs != 1 || st.Expired != 0 {
			t.Errorf("Loaded() = %+v, want 2 bindings of 1 AOR", st)
		}
	})
}

func equalSets(a, b []location.Binding) bool {
	return slices.EqualFunc(a, b, func(x, y location.Binding) bool {
		return x.AOR == y.AOR && x.Contact == y.Contact && x.Params == y.Params && x.Q == y.Q && x.Expires.Equal(y.Expires) &&
			x.CallID == y.CallID && x.CSeq == y.CSeq && slices.Equal(x.Path, y.Path) &&
			x.Transport == y.Transport && x.Source == y.Source && x.Local == y.Local &&
			x.ConnID == y.ConnID && x.InstanceID == y.InstanceID && x.RegID == y.RegID &&
			x.UserAgent == y.UserAgent && x.Updated.Equal(y.Updated)
	})
}

// TestSubSecondExpiryRoundsUp: the disk keeps whole seconds; a binding
// may come back a fraction of a second longer-lived, never shorter.
func TestSubSecondExpiryRoundsUp(t *testing.T) {
	e := sqliteEngine(t)
	s := e.open(t, openAt(t0))
	mustUpdate(t, s, "sip:a@example.com", t0, location.Binding{Contact: "sip:a@h", Expires: t0.Add(1500 * time.Millisecond)})
	// Expire just past the exact expiry removes it from memory; the disk's
	// second has not ended, so the row stays until the next sweep.
	if n, err := s.Expire(context.Background(), t0.Add(1600*time.Millisecond)); err != nil || n != 1 {
		t.Fatalf("Expire = %d, %v; want 1", n, err)
	}
	if n := e.rows(t); n != 1 {
		t.Errorf("rows after sub-second Expire = %d, want 1 (expiry rounded up to +2s)", n)
	}
	if _, err := s.Expire(context.Background(), t0.Add(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	if n := e.rows(t); n != 0 {
		t.Errorf("rows after Expire at the rounded second = %d, want 0", n)
	}
}

// TestLoadSkipsAndPurgesExpired: a restart after downtime loads only what
// is still live and deletes the rest.
func TestLoadSkipsAndPurgesExpired(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		s := e.open(t, openAt(t0))
		for i := range 10 {
			b := location.Binding{Contact: "sip:x@h", Expires: t0.Add(time.Duration(i+1) * 10 * time.Second)}
			mustUpdate(t, s, fmt.Sprintf("sip:u%d@example.com", i), t0, b)
		}
		s.Close()

		later := t0.Add(40 * time.Second) // u0..u3 expired at +10..+40
		s = e.open(t, openAt(later))
		if st := s.Loaded(); st.Bindings != 6 || st.AORs != 6 || st.Expired != 4 {
			t.Errorf("Loaded() = %+v, want 6 bindings, 6 AORs, 4 expired", st)
		}
		if b, a := s.Count(); b != 6 || a != 6 {
			t.Errorf("Count() = %d, %d; want 6, 6", b, a)
		}
		if n := e.rows(t); n != 6 {
			t.Errorf("rows after open = %d, want 6: expired rows must be purged", n)
		}
	})
}

// TestExpirePurgesDatabase: Expire removes rows, in batches larger than
// one purge, and a reopen does not bring them back.
func TestExpirePurgesDatabase(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		s := e.open(t, openAt(t0))
		const n = purgeBatch + 500
		putMany(t, s, n, func(i int) time.Time { return t0.Add(time.Duration(1+i%2) * time.Minute) })
		removed, err := s.Expire(context.Background(), t0.Add(time.Minute))
		if err != nil || removed != n/2 {
			t.Fatalf("Expire = %d, %v; want %d", removed, err, n/2)
		}
		if got := e.rows(t); got != n/2 {
			t.Errorf("rows = %d, want %d", got, n/2)
		}
		if _, err := s.Expire(context.Background(), t0.Add(2*time.Minute)); err != nil {
			t.Fatal(err)
		}
		s.Close()
		if got := e.rows(t); got != 0 {
			t.Errorf("rows after expiring all = %d, want 0", got)
		}
		if b, _ := e.open(t, openAt(t0)).Count(); b != 0 {
			t.Errorf("reopen found %d bindings, want 0", b)
		}
	})
}

// putMany stores n AORs of one binding each, in parallel so that it takes
// a few group commits rather than n.
func putMany(t *testing.T, s *Store, n int, expires func(i int) time.Time) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for w := range 16 {
		wg.Go(func() {
			for i := w; i < n; i += 16 {
				b := location.Binding{Contact: "sip:x@h", Q: 1000, Expires: expires(i), Updated: t0}
				if _, err := s.Update(context.Background(), fmt.Sprintf("sip:u%d@example.com", i), t0, replace(b)); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// TestConcurrentSameAORDurable: concurrent read-modify-writes of one AOR
// reach the database in memory's order, so none is lost on disk either.
func TestConcurrentSameAORDurable(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		const aor, writers = "sip:alice@example.com", 40
		s := e.open(t, openAt(t0))
		var wg sync.WaitGroup
		for i := range writers {
			wg.Go(func() {
				b := location.Binding{Contact: fmt.Sprintf("sip:c%d@h", i), Expires: t0.Add(time.Hour)}
				_, err := s.Update(context.Background(), aor, t0, func(cur []location.Binding) ([]location.Binding, error) {
					return append(cur, b), nil
				})
				if err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		s.Close()
		if got := len(mustLookup(t, e.open(t, openAt(t0)), aor, t0)); got != writers {
			t.Errorf("after reopen: %d bindings, want %d", got, writers)
		}
	})
}

// TestCloseCommitsQueued: Updates racing Close either fail with ErrClosed
// or are on disk; none is acknowledged and then lost.
func TestCloseCommitsQueued(t *testing.T) {
	e := sqliteEngine(t)
	s := e.open(t, openAt(t0))
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		acked []string
	)
	for i := range 64 {
		wg.Go(func() {
			aor := fmt.Sprintf("sip:u%d@example.com", i)
			_, err := s.Update(context.Background(), aor, t0, replace(location.Binding{Contact: "sip:x@h", Expires: t0.Add(time.Hour)}))
			switch {
			case err == nil:
				mu.Lock()
				acked = append(acked, aor)
				mu.Unlock()
			case !errors.Is(err, location.ErrClosed):
				t.Error(err)
			}
		})
	}
	time.Sleep(time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	s = e.open(t, openAt(t0))
	for _, aor := range acked {
		if len(mustLookup(t, s, aor, t0)) != 1 {
			t.Errorf("%s was acknowledged but is not on disk", aor)
		}
	}
	t.Logf("%d of 64 Updates acknowledged before Close", len(acked))
}

func TestMigrations(t *testing.T) {
	path := filepath.Join(t.TempDir(), "parley.db")
	// Another component's rows in the shared table must not disturb ours.
	db, err := openSQLiteDB(path, SyncFull)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.db.Exec(`INSERT INTO schema_migrations VALUES ('subscriber', 7, 0)`); err != nil {
		t.Fatal(err)
	}
	db.close()
	for range 2 { // the second open finds the schema current
		s, err := OpenSQLite(path)
		if err != nil {
			t.Fatalf("OpenSQLite: %v", err)
		}
		s.Close()
	}
	db, err = openSQLiteDB(path, SyncFull)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.db.QueryRow(`SELECT COUNT(*) FROM schema_migrations WHERE component = 'location'`).Scan(&n); err != nil || n != len(sqliteMigrations) {
		t.Errorf("location migrations recorded = %d, %v; want %d", n, err, len(sqliteMigrations))
	}
	// A database from a newer Parley is refused, not misread.
	if _, err := db.db.Exec(`INSERT INTO schema_migrations VALUES ('location', 99, 0)`); err != nil {
		t.Fatal(err)
	}
	db.close()
	if _, err := OpenSQLite(path); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Errorf("OpenSQLite of a newer schema: %v, want a 'newer' error", err)
	}
}

func TestBadPath(t *testing.T) {
	if _, err := OpenSQLite(filepath.Join(t.TempDir(), "a?b.db")); err == nil {
		t.Error("OpenSQLite accepted a path with '?'")
	}
	if _, err := OpenSQLite(filepath.Join(t.TempDir(), "missing", "dir", "p.db")); err == nil {
		t.Error("OpenSQLite of a missing directory succeeded")
	}
}
