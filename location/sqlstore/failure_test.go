package sqlstore

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-sip/parley/location"
)

// flaky wraps a backend so a test can hold a commit and make it fail,
// and make reads fail.
type flaky struct {
	backend
	mu      sync.Mutex
	hook    func(cs []*change) error // runs before each commit; an error fails it
	readErr error                    // when set, every read fails with it
}

func (f *flaky) read(ctx context.Context, aor string) ([]location.Binding, error) {
	f.mu.Lock()
	err := f.readErr
	f.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return f.backend.read(ctx, aor)
}

func (f *flaky) commit(ctx context.Context, cs []*change) error {
	f.mu.Lock()
	hook := f.hook
	f.mu.Unlock()
	if hook != nil {
		if err := hook(cs); err != nil {
			return err
		}
	}
	return f.backend.commit(ctx, cs)
}

func (f *flaky) setHook(h func(cs []*change) error) {
	f.mu.Lock()
	f.hook = h
	f.mu.Unlock()
}

// openFlaky opens a SQLite store whose commits f controls.
func openFlaky(t *testing.T) (*Store, *flaky) {
	t.Helper()
	db, err := openSQLiteDB(t.TempDir()+"/parley.db", SyncNormal)
	if err != nil {
		t.Fatal(err)
	}
	return openOver(t, db)
}

