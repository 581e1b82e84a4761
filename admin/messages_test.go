package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/parley-sip/parley/clock"
	offlinemsg "github.com/parley-sip/parley/message"
	"github.com/parley-sip/parley/presence/watchers"
)

func do(t *testing.T, h http.Handler, method, target string) (int, string) {
	t.Helper()
	req := httptest.NewRequest(method, "http://127.0.0.1"+target, nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.String()
}

func TestListMessages(t *testing.T) {
	store := offlinemsg.NewMemory(clock.NewFake(t0))
	for i, user := range []string{"bob@example.com", "carol@example.com", "bob@example.com"} {
		body := []byte(fmt.Sprint("note ", i))
		if i == 2 {
			body = []byte{0xff, 0xfe}
		}
		if _, err := store.Add(context.Background(), offlinemsg.Message{User: user, From: "<sip:alice@example.com>;tag=a",
			To: "<sip:" + user + ">", Date: "Wed, 02 Jan 2030 03:04:05 GMT", ContentType: "text/plain", Body: body}, offlinemsg.Quota{}); err != nil {
			t.Fatal(err)
		}
	}
	h := New(Config{Messages: store}).Handler()
	tests := []struct {
		query string
		code  int
		want  string // ids and bodies in order, or a substring of the error
		next  string
	}{
		{"", 200, "1:note 0 2:note 1 3:- ", ""},
		{"?user=sip:bob@Example.com", 200, "1:note 0 3:- ", ""},
		{"?limit=2", 200, "1:note 0 2:note 1 ", "2"},
		{"?limit=2&after=2", 200, "3:- ", ""},
		{"?user=nobody@example.com", 200, "", ""},
		{"?user=example.com", 400, `user: \"example.com\" is not user@domain`, ""},
		{"?limit=0", 400, "limit: want a whole number from 1 to 500", ""},
		{"?after=x", 400, `after: want a message id, got \"x\"`, ""},
	}
	for _, tc := range tests {
		code, body := do(t, h, "GET", "/api/messages"+tc.query)
		if code != tc.code {
			t.Errorf("%s: %d %s, want %d", tc.query, code, body, tc.code)
			continue
		}
		if code != 200 {
			if !strings.Contains(body, tc.want) {
				t.Errorf("%s: %s, want %q", tc.query, body, tc.want)
			}
			continue
		}
		var got struct {
			Messages []pendingMessage `json:"messages"`
			Next     json.Number      `json:"next"`
		}
		if err := json.Unmarshal([]byte(body), &got); err != nil {
			t.Fatal(err)
		}
		s := ""
		for _, m := range got.Messages {
			text := "-"
			if m.Body != nil {
				text = *m.Body
			}
			s += fmt.Sprintf("%d:%s ", m.ID, text)
		}
		if s != tc.want || string(got.Next) != tc.next {
			t.Errorf("%s: %q next %q, want %q next %q", tc.query, s, got.Next, tc.want, tc.next)
		}
	}
	if code, body := do(t, New(Config{}).Handler(), "GET", "/api/messages"); code != 200 || !strings.Contains(body, `"messages":[]`) {
		t.Errorf("without a store: %d %s", code, body)
	}
}

func TestWatchersAPI(t *testing.T) {
	h := New(Config{Watchers: watchers.NewMemory(clock.NewFake(t0))}).Handler()
	steps := []struct {
		method, target string
		code           int
		want           string
	}{
		{"PUT", "/api/watchers?user=bob@example.com&watcher=example.net&list=block", 200, `"list":"block"`},
		{"PUT", "/api/watchers?user=bob@example.com&watcher=sip:Carol@Example.net&list=allow", 200, `"watcher":"Carol@example.net"`},
		{"GET", "/api/watchers?user=bob@example.com", 200, `"watcher":"Carol@example.net","list":"allow"`},
		{"GET", "/api/watchers", 200, `"watcher":"example.net","list":"block"`},
		{"PUT", "/api/watchers?user=bob@example.com&watcher=example.net&list=maybe", 400, `list: want allow or block, got \"maybe\"`},
		{"PUT", "/api/watchers?user=example.com&watcher=example.net&list=allow", 400, `user: \"example.com\" is not user@domain`},
		{"PUT", "/api/watchers?user=bob@example.com&watcher=a%20b&list=allow", 400, "watcher: "},
		{"POST", "/api/watchers?user=bob@example.com&watcher=example.net&list=allow", 405, ""},
		{"DELETE", "/api/watchers?user=bob@example.com&watcher=example.net", 200, `"removed":1`},
		{"DELETE", "/api/watchers?user=bob@example.com&watcher=example.net", 404, "no such entry"},
		{"GET", "/api/watchers?user=bob@example.com", 200, `[{"user":"bob@example.com","watcher":"Carol@example.net","list":"allow"`},
	}
	for _, s := range steps {
		code, body := do(t, h, s.method, s.target)
		if code != s.code || !strings.Contains(body, s.want) {
			t.Errorf("%s %s: %d %s, want %d with %q", s.method, s.target, code, body, s.code, s.want)
		}
	}
}

// TestWatchersNeedToken: the lists change only with the bearer token,
// like the other changes the API makes.
func TestWatchersNeedToken(t *testing.T) {
	h := New(Config{Token: "0123456789abcdef0123", Watchers: watchers.NewMemory(clock.NewFake(t0))}).Handler()
	if code, _ := do(t, h, "PUT", "/api/watchers?user=bob@example.com&watcher=example.net&list=allow"); code != http.StatusUnauthorized {
		t.Errorf("PUT without the token: %d, want 401", code)
	}
}

func TestPendingWatchersAPI(t *testing.T) {
	p := &watchers.Policy{Store: watchers.NewMemory(clock.NewFake(t0)), Clock: clock.NewFake(t0)}
	p.Authorize("carol@example.net", "bob@example.com", "dialog")
	h := New(Config{PendingWatchers: p.Pending}).Handler()
	for _, c := range []struct {
		query string
		code  int
		want  string
	}{
		{"?user=bob@example.com", 200, `"pending":[{"watcher":"carol@example.net","event":"dialog","at":"2026-05-06T07:08:09Z"}]`},
		{"?user=alice@example.com", 200, `"pending":[]`},
		{"", 400, "user: "},
	} {
		if code, body := do(t, h, "GET", "/api/watchers/pending"+c.query); code != c.code || !strings.Contains(body, c.want) {
			t.Errorf("%s: %d %s, want %d with %s", c.query, code, body, c.code, c.want)
		}
	}
}
