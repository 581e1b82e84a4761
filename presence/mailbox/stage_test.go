package mailbox_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parley-sip/parley/auth"
	"github.com/parley-sip/parley/location"
	"github.com/parley-sip/parley/presence/mailbox"
	"github.com/parley-sip/parley/presence/notify"
	"github.com/parley-sip/parley/proxy"
	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/subscriber"
	"github.com/parley-sip/parley/transport"
)

var listener = &transport.ListenerInfo{Proto: transport.UDP, Bound: netip.MustParseAddrPort("192.0.2.1:5060"), Host: "192.0.2.1", Port: 5060}

// wire is a transport and transaction layer that keeps what the proxy
// relays (nothing, when the stage answers).
type wire struct{ sent []*sip.Message }

func (w *wire) Send(_ transport.Target, msg []byte) error {
	m, err := sip.Parse(append([]byte(nil), msg...))
	w.sent = append(w.sent, m)
	return err
}
func (w *wire) ListenerFor(transport.Proto, netip.Addr) *transport.ListenerInfo { return listener }
func (w *wire) Listeners() []*transport.ListenerInfo                            { return []*transport.ListenerInfo{listener} }
func (w *wire) ChooseProto(dst transport.Target, _ int) transport.Proto         { return dst.Proto }

type tx struct{}

func (tx) Terminate() {}

func (w *wire) Request(req *sip.Message, dst transport.Target, _ func(*sip.Message)) (proxy.ClientTx, error) {
	return tx{}, w.Send(dst, req.Bytes())
}

// serverTx keeps the responses to a request.
type serverTx struct{ resp []*sip.Message }

func (s *serverTx) Respond(resp *sip.Message) error {
	s.resp = append(s.resp, resp)
	return nil
}

// rig is a proxy with the stage in its chain, auth off, and a voicemail
// system at 198.51.100.7 trusted.
type rig struct {
	t       *testing.T
	p       *proxy.Proxy
	store   *mailbox.Memory
	changed []string
	etag    string // the last SIP-ETag answered
}

func newRig(t *testing.T) *rig {
	r := &rig{t: t, store: mailbox.NewMemory()}
	stage := mailbox.NewStage(mailbox.StageConfig{
		Store:   r.store,
		Changed: func(a string) { r.changed = append(r.changed, a) },
		Trusted: func(a netip.Addr) bool { return a == netip.MustParseAddr("198.51.100.7") },
		Serves:  func(d string) bool { return d == "example.com" },
		Now:     func() time.Time { return time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC) },
		Logger:  slog.New(slog.DiscardHandler),
	})
	stages, err := proxy.Insert(proxy.DefaultStages(), "location", stage)
	if err != nil {
		t.Fatal(err)
	}
	w := &wire{}
	bindings := location.NewMemory()
	t.Cleanup(func() { bindings.Close() })
	r.p = proxy.New(proxy.Config{Domains: func(d string) bool { return d == "example.com" }, Stages: stages}, w, w, bindings, nil,
		slog.New(slog.DiscardHandler))
	return r
}

// send serves testdata/file from src and returns the response, or nil
// when the proxy relayed the request; ETAG in the file becomes the last
// entity-tag answered.
func (r *rig) send(file, src string) *sip.Message {
	r.t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		r.t.Fatal(err)
	}
	text := strings.ReplaceAll(strings.ReplaceAll(string(data), "\n", "\r\n"), "ETAG", r.etag)
	m, err := sip.Parse([]byte(text))
	if err != nil {
		r.t.Fatal(err)
	}
	stx := &serverTx{}
	r.p.ServeRequest(stx, &transport.Incoming{Msg: m, Proto: transport.UDP, Source: netip.MustParseAddrPort(src + ":5060"),
		Local: listener.Bound, Listener: listener})
	if len(stx.resp) == 0 {
		return nil // relayed
	}
	if e := stx.resp[0].Header("SIP-ETag"); e != "" {
		r.etag = e
	}
	return stx.resp[0]
}

func (r *rig) body(account string) string {
	r.t.Helper()
	b, err := mailbox.NewPackage(r.store).Body(notify.Watch{Resource: account})
	if err != nil {
		r.t.Fatal(err)
	}
	return string(b)
}

