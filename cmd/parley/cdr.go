package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/parley-sip/parley/cdr"
	"github.com/parley-sip/parley/config"
	"github.com/parley-sip/parley/sqldb"
)

const cdrUsage = `Usage:
  parley cdr export --since TIME [--until TIME] [flags]   write call detail records to standard output

Records are read from where "parley serve" with the same --config and
--data-dir writes them: storage.engine of the config file (SQLite in
data_dir/parley.db by default, or PostgreSQL at storage.dsn). A call is
exported when it started at or after --since and before --until. TIME is
RFC 3339 (2026-03-01T09:00:00Z) or a date (2026-03-01, midnight UTC).

Flags:
  --config FILE            the server's YAML configuration file
  --data-dir DIR           overrides data_dir
  --since TIME             the earliest call start (required)
  --until TIME             the end of the period (default: now)
  --format csv|json        csv (a header line, then one row per call) or json (an array); default csv
  --caller TEXT            only calls whose caller contains TEXT (any case)
  --callee TEXT            only calls whose callee contains TEXT
  --disposition D          only calls of one disposition: answered, busy, no-answer, cancelled, failed,
                           interrupted, expired, ended-by-takeover
`

// cdrOpts are the flags of cdr export.
type cdrOpts struct {
	config, dataDir, since, until, format, disposition string
	query                                              cdr.Query
}

// cdrCommand runs "parley cdr …" and returns the exit status: 0 done, 1
// failed, 2 misused.
func cdrCommand(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "export" {
		if len(args) > 0 && (args[0] == "help" || args[0] == "-h" || args[0] == "--help") {
			fmt.Fprint(stdout, cdrUsage)
			return 0
		}
		fmt.Fprint(stderr, cdrUsage)
		return 2
	}
	o, err := parseCDRFlags(args[1:], stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "parley cdr export: %v\n\n%s", err, cdrUsage)
		return 2
	}
	if err := cdrExport(o, stdout); err != nil {
		fmt.Fprintf(stderr, "parley cdr export: %v\n", err)
		return 1
	}
	return 0
}

func parseCDRFlags(args []string, stderr io.Writer) (*cdrOpts, error) {
	o := &cdrOpts{}
	fs := flag.NewFlagSet("cdr export", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, cdrUsage) }
	fs.StringVar(&o.config, "config", "", "")
	fs.StringVar(&o.dataDir, "data-dir", "", "")
	fs.StringVar(&o.since, "since", "", "")
	fs.StringVar(&o.until, "until", "", "")
	fs.StringVar(&o.format, "format", "csv", "")
	fs.StringVar(&o.query.Caller, "caller", "", "")
	fs.StringVar(&o.query.Callee, "callee", "", "")
	fs.StringVar(&o.disposition, "disposition", "", "")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	var err error
	switch {
	case fs.NArg() > 0:
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case o.since == "":
		return nil, errors.New("--since is required")
	case o.format != "csv" && o.format != "json":
		return nil, fmt.Errorf("--format %q: want csv or json", o.format)
	}
	if o.query.Since, err = cdr.ParseTime(o.since); err != nil {
		return nil, fmt.Errorf("--since: %w", err)
	}
	if o.until != "" {
		if o.query.Until, err = cdr.ParseTime(o.until); err != nil {
			return nil, fmt.Errorf("--until: %w", err)
		}
		if !o.query.Until.After(o.query.Since) {
			return nil, fmt.Errorf("--until %s is not after --since %s: no call can start in that period", o.until, o.since)
		}
	}
	o.query.Disposition = cdr.Disposition(o.disposition)
	if o.disposition != "" && !slices.Contains(cdr.Dispositions, o.query.Disposition) {
		return nil, fmt.Errorf("--disposition %q: want one of %v", o.disposition, cdr.Dispositions)
	}
	return o, nil
}

// cdrExport writes the selected records, a page at a time, oldest first.
func cdrExport(o *cdrOpts, stdout io.Writer) error {
	cfg, err := loadConfig(o.config, o.dataDir, func(*config.Config) error { return nil })
	if err != nil {
		return err
	}
	ctx := context.Background()
	store, err := openRecords(ctx, cfg)
	if err != nil {
		return err
	}
	defer store.Close()
	exp, err := cdr.NewExporter(stdout, o.format)
	if err != nil {
		return err
	}
	q := o.query
	q.Limit = cdr.MaxLimit
	if q.Until.IsZero() {
		q.Until = time.Now() // calls that start during the export wait for the next one
	}
	for {
		page, err := store.List(ctx, q)
		if err != nil {
			return err
		}
		if len(page) == 0 {
			return exp.Close()
		}
		if err := exp.Write(page); err != nil {
			return err
		}
		q.After = page[len(page)-1].ID
	}
}

// openRecords opens the records' store as the server does, without
// creating a SQLite database that is not there.
func openRecords(ctx context.Context, cfg *config.Config) (cdr.Store, error) {
	switch cfg.Storage.Engine {
	case config.EngineMemory:
		return nil, errors.New("storage.engine is memory: call records are not kept, so there is nothing to export")
	case config.EnginePostgres:
		return cdr.OpenPostgres(ctx, cfg.Storage.DSN)
	}
	path := filepath.Join(cfg.DataDir, sqldb.DBFile)
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("no database at %s (is data_dir right?): %w", path, err)
	}
	return cdr.OpenSQLite(path)
}
