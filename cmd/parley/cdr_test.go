package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parley-sip/parley/cdr"
	"github.com/parley-sip/parley/subscriber"
	"github.com/parley-sip/parley/subscriber/storetest"
)

var cdrT0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

// cdrRecords are three calls on 2026-03-01, at 09:00, 10:00 and 11:00.
func cdrRecords() []cdr.Record {
	var recs []cdr.Record
	for i, d := range []cdr.Disposition{cdr.Answered, cdr.Busy, cdr.Answered} {
		setup := cdrT0.Add(time.Duration(i) * time.Hour)
		r := cdr.Record{Node: "n1", CallID: "call-" + string(rune('a'+i)), Caller: "sip:alice@example.com",
			Callee: "sip:bob@example.com", Dialled: "bob", Setup: setup, End: setup.Add(5 * time.Second),
			Disposition: d, HungUpBy: cdr.Caller, Status: 200}
		if d == cdr.Answered {
			r.Answered = setup.Add(2 * time.Second)
		}
		recs = append(recs, r)
	}
	return recs
}

func runCDR(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := cdrCommand(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestCDRExport(t *testing.T) {
	dir := t.TempDir()
	s, err := cdr.OpenSQLite(filepath.Join(dir, subscriber.DBFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Add(context.Background(), cdrRecords()); err != nil {
		t.Fatal(err)
	}
	s.Close()
	tests := []struct {
		name string
		args []string
		ids  string // call IDs exported, in order
	}{
		{"a day", []string{"--since", "2026-03-01", "--until", "2026-03-02"}, "call-a call-b call-c"},
		{"since only", []string{"--since", "2026-03-01T09:30:00Z"}, "call-b call-c"},
		{"until excluded", []string{"--since", "2026-03-01", "--until", "2026-03-01T10:00:00Z"}, "call-a"},
		{"disposition", []string{"--since", "2026-03-01", "--disposition", "busy"}, "call-b"},
		{"json", []string{"--since", "2026-03-01", "--format", "json", "--callee", "BOB"}, "call-a call-b call-c"},
		{"none", []string{"--since", "2026-04-01", "--format", "json"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errs := runCDR(append([]string{"export", "--data-dir", dir}, tt.args...)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errs)
			}
			if got := exportedIDs(t, out, slices.Contains(tt.args, "json")); got != tt.ids {
				t.Errorf("exported %q, want %q\n%s", got, tt.ids, out)
			}
		})
	}
	code, out, _ := runCDR("export", "--data-dir", dir, "--since", "2026-03-01")
	if code != 0 || !strings.Contains(out, "2026-03-01T09:00:00.000Z,,2026-03-01T09:00:02.000Z,2026-03-01T09:00:05.000Z,5.000,3,answered,caller,200") {
		t.Errorf("CSV row of call-a not as expected:\n%s", out)
	}
}

// exportedIDs reads the call IDs out of a CSV or JSON export.
func exportedIDs(t *testing.T, out string, isJSON bool) string {
	t.Helper()
	var ids []string
	if isJSON {
		var recs []struct {
			CallID   string  `json:"call_id"`
			Duration float64 `json:"duration"`
		}
		if err := json.Unmarshal([]byte(out), &recs); err != nil {
			t.Fatalf("not a JSON array: %v\n%s", err, out)
		}
		for _, r := range recs {
			ids = append(ids, r.CallID)
		}
		return strings.Join(ids, " ")
	}
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil || len(rows) == 0 || strings.Join(rows[0], ",") != strings.Join(cdr.CSVHeader, ",") {
		t.Fatalf("not a CSV export with its header (%v):\n%s", err, out)
	}
	for _, r := range rows[1:] {
		ids = append(ids, r[2])
	}
	return strings.Join(ids, " ")
}

func TestCDRExportMisuse(t *testing.T) {
	dir := t.TempDir()
	memory := filepath.Join(dir, "memory.yaml")
	if err := os.WriteFile(memory, []byte("storage:\n  engine: memory\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{}, 2, "Usage:"},
		{[]string{"import"}, 2, "Usage:"},
		{[]string{"export"}, 2, "--since is required"},
		{[]string{"export", "--since", "tuesday"}, 2, `--since: "tuesday" is not a time like 2026-03-01T09:00:00Z`},
		{[]string{"export", "--since", "2026-03-01", "--until", "x"}, 2, `--until: "x" is not a time`},
		// Swapped bounds select nothing: say so rather than print an empty export.
		{[]string{"export", "--since", "2026-04-01", "--until", "2026-03-01"}, 2, `--until 2026-03-01 is not after --since 2026-04-01`},
		{[]string{"export", "--since", "2026-03-01", "--until", "2026-03-01"}, 2, `--until 2026-03-01 is not after --since 2026-03-01`},
		{[]string{"export", "--since", "2026-03-01", "--format", "xml"}, 2, `--format "xml": want csv or json`},
		{[]string{"export", "--since", "2026-03-01", "--disposition", "maybe"}, 2, `--disposition "maybe": want one of`},
		{[]string{"export", "--since", "2026-03-01", "extra"}, 2, `unexpected argument "extra"`},
		{[]string{"export", "--since", "2026-03-01", "--data-dir", filepath.Join(dir, "none")}, 1, "no database at"},
		{[]string{"export", "--since", "2026-03-01", "--config", memory}, 1, "storage.engine is memory"},
		{[]string{"export", "--since", "2026-03-01", "--config", filepath.Join(dir, "missing.yaml")}, 1, "missing.yaml"},
	}
	for _, tt := range tests {
		code, _, errs := runCDR(tt.args...)
		if code != tt.code || !strings.Contains(errs, tt.want) {
			t.Errorf("parley cdr %s: exit %d, %q; want %d and %q", strings.Join(tt.args, " "), code, errs, tt.code, tt.want)
		}
	}
}

// TestCDRExportPostgres: with a config file naming PostgreSQL, export
// reads the records there, as the server writes them.
func TestCDRExportPostgres(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	s, err := cdr.OpenPostgres(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Add(context.Background(), cdrRecords()); err != nil {
		t.Fatal(err)
	}
	s.Close()
	file := filepath.Join(t.TempDir(), "parley.yaml")
	if err := os.WriteFile(file, []byte("storage:\n  engine: postgres\n  dsn: \""+dsn+"\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runCDR("export", "--config", file, "--since", "2026-03-01", "--format", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if got := exportedIDs(t, out, true); got != "call-a call-b call-c" {
		t.Errorf("exported %q", got)
	}
}

// TestCDRUsageNamesEveryDisposition: the help of --disposition lists
// every disposition the flag takes, so that none is found by trial.
func TestCDRUsageNamesEveryDisposition(t *testing.T) {
	_, help, _ := strings.Cut(cdrUsage, "--disposition D")
	for _, d := range cdr.Dispositions {
		if !strings.Contains(help, string(d)) {
			t.Errorf("the usage's --disposition does not name %q", d)
		}
	}
}