const vm = "198.51.100.7"

// TestStage plays a voicemail system's updates, each a request from
// testdata with the response, the account's summary after it and whether
// watchers were told.
func TestStage(t *testing.T) {
	const (
		none    = "Messages-Waiting: no\r\n"
		waiting = "Messages-Waiting: yes\r\nMessage-Account: sip:*97@198.51.100.7\r\nVoice-Message: 2/8 (1/2)\r\n"
		read    = "Messages-Waiting: no\r\nVoice-Message: 0/9 (0/0)\r\n"
	)
	r := newRig(t)
	for _, step := range []struct {
		file, src string
		code      int
		reason    string
		summary   string
		told      bool
	}{
		{"notify_asterisk.sip", "203.0.113.9", 403, "Message Summary Only From Trusted Sources", none, false},
		{"notify_wrong_type.sip", vm, 415, "Unsupported Media Type", none, false},
		{"notify_bad_body.sip", vm, 400, "Bad Message Summary", none, false},
		{"notify_asterisk.sip", vm, 200, "OK", waiting, true},
		{"publish_no_body.sip", vm, 400, "Initial PUBLISH Without Body", waiting, false},
		{"publish_initial.sip", vm, 200, "OK", read, true},
		{"publish_refresh.sip", vm, 200, "OK", read, false},
		{"publish_remove.sip", vm, 200, "OK", none, true},
		{"publish_remove.sip", vm, 412, "Conditional Request Failed", none, false}, // that entity-tag is spent
		{"publish_refresh.sip", vm, 412, "Conditional Request Failed", none, false},
	} {
		told := len(r.changed)
		resp := r.send(step.file, step.src)
		if resp == nil {
			t.Fatalf("%s was relayed", step.file)
		}
		if resp.StatusCode() != step.code || step.reason != "" && resp.Reason() != step.reason {
			t.Errorf("%s from %s: %d %s, want %d %s", step.file, step.src, resp.StatusCode(), resp.Reason(), step.code, step.reason)
		}
		if got := r.body("alice@example.com"); got != step.summary {
			t.Errorf("after %s: summary %q, want %q", step.file, got, step.summary)
		}
		if (len(r.changed) > told) != step.told {
			t.Errorf("after %s: told %v, want told=%v", step.file, r.changed[told:], step.told)
		}
		if step.file == "publish_initial.sip" && (resp.Header("Expires") != "86400" || resp.Header("SIP-ETag") == "") {
			t.Errorf("PUBLISH answered Expires %q, SIP-ETag %q; want 86400 (the maximum) and a tag", resp.Header("Expires"), resp.Header("SIP-ETag"))
		}
	}
	if !slices.Equal(r.changed, []string{"alice@example.com", "alice@example.com", "alice@example.com"}) {
		t.Errorf("changed %v", r.changed)
	}
}

// TestStagePassesOn checks what the stage leaves to the rest of the chain:
// an in-dialog NOTIFY, another package's NOTIFY and a summary for a
// domain that is not ours.
func TestStagePassesOn(t *testing.T) {
	for _, file := range []string{"notify_in_dialog.sip", "notify_other_domain.sip", "notify_presence.sip"} {
		r := newRig(t)
		if resp := r.send(file, vm); resp != nil && resp.StatusCode() == 200 || len(r.changed) != 0 {
			t.Errorf("%s: answered %v, told %v; want it passed on", file, resp, r.changed)
		}
		if _, err := r.store.Get(context.Background(), "alice@example.com"); err == nil {
			t.Errorf("%s: stored", file)
		}
	}
}

// TestPackage pins the event package to the notifier's interface.
func TestPackage(t *testing.T) {
	var p notify.Package = mailbox.NewPackage(mailbox.NewMemory())
	if p.Event() != "message-summary" || p.ContentType() != "application/simple-message-summary" {
		t.Errorf("event %q, type %q", p.Event(), p.ContentType())
	}
}

var nonceRE = regexp.MustCompile(`nonce="([^"]+)"`)

