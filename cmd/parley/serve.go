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
	listen, domains                 stringList
	trace                           bool
}

func parseServeFlags(args []string, stderr io.Writer) (*serveFlags, error) {
	f := &serveFlags{}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.config, "config", "", "YAML configuration file")
	fs.Var(&f.listen, "listen", "listen address PROTO:HOST:PORT, repeatable")
	fs.Var(&f.domains, "domain", "a domain this server serves, repeatable")
	fs.StringVar(&f.dataDir, "data-dir", "", "state directory")
	fs.StringVar(&f.mode, "mode", "", "stateful or stateless")
	fs.StringVar(&f.logLevel, "log-level", "", "debug, info, warn or error")
	fs.BoolVar(&f.trace, "trace", false, "log every SIP message")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("serve: unexpected argument %q", fs.Arg(0))
	}
	return f, nil
}

// load reads the config file (or the embedded default) and lays the
// flags over it, then validates the result.
func (f *serveFlags) load() (*config.Config, error) {
	cfg := config.Default()
	if f.config != "" {
		var err error
		if cfg, err = config.Load(f.config); err != nil {
			return nil, err
		}
	}
	if len(f.listen) > 0 {
		cfg.Listen = nil
		for _, s := range f.listen {
			l, err := config.ParseListener(s)
			if err != nil {
				return nil, fmt.Errorf("--listen %s: %w", s, err)
			}
			cfg.Listen = append(cfg.Listen, l)
		}
	}
	if len(f.domains) > 0 {
		cfg.Domains = append([]string(nil), f.domains...)
	}
	if f.dataDir != "" {
		cfg.DataDir = f.dataDir
	}
	if f.mode != "" {
		cfg.Mode = config.Mode(f.mode)
	}
	if f.logLevel != "" {
		cfg.LogLevel = config.LogLevel(f.logLevel)
	}
	if f.trace {
		cfg.Trace = true
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

func serve(args []string, stderr io.Writer) int {
	f, err := parseServeFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "parley:", err)
		return 2
	}
	cfg, err := f.load()
	if err != nil {
		fmt.Fprintln(stderr, "parley:", err)
		return 2
	}
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
	return waitForSignals(srv, f, cfg, log)
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
func waitForSignals(srv *server.Server, f *serveFlags, cfg *config.Config, log *slog.Logger) int {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT)
	for sig := range sigs {
		if sig == syscall.SIGHUP {
			next, err := f.load()
			if err != nil {
				log.Error("reload failed; keeping the running configuration", "error", err)
				continue
			}
			srv.Reload(next)
			cfg = next
			continue
		}
		log.Info("stopping", "signal", sig.String(), "timeout", cfg.ShutdownTimeout.Duration().String())
		ctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout.Duration())
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
