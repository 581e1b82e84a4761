package cdr

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"
)

// MarshalJSON adds the derived figures, duration (seconds, to the
// millisecond) and billable (whole seconds), to the stored fields.
func (r Record) MarshalJSON() ([]byte, error) {
	type stored Record // without this method
	return json.Marshal(struct {
		stored
		Duration float64 `json:"duration"`
		Billable int64   `json:"billable"`
	}{stored(r), r.durationSeconds(), r.Billable()})
}

// durationSeconds divides whole milliseconds once: Duration.Seconds adds
// the fraction to the whole seconds, which prints 6.278 as
// 6.2780000000000005 in JSON.
func (r *Record) durationSeconds() float64 {
	return float64(r.Duration().Round(time.Millisecond).Milliseconds()) / 1000
}

// CSVHeader names the columns of CSV, in order.
var CSVHeader = []string{"id", "node", "call_id", "b_call_id", "caller", "callee", "dialled", "trunk", "source",
	"setup", "ringing", "answered", "end", "duration", "billable", "disposition", "hung_up_by", "status", "reason", "route", "answered_by", "transferred_by"}

// CSV is the record as a row under CSVHeader: times in RFC 3339 UTC with
// milliseconds (empty when they did not happen), duration in seconds
// with milliseconds.
func (r *Record) CSV() []string {
	return []string{strconv.FormatInt(r.ID, 10), r.Node, r.CallID, r.BCallID, r.Caller, r.Callee, r.Dialled, r.Trunk, r.Source,
		csvTime(r.Setup), csvTime(r.Ringing), csvTime(r.Answered), csvTime(r.End),
		strconv.FormatFloat(r.durationSeconds(), 'f', 3, 64), strconv.FormatInt(r.Billable(), 10),
		string(r.Disposition), string(r.HungUpBy), strconv.Itoa(r.Status), r.Reason, r.Route, r.AnsweredBy, r.TransferredBy}
}

const csvTimeLayout = "2006-01-02T15:04:05.000Z07:00"

func csvTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(csvTimeLayout)
}

// ParseTime reads a time as the export command and the API take it:
// RFC 3339 (2026-03-01T09:00:00Z), or a date (2026-03-01) meaning its
// midnight UTC.
func ParseTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%q is not a time like 2026-03-01T09:00:00Z or a date like 2026-03-01", s)
}

// Exporter writes records in one format, a page at a time.
type Exporter interface {
	// Write writes records after those written before.
	Write(recs []Record) error
	// Close finishes the output.
	Close() error
}

// NewExporter returns an exporter for format "csv" (a header line, then
// a row per record) or "json" (one JSON array).
func NewExporter(w io.Writer, format string) (Exporter, error) {
	switch format {
	case "csv":
		cw := csv.NewWriter(w)
		return &csvExporter{w: cw}, cw.Write(CSVHeader)
	case "json":
		return &jsonExporter{w: w}, nil
	}
	return nil, fmt.Errorf("unknown format %q: want csv or json", format)
}

type csvExporter struct{ w *csv.Writer }

func (e *csvExporter) Write(recs []Record) error {
	for i := range recs {
		if err := e.w.Write(recs[i].CSV()); err != nil {
			return err
		}
	}
	return nil
}

func (e *csvExporter) Close() error { e.w.Flush(); return e.w.Error() }

type jsonExporter struct {
	w io.Writer
	n int
}

func (e *jsonExporter) Write(recs []Record) error {
	for i := range recs {
		b, err := json.Marshal(recs[i])
		if err != nil {
			return err
		}
		sep := ",\n"
		if e.n == 0 {
			sep = "[\n"
		}
		e.n++
		if _, err := io.WriteString(e.w, sep+string(b)); err != nil {
			return err
		}
	}
	return nil
}

func (e *jsonExporter) Close() error {
	end := "\n]\n"
	if e.n == 0 {
		end = "[]\n"
	}
	_, err := io.WriteString(e.w, end)
	return err
}
