package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/parley-sip/parley/clock"
	"github.com/parley-sip/parley/config"
	"github.com/parley-sip/parley/presence/watchers"
	"github.com/parley-sip/parley/server"
)

const watchersUsage = `Usage:
  parley watchers allow USER@DOMAIN WATCHER [flags]   let WATCHER see USER's presence and lamps
  parley watchers block USER@DOMAIN WATCHER [flags]   refuse WATCHER's subscriptions to USER
  parley watchers remove USER@DOMAIN WATCHER [flags]  take WATCHER off USER's lists
  parley watchers list [USER@DOMAIN] [flags]          list one user's entries, or everyone's

WATCHER is an address (carol@example.net) or a whole domain (example.net).
Without an entry, users of the same domain may watch each other and anyone
else waits, pending, until the user allows them; a watcher's own entry
counts before its domain's, and block before allow (see "Who may watch
whom" in the README). A running server applies a change within 2 s.

The lists are kept where "parley serve" with the same --config and
--data-dir keeps its state: storage.engine and storage.dsn of the config
file (SQLite in data_dir/parley.db by default, or PostgreSQL).

Flags:
  --config FILE           the server's YAML configuration file
  --data-dir DIR          overrides data_dir (default ./parley-data)
  --db sqlite|postgres    overrides storage.engine
  --dsn DSN               overrides storage.dsn; for postgres without one, $PARLEY_DSN
`

// watchersArgs is how many arguments each subcommand takes (min, max).
var watchersArgs = map[string][2]int{"allow": {2, 2}, "block": {2, 2}, "remove": {2, 2}, "list": {0, 1}}

// watchersCommand runs "parley watchers …" and returns the exit status:
// 0 done, 1 failed, 2 misused.
func watchersCommand(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		w, code := stderr, 2
		if len(args) > 0 {
			w, code = stdout, 0
		}
		fmt.Fprint(w, watchersUsage)
		return code
	}
	n, ok := watchersArgs[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "parley watchers: unknown subcommand %q\n\n%s", args[0], watchersUsage)
		return 2
	}
	o, pos, err := parseWatchersFlags(args[1:], stderr)
	if err == nil && (len(pos) < n[0] || len(pos) > n[1]) {
		err = fmt.Errorf("%s takes %d to %d arguments, got %d", args[0], n[0], n[1], len(pos))
	}
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(stderr, "parley watchers %s: %v\n\n%s", args[0], err, watchersUsage)
		}
		return 2
	}
	if err := runWatchers(args[0], o, pos, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "parley watchers %s: %v\n", args[0], err)
		if errors.Is(err, errUsage) {
			return 2
		}
		return 1
	}
	return 0
}

// parseWatchersFlags parses flags wherever they stand, as the user
// command does.
func parseWatchersFlags(args []string, stderr io.Writer) (*userOpts, []string, error) {
	o := &userOpts{}
	fs := flag.NewFlagSet("watchers", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, watchersUsage) }
	fs.StringVar(&o.config, "config", "", "")
	fs.StringVar(&o.dataDir, "data-dir", "", "")
	fs.StringVar(&o.db, "db", "", "")
	fs.StringVar(&o.dsn, "dsn", "", "")
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

// runWatchers checks the arguments, opens the store and runs one
// subcommand.
func runWatchers(cmd string, o *userOpts, pos []string, stdout, stderr io.Writer) error {
	var user, watcher string
	var err error
	if len(pos) > 0 {
		if user, err = watchers.ParseUser(pos[0]); err != nil {
			return fmt.Errorf("%w: %q is not USER@DOMAIN", errUsage, pos[0])
		}
	}
	if len(pos) > 1 {
		if watcher, err = watchers.ParseWatcher(pos[1]); err != nil {
			return fmt.Errorf("%w: %q is neither USER@DOMAIN nor a DOMAIN", errUsage, pos[1])
		}
	}
	cfg, err := loadConfig(o.config, o.dataDir, o.apply)
	if err != nil {
		return err
	}
	if cfg.Storage.Engine == config.EngineMemory {
		return errors.New("storage.engine is memory, which keeps no lists; use sqlite or postgres")
	}
	ctx := context.Background()
	store, err := watchers.Open(ctx, string(cfg.Storage.Engine), cfg.DataDir, cfg.Storage.DSN, clock.Default())
	if err != nil {
		return fmt.Errorf("%s: %w", server.StorageName(cfg), err)
	}
	defer store.Close()
	switch cmd {
	case "allow", "block":
		if err := store.Put(ctx, watchers.Entry{User: user, Watcher: watcher, List: watchers.List(cmd)}); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: %s on the %s list (%s)\n", user, watcher, cmd, server.StorageName(cfg))
	case "remove":
		ok, err := store.Remove(ctx, user, watcher)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("%s is on neither of %s's lists", watcher, user)
		}
		fmt.Fprintf(stdout, "%s: %s removed\n", user, watcher)
	case "list":
		es, err := store.List(ctx, user)
		if err != nil {
			return err
		}
		for _, e := range es {
			fmt.Fprintf(stdout, "%s\t%s\t%s\n", e.User, e.List, e.Watcher)
		}
		if len(es) == 0 {
			// As "parley user list" does: silence would not tell an empty
			// list from a command that read another database.
			of := ""
			if user != "" {
				of = " for " + user
			}
			fmt.Fprintf(stderr, "no watcher entries%s in %s\n", of, server.StorageName(cfg))
		}
	}
	return nil
}
