package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/parley-sip/parley/subscriber"
)

const userUsage = `Usage:
  parley user add USER@DOMAIN [flags]      add a subscriber
  parley user passwd USER@DOMAIN [flags]   change a subscriber's password
  parley user del USER@DOMAIN [flags]      delete a subscriber
  parley user list [DOMAIN] [flags]        list subscribers, of one domain or all
  parley user import [flags] < FILE        add or update subscribers in bulk

The password is asked for at the terminal, without echo, or read from the
first line of standard input with --password-stdin. Only its digest hashes
(MD5 and SHA-256 HA1) are stored.

import reads "USER@DOMAIN PASSWORD" lines from standard input: the password
is the rest of the line after the blanks that follow the address. Blank
lines and lines starting with # are skipped. Every line is checked before
any is stored; existing subscribers get the new password.

Flags:
  --data-dir DIR          where the SQLite database lives (default ./parley-data)
  --db sqlite|postgres    the database engine (default sqlite)
  --dsn DSN               the PostgreSQL connection string (default $PARLEY_DSN,
                          which keeps its password out of the process list)
  --password-stdin        read the password from standard input
`

// userOpts are the flags of every user subcommand.
type userOpts struct {
	dataDir, db, dsn string
	passwordStdin    bool
}

// userIO is where a subcommand reads the password and writes its output.
type userIO struct {
	stdin          io.Reader
	stdout, stderr io.Writer
}

// userAction runs one subcommand against an open store.
type userAction func(ctx context.Context, s subscriber.Store, o *userOpts, args []string, uio userIO) error

// userActions maps each subcommand to its action and how many arguments
// it takes (min, max).
var userActions = map[string]struct {
	run      userAction
	min, max int
}{
	"add":    {userAdd, 1, 1},
	"passwd": {userPasswd, 1, 1},
	"del":    {userDel, 1, 1},
	"list":   {userList, 0, 1},
	"import": {userImport, 0, 0},
}

// errUsage marks a mistake in the command line, which exits with 2.
var errUsage = errors.New("usage")

// userCommand runs "parley user …" and returns the exit status: 0 done,
// 1 failed, 2 misused.
func userCommand(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		w, code := stderr, 2
		if len(args) > 0 {
			w, code = stdout, 0
		}
		fmt.Fprint(w, userUsage)
		return code
	}
	action, ok := userActions[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "parley user: unknown subcommand %q\n\n%s", args[0], userUsage)
		return 2
	}
	o, pos, err := parseUserFlags(args[1:], stderr)
	if err == nil && (len(pos) < action.min || len(pos) > action.max) {
		err = fmt.Errorf("%s takes %d to %d arguments, got %d", args[0], action.min, action.max, len(pos))
	}
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(stderr, "parley user %s: %v\n\n%s", args[0], err, userUsage)
		}
		return 2
	}
	if err := runUserAction(action.run, o, pos, userIO{stdin, stdout, stderr}); err != nil {
		fmt.Fprintf(stderr, "parley user %s: %v\n", args[0], err)
		if errors.Is(err, errUsage) {
			return 2
		}
		return 1
	}
	return 0
}

func runUserAction(run userAction, o *userOpts, pos []string, uio userIO) error {
	ctx := context.Background()
	store, err := subscriber.Open(ctx, o.db, o.dataDir, o.dsn)
	if err != nil {
		return err
	}
	defer store.Close()
	return run(ctx, store, o, pos, uio)
}

// parseUserFlags parses flags wherever they stand: people type
// "user add alice@example.com --password-stdin" as often as the other way
// round, and package flag alone stops at the first argument.
func parseUserFlags(args []string, stderr io.Writer) (*userOpts, []string, error) {
	o := &userOpts{}
	fs := flag.NewFlagSet("user", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, userUsage) }
	fs.StringVar(&o.dataDir, "data-dir", "./parley-data", "")
	fs.StringVar(&o.db, "db", "sqlite", "")
	fs.StringVar(&o.dsn, "dsn", os.Getenv("PARLEY_DSN"), "")
	fs.BoolVar(&o.passwordStdin, "password-stdin", false, "")
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, nil, err
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if o.db != "sqlite" && o.db != "postgres" {
		return nil, nil, fmt.Errorf("--db %q: want sqlite or postgres", o.db)
	}
	return o, pos, nil
}

// parseAOR is subscriber.ParseAOR with a usage error.
func parseAOR(s string) (user, domain string, err error) {
	user, domain, err = subscriber.ParseAOR(s)
	if err != nil {
		return "", "", fmt.Errorf("%w: %q is not USER@DOMAIN", errUsage, s)
	}
	return user, domain, nil
}

func userAdd(ctx context.Context, s subscriber.Store, o *userOpts, args []string, uio userIO) error {
	user, domain, err := parseAOR(args[0])
	if err != nil {
		return err
	}
	if ok, err := s.Exists(ctx, user, domain); err != nil {
		return err
	} else if ok {
		return fmt.Errorf("%s@%s already exists (use passwd to change its password)", user, domain)
	}
	pw, err := readPassword(o, uio, user+"@"+domain)
	if err != nil {
		return err
	}
	if err := s.Put(ctx, subscriber.New(user, domain, pw)); err != nil {
		return err
	}
	fmt.Fprintf(uio.stdout, "added %s@%s\n", user, domain)
	return nil
}

