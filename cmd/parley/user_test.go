package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parley-sip/parley/subscriber"
	"github.com/parley-sip/parley/subscriber/storetest"
)

// runUser runs "parley user args…" with stdin and returns the exit
// status and what was written.
func runUser(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = userCommand(args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

// mustUser runs a command that must succeed.
func mustUser(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	code, out, errs := runUser(t, stdin, args...)
	if code != 0 {
		t.Fatalf("parley user %s: exit %d\n%s", strings.Join(args, " "), code, errs)
	}
	return out
}

// storedSubscriber opens the SQLite database of dir and reads a subscriber.
func storedSubscriber(t *testing.T, dir, user, domain string) subscriber.Subscriber {
	t.Helper()
	s, err := subscriber.OpenSQLite(filepath.Join(dir, subscriber.DBFile))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sub, err := s.Get(context.Background(), user, domain)
	if err != nil {
		t.Fatalf("Get(%s@%s): %v", user, domain, err)
	}
	return sub
}

func TestUserAddStoresHashesOnly(t *testing.T) {
	dir := t.TempDir()
	out := mustUser(t, "s3cret\r\n", "add", "alice@Example.com", "--password-stdin", "--data-dir", dir)
	if !strings.Contains(out, "alice@example.com") {
		t.Fatalf("add printed %q", out)
	}
	sub := storedSubscriber(t, dir, "alice", "example.com")
	if sub.HA1MD5 != subscriber.HA1("MD5", "alice", "example.com", "s3cret") ||
		sub.HA1SHA256 != subscriber.HA1("SHA-256", "alice", "example.com", "s3cret") {
		t.Fatalf("stored %+v: hashes are not of the password without its line ending", sub)
	}
}

func TestUserAddTwiceFails(t *testing.T) {
	dir := t.TempDir()
	mustUser(t, "pw\n", "add", "--data-dir", dir, "--password-stdin", "alice@example.com")
	code, _, errs := runUser(t, "other\n", "add", "--data-dir", dir, "--password-stdin", "alice@example.com")
	if code != 1 || !strings.Contains(errs, "already exists") {
		t.Fatalf("second add: exit %d, %q", code, errs)
	}
	if sub := storedSubscriber(t, dir, "alice", "example.com"); sub.HA1MD5 != subscriber.HA1("MD5", "alice", "example.com", "pw") {
		t.Fatal("a failed add changed the password")
	}
}

// TestUserPasswordInput: a pipe without --password-stdin is
// refused rather than read, and an empty password is refused.
func TestUserPasswordInput(t *testing.T) {
	dir := t.TempDir()
	code, _, errs := runUser(t, "pw\n", "add", "alice@example.com", "--data-dir", dir)
	if code != 2 || !strings.Contains(errs, "--password-stdin") {
		t.Fatalf("add from a pipe without the flag: exit %d, %q", code, errs)
	}
	code, _, errs = runUser(t, "\n", "add", "alice@example.com", "--data-dir", dir, "--password-stdin")
	if code != 1 || !strings.Contains(errs, "empty password") {
		t.Fatalf("empty password: exit %d, %q", code, errs)
	}
	// No newline at the end of input is fine.
	mustUser(t, "pw", "add", "alice@example.com", "--data-dir", dir, "--password-stdin")
}

func TestUserPasswd(t *testing.T) {
	dir := t.TempDir()
	mustUser(t, "old\n", "add", "alice@example.com", "--data-dir", dir, "--password-stdin")
	before := storedSubscriber(t, dir, "alice", "example.com")
	mustUser(t, "new\n", "passwd", "alice@example.com", "--data-dir", dir, "--password-stdin")
	after := storedSubscriber(t, dir, "alice", "example.com")
	if after.HA1SHA256 != subscriber.HA1("SHA-256", "alice", "example.com", "new") {
		t.Fatal("passwd did not change the hashes")
	}
	if !after.Created.Equal(before.Created) {
		t.Fatalf("passwd changed Created from %v to %v", before.Created, after.Created)
	}
	code, _, errs := runUser(t, "x\n", "passwd", "bob@example.com", "--data-dir", dir, "--password-stdin")
	if code != 1 || !strings.Contains(errs, "no subscriber") {
		t.Fatalf("passwd of an unknown user: exit %d, %q", code, errs)
	}
}

func TestUserDelAndList(t *testing.T) {
	dir := t.TempDir()
	for _, aor := range []string{"bob@b.example", "alice@b.example", "carol@a.example"} {
		mustUser(t, "pw\n", "add", aor, "--data-dir", dir, "--password-stdin")
	}
	lines := func(out string) []string {
		var aors []string
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			aors = append(aors, strings.Split(l, "\t")[0])
		}
		return aors
	}
	if got := lines(mustUser(t, "", "list", "--data-dir", dir)); strings.Join(got, " ") != "carol@a.example alice@b.example bob@b.example" {
		t.Fatalf("list = %v", got)
	}
	if got := lines(mustUser(t, "", "list", "B.example", "--data-dir", dir)); strings.Join(got, " ") != "alice@b.example bob@b.example" {
		t.Fatalf("list b.example = %v", got)
	}
	mustUser(t, "", "del", "alice@b.example", "--data-dir", dir)
	if got := lines(mustUser(t, "", "list", "b.example", "--data-dir", dir)); strings.Join(got, " ") != "bob@b.example" {
		t.Fatalf("list after del = %v", got)
	}
	code, _, errs := runUser(t, "", "del", "alice@b.example", "--data-dir", dir)
	if code != 1 || !strings.Contains(errs, "no subscriber") {
		t.Fatalf("del of a deleted user: exit %d, %q", code, errs)
	}
}

// TestUserDefaultDataDir checks the database lands in ./parley-data.
func TestUserDefaultDataDir(t *testing.T) {
	t.Chdir(t.TempDir())
	mustUser(t, "pw\n", "add", "alice@example.com", "--password-stdin")
	storedSubscriber(t, "parley-data", "alice", "example.com")
}

func TestUserUsageErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		args []string
		code int
	}{
		{"no subcommand", nil, 2},
		{"help", []string{"help"}, 0},
		{"unknown subcommand", []string{"rename", "a@b"}, 2},
		{"add without user", []string{"add", "--data-dir", dir}, 2},
		{"add two users", []string{"add", "a@b", "c@d", "--data-dir", dir}, 2},
		{"not an AOR", []string{"del", "alice", "--data-dir", dir}, 2},
		{"unknown flag", []string{"list", "--colour"}, 2},
		{"unknown engine", []string{"list", "--db", "mysql", "--data-dir", dir}, 2},
		{"postgres without dsn", []string{"list", "--db", "postgres", "--dsn", ""}, 1},
	}
	for _, tc := range tests {
		if code, _, errs := runUser(t, "", tc.args...); code != tc.code {
			t.Errorf("%s: exit %d, want %d\n%s", tc.name, code, tc.code, errs)
		}
	}
}

