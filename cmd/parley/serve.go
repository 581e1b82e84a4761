package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/parley-sip/parley/config"
	"github.com/parley-sip/parley/eventlog"
	"github.com/parley-sip/parley/server"
)

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

// serveFlags are the command-line settings; each overrides its config key.
type serveFlags struct {
	config, dataDir, mode, logLevel string
	admin                           optionalString
	listen, domains                 stringList
	trace                           bool
}

// optionalString is a string flag that tells "not given" from "given
// empty": an empty --admin turns the admin listener off.
type optionalString struct {
	value string
	set   bool
}

func (o *optionalString) String() string     { return o.value }
func (o *optionalString) Set(v string) error { o.value, o.set = v, true; return nil }

func parseServeFlags(args []string) (*serveFlags, error) {
	f := &serveFlags{}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	// serve prints the usage: to stdout when asked for, after the error
	// otherwise.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.StringVar(&f.config, "config", "", "")
	fs.Var(&f.listen, "listen", "")
	fs.Var(&f.domains, "domain", "")
	fs.StringVar(&f.dataDir, "data-dir", "", "")
	fs.StringVar(&f.mode, "mode", "", "")
	fs.StringVar(&f.logLevel, "log-level", "", "")
	fs.Var(&f.admin, "admin", "")
	fs.BoolVar(&f.trace, "trace", false, "")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("serve: unexpected argument %q", fs.Arg(0))
	}
	return f, nil
}

// load reads the config file (or the built-in defaults) and lays the
// flags over it, then validates the result.
func (f *serveFlags) load() (*config.Config, error) {
	return loadConfig(f.config, f.dataDir, f.apply)
}

// apply lays the flags other than --config and --data-dir over cfg.
func (f *serveFlags) apply(cfg *config.Config) error {
	if len(f.listen) > 0 {
		cfg.Listen = nil
		for _, s := range f.listen {
			l, err := config.ParseListener(s)
			if err != nil {
				return fmt.Errorf("--listen %s: %w", s, err)
			}
			cfg.Listen = append(cfg.Listen, l)
		}
	}
	if len(f.domains) > 0 {
		cfg.Domains = append([]string(nil), f.domains...)
	}
	if f.mode != "" {
		cfg.Mode = config.Mode(f.mode)
	}
	if f.logLevel != "" {
		cfg.LogLevel = config.LogLevel(f.logLevel)
	}
	if f.admin.set {
		cfg.Admin.Listen = f.admin.value
	}
	if f.trace {
		cfg.Trace = true
	}
	return nil
}

// loadConfig is how every subcommand finds its configuration, so that
// "parley user" writes where "parley serve" reads: the file at path (or
// the built-in defaults), --data-dir over data_dir, then the command's
// own flags, then validation.
func loadConfig(path, dataDir string, apply func(*config.Config) error) (*config.Config, error) {
	cfg := config.Default()
	if path != "" {
		var err error
		if cfg, err = config.Load(path); err != nil {
			return nil, err
		}
	}
	if dataDir != "" {
		cfg.DataDir = dataDir
	}
	if err := apply(cfg); err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

func serve(args []string, stdout, stderr io.Writer) int {
	f, err := parseServeFlags(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, serveUsage)
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "parley: %v\n\n%s", err, serveUsage)
		return 2
	}
	cfg, err := f.load()
	if err != nil {
		fmt.Fprintln(stderr, "parley:", err)
		return 2
	}
	// Signals are caught from before the listeners open: a SIGTERM that
	// arrives once the first request could have been answered must drain,
	// not kill the process with the default action.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)
	level := new(slog.LevelVar)
	log := newLogger(cfg, stderr, level)
	srv, err := server.New(cfg, log, level)
	if err != nil {
		fmt.Fprintln(stderr, "parley:", err)
		return 1
	}
	if err := srv.Start(); err != nil {
		fmt.Fprintln(stderr, "parley:", err)
		return 1
	}
	return waitForSignals(sigs, srv, f, log)
}

// newLogger builds the server's logger from cfg and makes it the
// default, so that libraries that log through slog.Default or the
// standard library's log package write lines in the same format rather
// than lines of their own.
func newLogger(cfg *config.Config, w io.Writer, level *slog.LevelVar) *slog.Logger {
	level.Set(cfg.LogLevel.Slog())
	log := eventlog.New(w, string(cfg.LogFormat), level)
	slog.SetDefault(log)
	return log
}

// waitForSignals reloads on SIGHUP and drains on SIGTERM or SIGINT.
func waitForSignals(sigs <-chan os.Signal, srv *server.Server, f *serveFlags, log *slog.Logger) int {
	for sig := range sigs {
		if sig == syscall.SIGHUP {
			if next, err := f.load(); err != nil {
				srv.ReloadFailed(err)
			} else {
				_ = srv.Reload(next) // it logs what it did, or why it failed
			}
			continue
		}
		timeout := srv.Config().ShutdownTimeout.Duration()
		log.Info("stopping", "signal", sig.String(), "timeout", timeout.String())
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		err := srv.Shutdown(ctx)
		cancel()
		if err != nil {
			log.Warn("stopped with work in flight", "error", err)
		}
		log.Info("stopped")
		return 0
	}
	return 0
}

func checkConfig(args []string, stdout, stderr io.Writer) int {
	if len(args) != 1 {
		fmt.Fprintln(stderr, "usage: parley check-config FILE")
		return 2
	}
	if _, err := config.Load(args[0]); err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	fmt.Fprintln(stdout, args[0]+": ok")
	return 0
}