// openOver opens a store over db with commits that f controls.
func openOver(t *testing.T, db backend) (*Store, *flaky) {
	t.Helper()
	f := &flaky{backend: db}
	s, err := open(context.Background(), f, newConfig([]Option{openAt(t0)}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, f
}

var errDisk = errors.New("disk on fire")

func contactsOf(bs []location.Binding) []string {
	var cs []string
	for _, b := range bs {
		cs = append(cs, b.Contact)
	}
	slices.Sort(cs)
	return cs
}

func binding(contact string) location.Binding {
	return location.Binding{Contact: contact, Expires: t0.Add(time.Hour)}
}

func appendContact(c string) func([]location.Binding) ([]location.Binding, error) {
	return func(cur []location.Binding) ([]location.Binding, error) { return append(cur, binding(c)), nil }
}

// TestFailedCommitRollsBack: an Update whose commit fails returns the error
// and leaves memory as the database is.
func TestFailedCommitRollsBack(t *testing.T) {
	const aor = "sip:alice@example.com"
	s, f := openFlaky(t)
	mustUpdate(t, s, aor, t0, binding("sip:x@h"))

	f.setHook(func([]*change) error { return errDisk })
	_, err := s.Update(context.Background(), aor, t0, appendContact("sip:y@h"))
	if !errors.Is(err, errDisk) {
		t.Fatalf("Update error = %v, want %v", err, errDisk)
	}
	_, err = s.Update(context.Background(), "sip:bob@example.com", t0, replace(binding("sip:b@h")))
	if !errors.Is(err, errDisk) {
		t.Fatalf("Update of a new AOR: error = %v, want %v", err, errDisk)
	}
	f.setHook(nil)

	if got := contactsOf(mustLookup(t, s, aor, t0)); !slices.Equal(got, []string{"sip:x@h"}) {
		t.Errorf("memory after failed commit = %q, want [sip:x@h]", got)
	}
	if got := mustLookup(t, s, "sip:bob@example.com", t0); len(got) != 0 {
		t.Errorf("failed first Update left %v in memory", got)
	}
	if b, a := s.Count(); b != 1 || a != 1 {
		t.Errorf("Count() = %d, %d; want 1, 1", b, a)
	}
}

// TestDatabaseDownKeepsAcknowledged: when the database neither commits nor
// reads (it is down), a refused REGISTER leaves the AOR as its last
// acknowledged one left it, in memory and so for calls, and the store
// says it is not ready until a commit succeeds again.
func TestDatabaseDownKeepsAcknowledged(t *testing.T) {
	const aor = "sip:alice@example.com"
	s, f := openFlaky(t)
	mustUpdate(t, s, aor, t0, binding("sip:x@h"))
	if err := s.Ready(); err != nil {
		t.Fatalf("Ready before the outage: %v", err)
	}

	f.setHook(func([]*change) error { return errDisk })
	f.mu.Lock()
	f.readErr = errDisk
	f.mu.Unlock()
	for _, fn := range []func([]location.Binding) ([]location.Binding, error){
		appendContact("sip:y@h"),
		replace(), // a removal refused too
	} {
		if _, err := s.Update(context.Background(), aor, t0, fn); !errors.Is(err, errDisk) {
			t.Fatalf("Update during the outage: %v, want %v", err, errDisk)
		}
		if got := contactsOf(mustLookup(t, s, aor, t0)); !slices.Equal(got, []string{"sip:x@h"}) {
			t.Fatalf("memory during the outage = %q, want the acknowledged [sip:x@h]", got)
		}
	}
	if err := s.Ready(); !errors.Is(err, errDisk) {
		t.Errorf("Ready during the outage = %v, want %v", err, errDisk)
	}

	f.setHook(nil)
	f.mu.Lock()
	f.readErr = nil
	f.mu.Unlock()
	mustUpdate(t, s, "sip:bob@example.com", t0, binding("sip:b@h"))
	if err := s.Ready(); err != nil {
		t.Errorf("Ready after the outage: %v", err)
	}
}

// TestFailedCommitWithLaterChangeQueued: when a later change of the same
// AOR is already queued, it (not a reload) settles the AOR, because it
// carries memory's current set to the database.
func TestFailedCommitWithLaterChangeQueued(t *testing.T) {
	const aor = "sip:alice@example.com"
	s, f := openFlaky(t)
	mustUpdate(t, s, aor, t0, binding("sip:x@h"))

	// The first commit (y's) waits for release and fails; the second
	// (z's) waits until y's Update has returned, so that a wrong reload of
	// y's AOR cannot hide behind z's commit.
	held, release, yReturned := make(chan struct{}), make(chan struct{}), make(chan struct{})
	var commits atomic.Int32
	f.setHook(func([]*change) error {
		if commits.Add(1) == 1 {
			close(held)
			<-release
			return errDisk
		}
		<-yReturned
		return nil
	})

	errY := make(chan error, 1)
	go func() {
		_, err := s.Update(context.Background(), aor, t0, appendContact("sip:y@h"))
		errY <- err
		close(yReturned)
	}()
	<-held // y's group is committing (and will fail)
	errZ := make(chan error, 1)
	go func() {
		_, err := s.Update(context.Background(), aor, t0, appendContact("sip:z@h"))
		errZ <- err
	}()
	waitFor(t, func() bool { return len(s.w.queue) == 1 }) // z is queued behind it
	close(release)

	if err := <-errY; !errors.Is(err, errDisk) {
		t.Errorf("y: error = %v, want %v", err, errDisk)
	}
	if err := <-errZ; err != nil {
		t.Errorf("z: %v", err)
	}
	// z was built on memory's x,y and committed whole: y is durable after all.
	want := []string{"sip:x@h", "sip:y@h", "sip:z@h"}
	if got := contactsOf(mustLookup(t, s, aor, t0)); !slices.Equal(got, want) {
		t.Errorf("memory = %q, want %q", got, want)
	}
	onDisk, err := s.db.read(context.Background(), aor)
	if err != nil {
		t.Fatal(err)
	}
	if got := contactsOf(onDisk); !slices.Equal(got, want) {
		t.Errorf("database = %q, want %q", got, want)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting")
		}
	}
}

// TestFailedPurgeKeepsMemory: if the database purge fails, memory keeps
// the bindings too, so the two never disagree about what is registered.
func TestFailedPurgeKeepsMemory(t *testing.T) {
	s, f := openFlaky(t)
	mustUpdate(t, s, "sip:a@example.com", t0, binding("sip:x@h"))
	f.setHook(func([]*change) error { return errDisk })
	if _, err := s.Expire(context.Background(), t0.Add(2*time.Hour)); !errors.Is(err, errDisk) {
		t.Fatalf("Expire error = %v, want %v", err, errDisk)
	}
	if b, _ := s.Count(); b != 1 {
		t.Errorf("Count() = %d after failed purge, want 1", b)
	}
}

// TestGroupCommit: changes waiting together are committed together, and a
// group writes only each AOR's last change.
func TestGroupCommit(t *testing.T) {
	s, f := openFlaky(t)
	held, release := make(chan struct{}), make(chan struct{})
	var (
		mu     sync.Mutex
		groups [][]string
		once   sync.Once
	)
	f.setHook(func(cs []*change) error {
		once.Do(func() { close(held); <-release })
		var g []string
		for _, c := range cs {
			g = append(g, c.aor)
		}
		mu.Lock()
		groups = append(groups, g)
		mu.Unlock()
		return nil
	})
	var wg sync.WaitGroup
	update := func(aor, c string) {
		wg.Go(func() {
			if _, err := s.Update(context.Background(), aor, t0, appendContact(c)); err != nil {
				t.Error(err)
			}
		})
	}
	update("sip:first@example.com", "sip:1@h")
	<-held
	for i, aor := range []string{"sip:a@example.com", "sip:b@example.com", "sip:a@example.com"} {
		update(aor, "sip:"+string(rune('p'+i))+"@h")
		waitFor(t, func() bool { return len(s.w.queue) == i+1 })
	}
	close(release)
	wg.Wait()
	want := [][]string{{"sip:first@example.com"}, {"sip:b@example.com", "sip:a@example.com"}}
	if !slices.EqualFunc(groups, want, slices.Equal) {
		t.Errorf("groups written = %q, want %q", groups, want)
	}
	onDisk, _ := s.db.read(context.Background(), "sip:a@example.com")
	if got := contactsOf(onDisk); !slices.Equal(got, []string{"sip:p@h", "sip:r@h"}) {
		t.Errorf("a on disk = %q, want both of its changes' contacts", got)
	}
}

// holdFirstCommit makes the first commit wait until release is closed,
// and closes held when it starts waiting.
func holdFirstCommit(f *flaky) (held, release chan struct{}) {
	held, release = make(chan struct{}), make(chan struct{})
	var once sync.Once
	f.setHook(func([]*change) error {
		once.Do(func() { close(held); <-release })
		return nil
	})
	return held, release
}

// TestRefusedChangeFailsAlone: PostgreSQL refuses text that is not UTF-8,
// which memory and SQLite take. The REGISTER carrying it fails; the others
// committed in its group do not.
func TestRefusedChangeFailsAlone(t *testing.T) {
	requirePostgres(t)
	ctx := context.Background()
	db, err := openPgDB(ctx, postgresDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	s, f := openOver(t, db)
	held, release := holdFirstCommit(f)

	results := make(map[string]chan error)
	update := func(aor string, b location.Binding) {
		ch := make(chan error, 1)
		results[aor] = ch
		go func() {
			_, err := s.Update(ctx, aor, t0, replace(b))
			ch <- err
		}()
	}
	update("sip:first@example.com", binding("sip:1@h"))
	<-held
	bad := binding("sip:bad@h")
	bad.UserAgent = "evil\xff\x00agent"
	for i, aor := range []string{"sip:a@example.com", "sip:bad@example.com", "sip:b@example.com"} {
		b := binding("sip:ok@h")
		if aor == "sip:bad@example.com" {
			b = bad
		}
		update(aor, b)
		waitFor(t, func() bool { return len(s.w.queue) == i+1 })
	}
	close(release)
	for aor, ch := range results {
		err := <-ch
		if (aor == "sip:bad@example.com") != (err != nil) {
			t.Errorf("%s: Update error = %v", aor, err)
		}
	}
	if got := mustLookup(t, s, "sip:bad@example.com", t0); len(got) != 0 {
		t.Errorf("refused binding is in memory: %+v", got)
	}
	for _, aor := range []string{"sip:a@example.com", "sip:b@example.com"} {
		if onDisk, _ := db.read(ctx, aor); len(onDisk) != 1 {
			t.Errorf("%s: %d rows on disk, want 1", aor, len(onDisk))
		}
	}
}

// TestDuplicateContactsKeepLast: a contact is one binding per AOR, in
// memory as in the database's key; the later duplicate wins.
func TestDuplicateContactsKeepLast(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		const aor = "sip:alice@example.com"
		s := e.open(t, openAt(t0))
		first, second := binding("sip:a@h"), binding("sip:a@h")
		first.CSeq, second.CSeq = 1, 2
		mustUpdate(t, s, aor, t0, first, binding("sip:b@h"), second)
		check := func(what string, bs []location.Binding) {
			t.Helper()
			if got := contactsOf(bs); !slices.Equal(got, []string{"sip:a@h", "sip:b@h"}) {
				t.Fatalf("%s: contacts %q, want [sip:a@h sip:b@h]", what, got)
			}
			for _, b := range bs {
				if b.Contact == "sip:a@h" && b.CSeq != 2 {
					t.Errorf("%s: kept CSeq %d, want the later binding's 2", what, b.CSeq)
				}
			}
		}
		check("memory", mustLookup(t, s, aor, t0))
		s.Close()
		check("after reopen", mustLookup(t, e.open(t, openAt(t0)), aor, t0))
	})
}
