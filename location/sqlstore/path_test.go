package sqlstore

import (
	"slices"
	"testing"
)

func TestPathRoundTrip(t *testing.T) {
	for _, p := range [][]string{
		nil,
		{"<sip:edge1.example.net;lr>"},
		{"<sip:a;lr>", "<sip:b;lr;ob>", ""},
		{`<sip:"quoted"@h;lr>`, `back\slash`, "ctl\x00\x1f\x7f", `","`, `"]`},
		{"invalid \xff\xfe utf-8", "ünïcödé"},
	} {
		text := pathText(p)
		got, err := parsePath(text)
		if err != nil || !slices.Equal(got, p) {
			t.Errorf("parsePath(pathText(%q)) = %q, %v (text %q)", p, got, err, text)
		}
	}
}

func TestPathReadable(t *testing.T) {
	if got, want := pathText([]string{"<sip:a;lr>", `x"y`}), `["<sip:a;lr>","x\"y"]`; got != want {
		t.Errorf("pathText = %s, want %s", got, want)
	}
}

func TestParsePathForeign(t *testing.T) {
	// Valid JSON this package would not write (an operator's edit).
	got, err := parsePath(`["a\n", "\u00e9"]`)
	if err != nil || !slices.Equal(got, []string{"a\n", "é"}) {
		t.Errorf("parsePath of edited JSON = %q, %v", got, err)
	}
	for _, bad := range []string{`[`, `["a"`, `["a",]x`, `{"a":1}`, `["\u00zz"]`, "[\"\xff\\n\"]"} {
		if got, err := parsePath(bad); err == nil {
			t.Errorf("parsePath(%q) = %q, want an error", bad, got)
		}
	}
}

func FuzzPath(f *testing.F) {
	f.Add("<sip:a;lr>", `x"\y`)
	f.Fuzz(func(t *testing.T, a, b string) {
		p := []string{a, b}
		got, err := parsePath(pathText(p))
		if err != nil || !slices.Equal(got, p) {
			t.Fatalf("round trip of %q: %q, %v", p, got, err)
		}
	})
}