func userPasswd(ctx context.Context, s subscriber.Store, o *userOpts, args []string, uio userIO) error {
	user, domain, err := parseAOR(args[0])
	if err != nil {
		return err
	}
	old, err := s.Get(ctx, user, domain)
	if errors.Is(err, subscriber.ErrNotFound) {
		return fmt.Errorf("no subscriber %s@%s", user, domain)
	} else if err != nil {
		return err
	}
	pw, err := readPassword(o, uio, user+"@"+domain)
	if err != nil {
		return err
	}
	sub := subscriber.New(user, domain, pw)
	sub.Created = old.Created
	if err := s.Put(ctx, sub); err != nil {
		return err
	}
	fmt.Fprintf(uio.stdout, "changed the password of %s@%s\n", user, domain)
	return nil
}

func userDel(ctx context.Context, s subscriber.Store, _ *userOpts, args []string, uio userIO) error {
	user, domain, err := parseAOR(args[0])
	if err != nil {
		return err
	}
	err = s.Delete(ctx, user, domain)
	if errors.Is(err, subscriber.ErrNotFound) {
		return fmt.Errorf("no subscriber %s@%s", user, domain)
	} else if err != nil {
		return err
	}
	fmt.Fprintf(uio.stdout, "deleted %s@%s\n", user, domain)
	return nil
}

// userList prints one subscriber a line, "user@domain<TAB>created", so
// that scripts can cut the first column.
func userList(ctx context.Context, s subscriber.Store, _ *userOpts, args []string, uio userIO) error {
	domain := ""
	if len(args) == 1 {
		domain = args[0]
	}
	subs, err := s.List(ctx, domain)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(uio.stdout)
	for _, sub := range subs {
		fmt.Fprintf(w, "%s\t%s\n", sub.AOR(), sub.Created.UTC().Format(time.RFC3339))
	}
	return w.Flush()
}

// userImport adds or updates the subscribers listed on standard input,
// for provisioning many at once (a migration, a test bed). It reads the
// whole list before storing any of it so that a typo on line 900 does
// not leave 899 subscribers half-imported.
func userImport(ctx context.Context, s subscriber.Store, _ *userOpts, _ []string, uio userIO) error {
	subs, err := readImport(uio.stdin)
	if err != nil {
		return err
	}
	for _, sub := range subs {
		if old, err := s.Get(ctx, sub.User, sub.Domain); err == nil {
			sub.Created = old.Created
		} else if !errors.Is(err, subscriber.ErrNotFound) {
			return err
		}
		if err := s.Put(ctx, sub); err != nil {
			return fmt.Errorf("%s: %w", sub.AOR(), err)
		}
	}
	fmt.Fprintf(uio.stdout, "imported %d subscribers\n", len(subs))
	return nil
}

// readImport parses import's input, naming the line of the first error.
func readImport(r io.Reader) ([]subscriber.Subscriber, error) {
	var subs []subscriber.Subscriber
	seen := map[string]int{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), "\r")
		if t := strings.TrimSpace(line); t == "" || t[0] == '#' {
			continue
		}
		aor, pw := strings.TrimLeft(line, " \t"), ""
		if i := strings.IndexAny(aor, " \t"); i >= 0 {
			aor, pw = aor[:i], strings.TrimLeft(aor[i:], " \t")
		}
		user, domain, err := subscriber.ParseAOR(aor)
		if err != nil {
			return nil, fmt.Errorf("standard input line %d: %q is not USER@DOMAIN", n, aor)
		}
		if pw == "" {
			return nil, fmt.Errorf("standard input line %d: no password after %s", n, aor)
		}
		sub := subscriber.New(user, domain, pw)
		if first, dup := seen[sub.AOR()]; dup {
			return nil, fmt.Errorf("standard input line %d: %s is already on line %d", n, sub.AOR(), first)
		}
		seen[sub.AOR()] = n
		subs = append(subs, sub)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("standard input: %w", err)
	}
	return subs, nil
}

// readPassword takes the password from standard input with
// --password-stdin, else from the terminal without echo, asking twice
// since a typo there cannot be seen. It refuses to read a password from a
// pipe unasked: a script that forgot the flag should fail, not hang or
// swallow its next input.
func readPassword(o *userOpts, uio userIO, aor string) (string, error) {
	if o.passwordStdin {
		return readPasswordLine(uio.stdin)
	}
	f, ok := uio.stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return "", fmt.Errorf("%w: standard input is not a terminal; pass --password-stdin to read the password from it", errUsage)
	}
	pw, err := promptPassword(f, uio.stderr, "Password for "+aor+": ")
	if err != nil {
		return "", err
	}
	again, err := promptPassword(f, uio.stderr, "Retype the password: ")
	if err != nil {
		return "", err
	}
	if pw != again {
		return "", errors.New("the passwords do not match")
	}
	return pw, nil
}

func promptPassword(f *os.File, w io.Writer, prompt string) (string, error) {
	fmt.Fprint(w, prompt)
	b, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(w)
	if err != nil {
		return "", err
	}
	if len(b) == 0 {
		return "", errors.New("empty password")
	}
	return string(b), nil
}

// readPasswordLine reads the first line of r, without its line ending.
func readPasswordLine(r io.Reader) (string, error) {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("empty password on standard input")
	}
	return line, nil
}
