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

	"github.com/parley-sip/parley/config"
	"github.com/parley-sip/parley/server"
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

The subscribers are kept where "parley serve" with the same --config and
--data-dir looks for them: storage.engine and storage.dsn of the config
file (SQLite in data_dir/parley.db by default, or PostgreSQL). A user of a
domain the config does not serve is stored with a warning: it cannot
register until the domain is added to domains.

Flags:
  --config FILE           the server's YAML configuration file
  --data-dir DIR          overrides data_dir (default ./parley-data)
  --db sqlite|postgres    overrides storage.engine
  --dsn DSN               overrides storage.dsn; for postgres without one,
                          $PARLEY_DSN (keeps the password out of the process list)
  --password-stdin        read the password from standard input
`

// userOpts are the flags of every user subcommand, and the configuration
// they resolve to.
type userOpts struct {
	config, dataDir, db, dsn string
	passwordStdin            bool

	cfg *config.Config // set by runUserAction
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
	cfg, err := loadConfig(o.config, o.dataDir, o.apply)
	if err != nil {
		return err
	}
	if cfg.Storage.Engine == config.EngineMemory {
		return errors.New("storage.engine is memory, which keeps no subscribers; use sqlite or postgres")
	}
	o.cfg = cfg
	ctx := context.Background()
	store, err := subscriber.Open(ctx, string(cfg.Storage.Engine), cfg.DataDir, cfg.Storage.DSN)
	if err != nil {
		return fmt.Errorf("%s: %w", server.StorageName(cfg), err)
	}
	defer store.Close()
	return run(ctx, store, o, pos, uio)
}

// apply lays --db and --dsn over the storage block. $PARLEY_DSN fills in
// only for postgres without a DSN, so that it cannot break a SQLite setup
// (storage.dsn is refused there).
func (o *userOpts) apply(cfg *config.Config) error {
	if o.db != "" {
		cfg.Storage.Engine = config.Engine(o.db)
	}
	if o.dsn != "" {
		cfg.Storage.DSN = o.dsn
	}
	if cfg.Storage.Engine == config.EnginePostgres && cfg.Storage.DSN == "" {
		cfg.Storage.DSN = os.Getenv("PARLEY_DSN")
	}
	return nil
}

// where names the store for messages, so that nobody wonders which
// database a user went to.
func (o *userOpts) where() string { return server.StorageName(o.cfg) }

// warnUnserved says when a domain is not one the server serves: its
// users could be added but would never register.
func (o *userOpts) warnUnserved(w io.Writer, domain string) {
	if server.Serves(o.cfg, domain) {
		return
	}
	served := strings.Join(o.cfg.Domains, ", ")
	if len(o.cfg.Domains) == 0 {
		served = "no domains are configured, so only its own names and addresses"
	}
	// The config cannot know of serve --domain, which the README's own
	// examples use: say so, or the warning reads as a dead end.
	fmt.Fprintf(w, "parley user: warning: %s is not one of the domains the server serves (%s); "+
		"its users cannot register until it is added to domains (ignore this if serve runs with --domain %s)\n",
		domain, served, domain)
}

// parseUserFlags parses flags wherever they stand: people type
// "user add alice@example.com --password-stdin" as often as the other way
// round, and package flag alone stops at the first argument.
func parseUserFlags(args []string, stderr io.Writer) (*userOpts, []string, error) {
	o := &userOpts{}
	fs := flag.NewFlagSet("user", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, userUsage) }
	fs.StringVar(&o.config, "config", "", "")
	fs.StringVar(&o.dataDir, "data-dir", "", "")
	fs.StringVar(&o.db, "db", "", "")
	fs.StringVar(&o.dsn, "dsn", "", "")
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
	if o.db != "" && o.db != "sqlite" && o.db != "postgres" {
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
	o.warnUnserved(uio.stderr, domain)
	pw, err := readPassword(o, uio, user+"@"+domain)
	if err != nil {
		return err
	}
	if err := s.Put(ctx, subscriber.New(user, domain, pw)); err != nil {
		return err
	}
	fmt.Fprintf(uio.stdout, "added %s@%s to %s\n", user, domain, o.where())
	return nil
}

func userPasswd(ctx context.Context, s subscriber.Store, o *userOpts, args []string, uio userIO) error {
	user, domain, err := parseAOR(args[0])
	if err != nil {
		return err
	}
	old, err := s.Get(ctx, user, domain)
	if errors.Is(err, subscriber.ErrNotFound) {
		return fmt.Errorf("no subscriber %s@%s in %s", user, domain, o.where())
	} else if err != nil {
		return err
	}
	o.warnUnserved(uio.stderr, domain)
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

func userDel(ctx context.Context, s subscriber.Store, o *userOpts, args []string, uio userIO) error {
	user, domain, err := parseAOR(args[0])
	if err != nil {
		return err
	}
	err = s.Delete(ctx, user, domain)
	if errors.Is(err, subscriber.ErrNotFound) {
		return fmt.Errorf("no subscriber %s@%s in %s", user, domain, o.where())
	} else if err != nil {
		return err
	}
	fmt.Fprintf(uio.stdout, "deleted %s@%s from %s\n", user, domain, o.where())
	return nil
}

// userList prints one subscriber a line, "user@domain<TAB>created", so
// that scripts can cut the first column. An empty list is said on
// standard error, which keeps standard output empty for those scripts.
func userList(ctx context.Context, s subscriber.Store, o *userOpts, args []string, uio userIO) error {
	domain := ""
	if len(args) == 1 {
		domain = args[0]
	}
	subs, err := s.List(ctx, domain)
	if err != nil {
		return err
	}
	if len(subs) == 0 {
		of := ""
		if domain != "" {
			of = " of " + strings.ToLower(domain)
		}
		fmt.Fprintf(uio.stderr, "no subscribers%s in %s\n", of, o.where())
		return nil
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
func userImport(ctx context.Context, s subscriber.Store, o *userOpts, _ []string, uio userIO) error {
	subs, err := readImport(uio.stdin)
	if err != nil {
		return err
	}
	warned := map[string]bool{}
	for _, sub := range subs {
		if !warned[sub.Domain] {
			warned[sub.Domain] = true
			o.warnUnserved(uio.stderr, sub.Domain)
		}
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
	fmt.Fprintf(uio.stdout, "imported %d subscribers to %s\n", len(subs), o.where())
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