func TestUserPostgres(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	mustUser(t, "pw\n", "add", "alice@example.com", "--db", "postgres", "--dsn", dsn, "--password-stdin")
	if out := mustUser(t, "", "list", "--db", "postgres", "--dsn", dsn); !strings.HasPrefix(out, "alice@example.com\t") {
		t.Fatalf("list = %q", out)
	}
}

func TestUserImport(t *testing.T) {
	dir := t.TempDir()
	mustUser(t, "old\n", "add", "carol@a.example", "--data-dir", dir, "--password-stdin")
	before := storedSubscriber(t, dir, "carol", "a.example").Created
	in := "# bulk list\n\nalice@A.example  pass word \r\n\tbob@a.example\ts3cret\ncarol@a.example new\n"
	out := mustUser(t, in, "import", "--data-dir", dir)
	if !strings.Contains(out, "imported 3 subscribers") {
		t.Fatalf("import printed %q", out)
	}
	for _, c := range []struct{ user, pw string }{{"alice", "pass word "}, {"bob", "s3cret"}, {"carol", "new"}} {
		sub := storedSubscriber(t, dir, c.user, "a.example")
		if sub.HA1MD5 != subscriber.HA1("MD5", c.user, "a.example", c.pw) {
			t.Errorf("%s: hash is not of password %q", c.user, c.pw)
		}
	}
	if got := storedSubscriber(t, dir, "carol", "a.example").Created; !got.Equal(before) {
		t.Errorf("carol's creation time moved from %v to %v on update", before, got)
	}
}

func TestUserImportRefusesBadLines(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"no domain", "alice@a.example pw\nbob pw\n", "line 2: \"bob\" is not USER@DOMAIN"},
		{"no password", "alice@a.example\n", "line 1: no password after alice@a.example"},
		{"blank password", "alice@a.example   \n", "line 1: no password"},
		{"twice", "alice@a.example x\n\nalice@A.EXAMPLE y\n", "line 3: alice@a.example is already on line 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			code, _, errs := runUser(t, tc.in, "import", "--data-dir", dir)
			if code != 1 || !strings.Contains(errs, tc.want) {
				t.Fatalf("exit %d, stderr %q; want 1 and %q", code, errs, tc.want)
			}
			if out := mustUser(t, "", "list", "--data-dir", dir); out != "" {
				t.Fatalf("a refused import stored %q", out)
			}
		})
	}
}

