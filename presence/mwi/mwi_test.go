package mwi

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from what Marshal builds")

func TestParse(t *testing.T) {
	tests := []struct {
		file string
		want Summary
	}{
		{"rfc3842_example.txt", Summary{Waiting: true, Account: "sip:alice@vmail.example.com",
			Counts: []Count{{Class: Voice, New: 2, Old: 8, NewUrgent: 0, OldUrgent: 2}}}},
		{"asterisk_none.txt", Summary{Account: "sip:*97@192.0.2.10", Counts: []Count{{Class: Voice}}}},
		// Lower case, LF line ends, blanks, an unknown line, and a summary
		// line after the blank line (an opt-msg-header, not a count).
		{"loose.txt", Summary{Waiting: true, Counts: []Count{
			{Class: Voice, New: 4}, {Class: Fax, New: 1, Old: 1, NewUrgent: 1}}}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			got, err := Parse(data)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// TestParseLineEnds keeps what the fuzzer found: a bare CR inside a value
// ends the line, so the account can never carry it into a built body.
func TestParseLineEnds(t *testing.T) {
	tests := []struct {
		name, body string
		want       Summary
	}{
		{"bare CR in account", "MessAges-WAiting:no\nMessAge-ACCount:0\r0", Summary{Account: "0"}},
		{"CR only", "Messages-Waiting: yes\rVoice-Message: 1/2\r", Summary{Waiting: true, Counts: []Count{{Class: Voice, New: 1, Old: 2}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse([]byte(tt.body))
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v (%v), want %+v", got, err, tt.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ name, body, want string }{
		{"empty", "", "no Messages-Waiting"},
		{"no status", "Voice-Message: 1/0\r\n", "no Messages-Waiting"},
		{"bad status", "Messages-Waiting: maybe\r\n", "neither yes nor no"},
		{"no slash", "Messages-Waiting: yes\r\nVoice-Message: 3\r\n", "want new/old"},
		{"not a number", "Messages-Waiting: yes\r\nVoice-Message: a/1\r\n", `"a" is not a count`},
		{"negative", "Messages-Waiting: yes\r\nVoice-Message: -1/1\r\n", `"-1" is not a count`},
		{"overflow", "Messages-Waiting: yes\r\nVoice-Message: 4294967296/0\r\n", "is not a count"},
		{"unclosed", "Messages-Waiting: yes\r\nVoice-Message: 1/1 (0/0\r\n", "unclosed parenthesis"},
		{"bad urgent", "Messages-Waiting: yes\r\nVoice-Message: 1/1 (x)\r\n", "want new/old"},
		{"too large", "Messages-Waiting: yes\r\n" + strings.Repeat("X: y\r\n", MaxSize/6+1), "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.body))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// TestGoldenBuild compares what Marshal builds with testdata/golden and
// reads it back to the same summary.
func TestGoldenBuild(t *testing.T) {
	tests := []struct {
		file string
		s    Summary
	}{
		{"waiting.txt", Summary{Waiting: true, Account: "sip:alice@vmail.example.com",
			Counts: []Count{{Class: Voice, New: 2, Old: 8, OldUrgent: 2}}}},
		{"none.txt", Summary{}},
		{"classes.txt", Summary{Waiting: true, Counts: []Count{
			{Class: Voice, New: 1}, {Class: Fax, Old: 3}, {Class: Multimedia, New: 4294967295, NewUrgent: 7}}}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got, err := tt.s.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", "golden", tt.file)
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("built %q, want %q", got, want)
			}
			back, err := Parse(got)
			if err != nil || !reflect.DeepEqual(back, tt.s) {
				t.Errorf("read back %+v (%v), want %+v", back, err, tt.s)
			}
		})
	}
}

func TestMarshalRefuses(t *testing.T) {
	for _, s := range []Summary{
		{Account: "sip:a@b\r\nVoice-Message: 9/9"},
		{Counts: []Count{{Class: "video-message"}}},
	} {
		if b, err := s.Marshal(); err == nil {
			t.Errorf("Marshal(%+v) = %q, want an error", s, b)
		}
	}
}
