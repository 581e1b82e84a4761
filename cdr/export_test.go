package cdr_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/parley-sip/parley/cdr"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// exported are two calls as an export shows them: one answered and hung
// up by the caller (picked up by carol), one busy, with a caller name that CSV must quote.
func exported() []cdr.Record {
	t0 := time.Date(2026, 3, 1, 9, 0, 0, 250000000, time.UTC)
	return []cdr.Record{
		{ID: 1, Node: "edge-1", CallID: "a84b4c76e66710@pc33.example.com", Caller: "sip:alice@example.com",
			Callee: "sip:bob@example.com", Dialled: "bob", Source: "192.0.2.10:5060", Setup: t0,
			Ringing: t0.Add(400 * time.Millisecond), Answered: t0.Add(3 * time.Second), End: t0.Add(65500 * time.Millisecond),
			Disposition: cdr.Answered, HungUpBy: cdr.Caller, Status: 200, Reason: "hung up", AnsweredBy: "sip:carol@example.com"},
		{ID: 2, Node: "edge-1", CallID: "b2@pc33.example.com", Caller: `sip:"odd,one"@example.com`,
			Callee: "sip:+4930123@example.com", Dialled: "+4930123", Trunk: "provider", Route: "national", Source: "[2001:db8::7]:5060", Setup: t0.Add(time.Hour),
			End: t0.Add(time.Hour + 2*time.Second), Disposition: cdr.Busy, HungUpBy: cdr.Callee, Status: 486, Reason: "486 Busy Here", TransferredBy: "sip:bob@example.com"},
	}
}

func TestExportGolden(t *testing.T) {
	for _, format := range []string{"csv", "json"} {
		t.Run(format, func(t *testing.T) {
			var buf bytes.Buffer
			exp, err := cdr.NewExporter(&buf, format)
			if err != nil {
				t.Fatal(err)
			}
			recs := exported()
			if err := exp.Write(recs[:1]); err != nil { // two pages, as the export command writes them
				t.Fatal(err)
			}
			if err := exp.Write(recs[1:]); err != nil {
				t.Fatal(err)
			}
			if err := exp.Close(); err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", "export."+format)
			if *update {
				if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(buf.Bytes(), want) {
				t.Errorf("export differs from %s (go test -update rewrites it):\n%s", golden, buf.Bytes())
			}
		})
	}
}

func TestExportEmptyAndUnknown(t *testing.T) {
	var buf bytes.Buffer
	exp, _ := cdr.NewExporter(&buf, "json")
	if err := exp.Close(); err != nil || buf.String() != "[]\n" {
		t.Errorf("empty JSON export %q, %v", buf.String(), err)
	}
	if _, err := cdr.NewExporter(&buf, "xml"); err == nil {
		t.Error("format xml accepted")
	}
}

// TestJSONDurationIsMilliseconds: the API and the JSON export show the
// duration to the millisecond. Summing whole and fractional seconds in
// floating point printed 6.278 as 6.2780000000000005 (seen in /api/cdrs).
func TestJSONDurationIsMilliseconds(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		length time.Duration
		want   string
	}{
		{6278 * time.Millisecond, `"duration":6.278,`},
		{6277600 * time.Microsecond, `"duration":6.278,`},
		{5008 * time.Millisecond, `"duration":5.008,`},
		{100*time.Second + 300*time.Millisecond, `"duration":100.3,`},
		{0, `"duration":0,`},
	} {
		out, err := json.Marshal(cdr.Record{Setup: t0, End: t0.Add(tt.length)})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(out, []byte(tt.want)) {
			t.Errorf("%v: %s, want %s", tt.length, out, tt.want)
		}
	}
}
