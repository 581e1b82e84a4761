package notify

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parley-sip/parley/sip"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from what the notifier sends")

// TestGolden compares what the notifier answers and sends with the files
// in testdata/golden, byte for byte once its random To tag is replaced by
// "TOTAG".
func TestGolden(t *testing.T) {
	tests := []struct {
		name  string
		edits []string
		code  int // the NOTIFY's answer; 0 sends none
		then  func(rg *rig)
		files []string // the response, then each NOTIFY
	}{
		{"active", nil, 200, nil, []string{"subscribe_200.sip", "notify_active.sip"}},
		{"pending", []string{"From", "<sip:eve@example.org>;tag=e1"}, 200, nil, []string{"subscribe_202.sip", "notify_pending.sip"}},
		{"fetch", []string{"Expires", "0"}, 200, nil, []string{"fetch_200.sip", "notify_fetch.sip"}},
		{"timeout", []string{"Expires", "60"}, 200, func(rg *rig) { rg.clk.Advance(time.Minute) },
			[]string{"subscribe_200_60.sip", "notify_60.sip", "notify_timeout.sip"}},
		{"bad event", []string{"Event", "conference"}, 0, nil, []string{"subscribe_489.sip"}},
		{"too brief", []string{"Expires", "5"}, 0, nil, []string{"subscribe_423.sip"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rg := newRig(t, pol, nil)
			resp := rg.serve(load(t, "subscribe.sip", tt.edits...))
			msgs := []*sip.Message{resp}
			if tt.code != 0 {
				msgs = append(msgs, rg.notify(tt.code))
				if tt.then != nil {
					tt.then(rg)
					msgs = append(msgs, rg.notify(tt.code))
				}
			}
			for i, m := range msgs {
				golden(t, tt.files[i], []byte(strings.ReplaceAll(string(m.Bytes()), resp.ToTag(), "TOTAG")))
			}
		})
	}
}

func golden(t *testing.T, file string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", file)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs:\n--- got\n%s\n--- want\n%s", file, got, want)
	}
}
