package dialog

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/parley-sip/parley/sip"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from what the dialog builds")

// TestGoldenRequests compares the requests a dialog builds with the files
// in testdata/golden, byte for byte.
func TestGoldenRequests(t *testing.T) {
	tests := []struct {
		file  string
		build func(t *testing.T, p *pair) (*sip.Message, error)
	}{
		{"bye_uac.sip", func(t *testing.T, p *pair) (*sip.Message, error) {
			return p.alice.NewRequest("BYE", aliceVia)
		}},
		{"ack_uac.sip", func(t *testing.T, p *pair) (*sip.Message, error) {
			return p.alice.NewACK(p.ok, aliceVia)
		}},
		{"reinvite_uas.sip", func(t *testing.T, p *pair) (*sip.Message, error) {
			m, err := p.bob.NewRequest("INVITE", bobVia)
			if err == nil {
				m.SetBody("application/sdp", []byte("v=0\r\n"))
			}
			return m, err
		}},
		{"notify_uas.sip", func(t *testing.T, p *pair) (*sip.Message, error) {
			return p.bob.NewRequest("NOTIFY", bobVia, "Event", "dialog;id=7", "Subscription-State", "active;expires=600")
		}},
		{"bye_strict.sip", func(t *testing.T, p *pair) (*sip.Message, error) {
			return strictDialog(t).NewRequest("BYE", aliceVia)
		}},
		// The same requests built from copies of the dialogs' state, as a
		// node that never held them does (Info.Request): byte for byte
		// the same files.
		{"bye_uac.sip", func(t *testing.T, p *pair) (*sip.Message, error) {
			in := p.alice.Info()
			return in.Request("BYE", aliceVia, in.LocalSeq+1)
		}},
		{"bye_strict.sip", func(t *testing.T, p *pair) (*sip.Message, error) {
			in := strictDialog(t).Info()
			return in.Request("BYE", aliceVia, in.LocalSeq+1)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			m, err := tt.build(t, newPair(t))
			if err != nil {
				t.Fatal(err)
			}
			got := m.Bytes()
			path := filepath.Join("testdata", "golden", tt.file)
			if *update {
				os.MkdirAll(filepath.Dir(path), 0o755)
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("built:\n%s\nwant:\n%s", got, want)
			}
			if err := m.Validate(); err != nil {
				t.Errorf("the built request is not valid: %v", err)
			}
		})
	}
}

// strictDialog is alice's dialog whose route set starts with a strict
// router (no lr), p1, after the loose p2.
func strictDialog(t *testing.T) *Dialog {
	t.Helper()
	tab, _, _ := newTable()
	req := load(t, "invite.sip")
	ok := sip.NewResponse(req, 200, "", "s", "Record-Route", "<sip:p2.biloxi.example.com;lr>, <sip:p1.atlanta.example.com;maddr=192.0.2.9?x=y>",
		"Contact", "<sip:bob@192.0.2.4>")
	d, err := tab.NewUAC(req, ok)
	if err != nil {
		t.Fatal(err)
	}
	return d
}
