package sip

import "testing"

func TestAuthHeaders(t *testing.T) {
	raw := "SIP/2.0 401 Unauthorized\r\n" +
		"Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKa\r\n" +
		"From: <sip:a@example.com>;tag=1\r\nTo: <sip:a@example.com>;tag=2\r\nCall-ID: c\r\nCSeq: 1 REGISTER\r\n" +
		"WWW-Authenticate: Digest realm=\"example.com\", nonce=\"n,1\", algorithm=SHA-256, qop=\"auth\"\r\n" +
		"WWW-Authenticate: Digest realm=\"example.com\", nonce=\"n2\", algorithm=MD5\r\n" +
		"Content-Length: 0\r\n\r\n"
	m, err := Parse([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	chs, err := m.WWWAuthenticates()
	if err != nil || len(chs) != 2 {
		t.Fatalf("challenges %v, %v; want 2 (a line holds one challenge, §7.3.1)", chs, err)
	}
	tests := []struct {
		i          int
		name, want string
	}{
		{0, "realm", "example.com"}, {0, "NONCE", "n,1"}, {0, "algorithm", "SHA-256"}, {0, "qop", "auth"}, {1, "algorithm", "MD5"},
	}
	for _, tc := range tests {
		if got, ok := chs[tc.i].Param(tc.name); !ok || got != tc.want {
			t.Errorf("challenge %d %s = %q, %v; want %q", tc.i, tc.name, got, ok, tc.want)
		}
	}
	if chs[0].Scheme != "Digest" {
		t.Errorf("scheme %q", chs[0].Scheme)
	}
	if got := m.HeaderValues("WWW-Authenticate"); len(got) != 2 {
		t.Errorf("HeaderValues split a challenge: %q", got)
	}
	for _, bad := range []string{"", "Digest realm", "Digest =x", "Dig est, a=b"} {
		if _, err := ParseAuth(bad); err == nil {
			t.Errorf("ParseAuth(%q) accepted", bad)
		}
	}
}

func TestEventAndSubscriptionState(t *testing.T) {
	base := "NOTIFY sip:a@192.0.2.1 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.2;branch=z9hG4bKb\r\n" +
		"From: <sip:b@example.com>;tag=1\r\nTo: <sip:a@example.com>;tag=2\r\nCall-ID: c\r\nCSeq: 2 NOTIFY\r\n"
	tests := []struct {
		headers        string
		evType, evID   string
		state, expires string
		ok, bad        bool
	}{
		{"o: presence;id=7\r\nSubscription-State: Active;expires=600\r\n", "presence", "7", "active", "600", true, false},
		{"Event: dialog\r\nSubscription-State: terminated;reason=timeout\r\n", "dialog", "", "terminated", "", true, false},
		{"", "", "", "", "", false, false},
		{"Event: a b\r\n", "", "", "", "", true, true},
	}
	for _, tc := range tests {
		m, err := Parse([]byte(base + tc.headers + "Content-Length: 0\r\n\r\n"))
		if err != nil {
			t.Fatal(err)
		}
		ev, ok, err := m.Event()
		if ok != tc.ok || (err != nil) != tc.bad {
			t.Errorf("%q: Event ok=%v err=%v", tc.headers, ok, err)
			continue
		}
		if tc.bad || !ok {
			continue
		}
		if ev.Type != tc.evType || ev.ID() != tc.evID {
			t.Errorf("%q: event %+v", tc.headers, ev)
		}
		st, _, err := m.SubscriptionState()
		exp, _ := st.Params.Get("expires")
		if err != nil || st.State != tc.state || exp != tc.expires {
			t.Errorf("%q: state %+v %v", tc.headers, st, err)
		}
	}
}