// TestStageAuthenticated: with passwords on and no trusted network, a
// subscriber who authenticated (carol) may set a subscriber's summary
// (alice's), not one of a name nobody has, which would let one
// subscriber fill the store with accounts; without credentials the
// NOTIFY is challenged.
func TestStageAuthenticated(t *testing.T) {
	users := subscriber.NewMemory()
	for _, u := range []string{"alice", "carol"} {
		if err := users.Put(context.Background(), subscriber.New(u, "example.com", "secret")); err != nil {
			t.Fatal(err)
		}
	}
	r := &rig{t: t, store: mailbox.NewMemory()}
	stage := mailbox.NewStage(mailbox.StageConfig{Store: r.store, Users: users,
		Changed: func(a string) { r.changed = append(r.changed, a) }, Logger: slog.New(slog.DiscardHandler)})
	stages, err := proxy.Insert(proxy.DefaultStages(), "location", stage)
	if err != nil {
		t.Fatal(err)
	}
	a := auth.NewAuthenticator(users, []byte("0123456789abcdef0123456789abcdef"))
	a.Algorithms = []string{auth.SHA256}
	bindings := location.NewMemory()
	t.Cleanup(func() { bindings.Close() })
	w := &wire{}
	r.p = proxy.New(proxy.Config{Domains: func(d string) bool { return d == "example.com" }, Stages: stages, Auth: a,
		AuthPolicy: auth.Policies{Default: auth.Policy{Methods: []string{"NOTIFY", "PUBLISH"}}}, Users: users},
		w, w, bindings, nil, slog.New(slog.DiscardHandler))

	for _, tt := range []struct {
		account string
		code    int
		reason  string
	}{
		{"alice", 200, "OK"},
		{"nobody", 404, "Unknown Account"},
	} {
		serve := func(extra string) *sip.Message {
			data, err := os.ReadFile(filepath.Join("testdata", "notify_from_subscriber.sip"))
			if err != nil {
				t.Fatal(err)
			}
			text := strings.ReplaceAll(string(data), "ACCOUNT", tt.account)
			text = strings.Replace(text, "Event:", extra+"Event:", 1)
			m, err := sip.Parse([]byte(strings.ReplaceAll(text, "\n", "\r\n")))
			if err != nil {
				t.Fatal(err)
			}
			stx := &serverTx{}
			r.p.ServeRequest(stx, &transport.Incoming{Msg: m, Proto: transport.UDP,
				Source: netip.MustParseAddrPort("203.0.113.9:5060"), Local: listener.Bound, Listener: listener})
			if len(stx.resp) != 1 {
				t.Fatalf("%s: %d responses", tt.account, len(stx.resp))
			}
			return stx.resp[0]
		}
		challenge := serve("")
		if challenge.StatusCode() != 407 {
			t.Fatalf("%s without credentials: %d %s, want 407", tt.account, challenge.StatusCode(), challenge.Reason())
		}
		nonce := nonceRE.FindStringSubmatch(challenge.Header("Proxy-Authenticate"))
		if nonce == nil {
			t.Fatalf("no nonce in %q", challenge.Header("Proxy-Authenticate"))
		}
		uri := "sip:" + tt.account + "@example.com"
		resp := auth.Response("SHA-256", subscriber.HA1("SHA-256", "carol", "example.com", "secret"), "NOTIFY", uri, nonce[1], "00000001", "c0ffee", "auth")
		cred := fmt.Sprintf(`Proxy-Authorization: Digest username="carol", realm="example.com", nonce="%s", uri="%s", response="%s", algorithm=SHA-256, qop=auth, nc=00000001, cnonce="c0ffee"`+"\n",
			nonce[1], uri, resp)
		if got := serve(cred); got.StatusCode() != tt.code || got.Reason() != tt.reason {
			t.Errorf("%s from carol: %d %s, want %d %s", tt.account, got.StatusCode(), got.Reason(), tt.code, tt.reason)
		}
	}
	if !slices.Equal(r.changed, []string{"alice@example.com"}) {
		t.Errorf("changed %v", r.changed)
	}
	if _, err := r.store.Get(context.Background(), "nobody@example.com"); !errors.Is(err, mailbox.ErrNotFound) {
		t.Errorf("nobody's summary kept: %v", err)
	}
}