// writeFile writes a file under a fresh temporary directory.
func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestUserReadsTheServersConfig: with --config, users go where "parley
// serve --config" looks: data_dir, or PostgreSQL from storage.
func TestUserReadsTheServersConfig(t *testing.T) {
	dir := t.TempDir()
	cfg := writeFile(t, "parley.yaml", "data_dir: "+dir+"\ndomains: [example.com]\n")
	out := mustUser(t, "pw\n", "add", "--config", cfg, "--password-stdin", "alice@example.com")
	if want := "added alice@example.com to sqlite " + filepath.Join(dir, "parley.db"); !strings.Contains(out, want) {
		t.Errorf("add printed %q, want %q", out, want)
	}
	storedSubscriber(t, dir, "alice", "example.com")

	other := t.TempDir()
	mustUser(t, "pw\n", "add", "--config", cfg, "--data-dir", other, "--password-stdin", "bob@example.com")
	storedSubscriber(t, other, "bob", "example.com")

	dsn := storetest.PostgresDSN(t)
	pg := writeFile(t, "pg.yaml", "storage:\n  engine: postgres\n  dsn: "+dsn+"\n")
	mustUser(t, "pw\n", "add", "--config", pg, "--password-stdin", "carol-cfg@example.com")
	if out := mustUser(t, "", "list", "--db", "postgres", "--dsn", dsn); !strings.Contains(out, "carol-cfg@example.com\t") {
		t.Errorf("the config's PostgreSQL does not hold the user: %q", out)
	}
	mustUser(t, "", "del", "--config", pg, "carol-cfg@example.com")
}

func TestUserWarnsOfUnservedDomain(t *testing.T) {
	cfg := writeFile(t, "parley.yaml", "data_dir: "+t.TempDir()+"\ndomains: [example.com]\n")
	for _, tc := range []struct {
		name, stdin string
		args        []string
		warn        bool
	}{
		{"served", "pw\n", []string{"add", "alice@Example.COM", "--password-stdin"}, false},
		{"not served", "pw\n", []string{"add", "alice@example.org", "--password-stdin"}, true},
		{"passwd", "pw2\n", []string{"passwd", "alice@example.org", "--password-stdin"}, true},
		{"import", "bob@example.org pw\ncarol@example.org pw\n", []string{"import"}, true},
	} {
		code, _, errs := runUser(t, tc.stdin, append(tc.args, "--config", cfg)...)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", tc.name, code, errs)
		}
		warned := strings.Contains(errs, "warning: example.org is not one of the domains the server serves (example.com)")
		if warned != tc.warn || strings.Count(errs, "warning") > 1 {
			t.Errorf("%s: stderr %q, want a warning: %v (once)", tc.name, errs, tc.warn)
		}
	}
}

// TestUserWarningNamesServeDomain: a server started with --domain serves
// a domain its config lacks; the warning must not read as a dead end.
func TestUserWarningNamesServeDomain(t *testing.T) {
	code, _, errs := runUser(t, "pw\n", "add", "alice@example.com", "--password-stdin", "--data-dir", t.TempDir())
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if !strings.Contains(errs, "no domains are configured") || !strings.Contains(errs, "serve runs with --domain example.com") {
		t.Errorf("stderr %q, want the warning to name serve --domain example.com", errs)
	}
}

func TestUserListEmpty(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"list"}, "no subscribers in sqlite " + filepath.Join(dir, "parley.db")},
		{[]string{"list", "Example.com"}, "no subscribers of example.com in sqlite"},
	} {
		code, out, errs := runUser(t, "", append(tc.args, "--data-dir", dir)...)
		if code != 0 || out != "" || !strings.Contains(errs, tc.want) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want 0, nothing, %q", tc.args, code, out, errs, tc.want)
		}
	}
}

func TestUserRefusesMemoryStorage(t *testing.T) {
	cfg := writeFile(t, "parley.yaml", "storage:\n  engine: memory\n")
	code, _, errs := runUser(t, "", "list", "--config", cfg)
	if code != 1 || !strings.Contains(errs, "storage.engine is memory") {
		t.Errorf("exit %d, %q", code, errs)
	}
}

// With no domains configured the server serves only its own names and
// addresses, so a user of any other domain is worth a warning.
func TestUserWarnsWithoutDomains(t *testing.T) {
	cfg := writeFile(t, "parley.yaml", "data_dir: "+t.TempDir()+"\nlisten: [udp:127.0.0.1:5060]\n")
	for _, tc := range []struct {
		user string
		warn bool
	}{{"alice@127.0.0.1", false}, {"bob@localhost", false}, {"carol@example.com", true}} {
		code, _, errs := runUser(t, "pw\n", "add", tc.user, "--password-stdin", "--config", cfg)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", tc.user, code, errs)
		}
		if warned := strings.Contains(errs, "no domains are configured, so only its own names and addresses"); warned != tc.warn {
			t.Errorf("%s: stderr %q, want a warning: %v", tc.user, errs, tc.warn)
		}
	}
}
