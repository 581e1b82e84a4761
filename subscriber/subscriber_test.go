package subscriber_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/parley-sip/parley/subscriber"
	"github.com/parley-sip/parley/subscriber/storetest"
)

func TestMemory(t *testing.T) {
	storetest.Run(t, func(t *testing.T) subscriber.Store {
		s := subscriber.NewMemory()
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestSQLite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) subscriber.Store {
		s, err := subscriber.OpenSQLite(filepath.Join(t.TempDir(), "parley.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestPostgres(t *testing.T) {
	storetest.RequirePostgres(t)
	storetest.Run(t, func(t *testing.T) subscriber.Store {
		s, err := subscriber.OpenPostgres(context.Background(), storetest.PostgresDSN(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// TestHA1 checks the hashes against RFC 2617 §3.5 and RFC 7616 §3.9.1,
// whose examples give HA1 only implicitly: these are the values their
// published responses are computed from.
func TestHA1(t *testing.T) {
	tests := []struct{ alg, user, realm, pw, want string }{
		{"MD5", "Mufasa", "testrealm@host.com", "Circle Of Life", "939e7578ed9e3c518a452acee763bce9"},
		{"MD5", "Mufasa", "http-auth@example.org", "Circle of Life", "3d78807defe7de2157e2b0b6573a855f"},
		{"sha-256", "Mufasa", "http-auth@example.org", "Circle of Life", "7987c64c30e25f1b74be53f966b49b90f2808aa92faf9a00262392d7b4794232"},
		{"SHA-512", "Mufasa", "x", "y", ""},
	}
	for _, tc := range tests {
		if got := subscriber.HA1(tc.alg, tc.user, tc.realm, tc.pw); got != tc.want {
			t.Errorf("HA1(%s, %s, %s) = %s, want %s", tc.alg, tc.user, tc.realm, got, tc.want)
		}
	}
}

func TestNewLowersDomain(t *testing.T) {
	s := subscriber.New("alice", "Example.COM", "pw")
	if s.Domain != "example.com" || s.HA1MD5 != subscriber.HA1("MD5", "alice", "example.com", "pw") {
		t.Fatalf("New = %+v: want domain and realm in lower case", s)
	}
	if s.HA1("sha-256") != s.HA1SHA256 || s.HA1("MD5") != s.HA1MD5 || s.HA1("SHA-512-256") != "" {
		t.Fatal("Subscriber.HA1 picks the wrong hash")
	}
}

func TestParseAOR(t *testing.T) {
	tests := []struct{ in, user, domain string }{
		{"alice@example.com", "alice", "example.com"},
		{"sip:Alice@Example.COM", "Alice", "example.com"},
		{"SIPS:bob@example.org", "bob", "example.org"},
		{" carol+x@example.com ", "carol+x", "example.com"},
	}
	for _, tc := range tests {
		u, d, err := subscriber.ParseAOR(tc.in)
		if err != nil || u != tc.user || d != tc.domain {
			t.Errorf("ParseAOR(%q) = %q, %q, %v; want %q, %q", tc.in, u, d, err, tc.user, tc.domain)
		}
	}
	for _, bad := range []string{"", "alice", "@example.com", "alice@", "al ice@example.com", "alice@exa mple.com", "a:b@example.com"} {
		if _, _, err := subscriber.ParseAOR(bad); err == nil {
			t.Errorf("ParseAOR(%q) succeeded, want an error", bad)
		}
	}
}

// TestSQLiteSurvivesReopen checks that data and schema version persist and
// that opening an up-to-date database does not run migrations again.
func TestSQLiteSurvivesReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "parley.db")
	s, err := subscriber.OpenSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.Put(ctx, subscriber.New("alice", "example.com", "pw")); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = subscriber.OpenSQLite(path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	if ok, err := s.Exists(ctx, "alice", "example.com"); !ok || err != nil {
		t.Fatalf("after reopen Exists = %v, %v; want true", ok, err)
	}
}

func TestSQLiteFileMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "parley.db")
	s, err := subscriber.OpenSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("database mode = %v, want 0600: it holds password equivalents", fi.Mode().Perm())
	}
}

func TestOpen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	s, err := subscriber.Open(context.Background(), "", dir, "")
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := os.Stat(filepath.Join(dir, subscriber.DBFile)); err != nil {
		t.Fatalf("Open did not create the database in the data directory: %v", err)
	}
	if _, err := subscriber.Open(context.Background(), "mysql", dir, ""); err == nil {
		t.Error("Open with an unknown engine succeeded")
	}
	if _, err := subscriber.Open(context.Background(), "postgres", dir, ""); err == nil {
		t.Error("Open of postgres without a DSN succeeded")
	}
}

func TestMemoryExistsNotFound(t *testing.T) {
	ok, err := subscriber.NewMemory().Exists(context.Background(), "x", "y")
	if ok || err != nil {
		t.Fatalf("Exists = %v, %v", ok, err)
	}
}
