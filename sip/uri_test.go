package sip

import (
	"strings"
	"testing"
)

func TestParseURI(t *testing.T) {
	type want struct {
		scheme, user, password, host string
		port                         int
		params, headers, opaque      string
	}
	tests := []struct {
		in   string
		want want
		err  bool
	}{
		{in: "sip:alice@atlanta.com", want: want{scheme: "sip", user: "alice", host: "atlanta.com"}},
		{in: "SIP:Alice@AtLanTa.CoM:5060", want: want{scheme: "sip", user: "Alice", host: "AtLanTa.CoM", port: 5060}},
		{in: "sips:bob@biloxi.com;transport=tls?subject=x", want: want{scheme: "sips", user: "bob", host: "biloxi.com", params: "transport=tls", headers: "subject=x"}},
		{in: "sip:alice:secretword@atlanta.com;transport=tcp", want: want{scheme: "sip", user: "alice", password: "secretword", host: "atlanta.com", params: "transport=tcp"}},
		{in: "sip:+1-212-555-1212:1234@gateway.com;user=phone", want: want{scheme: "sip", user: "+1-212-555-1212", password: "1234", host: "gateway.com", params: "user=phone"}},
		{in: "sip:192.0.2.4", want: want{scheme: "sip", host: "192.0.2.4"}},
		{in: "sip:192.0.2.4:5070;lr", want: want{scheme: "sip", host: "192.0.2.4", port: 5070, params: "lr"}},
		{in: "sip:atlanta.com;method=REGISTER?to=alice%40atlanta.com", want: want{scheme: "sip", host: "atlanta.com", params: "method=REGISTER", headers: "to=alice%40atlanta.com"}},
		{in: "sip:alice;day=tuesday@atlanta.com", want: want{scheme: "sip", user: "alice;day=tuesday", host: "atlanta.com"}},
		{in: "sip:[2001:db8::1]", want: want{scheme: "sip", host: "[2001:db8::1]"}},
		{in: "sip:bob@[2001:db8::1]:5080;transport=udp", want: want{scheme: "sip", user: "bob", host: "[2001:db8::1]", port: 5080, params: "transport=udp"}},
		{in: "sip:[::ffff:192.0.2.1]", want: want{scheme: "sip", host: "[::ffff:192.0.2.1]"}},
		// Repeated parameters break §19.1.1 but real phones send them
		// (baresip dialling a URI with ;transport=udp): accepted as written.
		{in: "sip:bob@192.0.2.10:5060;transport=udp;transport=udp", want: want{scheme: "sip", user: "bob", host: "192.0.2.10", port: 5060, params: "transport=udp;transport=udp"}},
		{in: "sip:proxy.example.com;lr;lr", want: want{scheme: "sip", host: "proxy.example.com", params: "lr;lr"}},
		{in: "sip:h;lr;%6C%72", want: want{scheme: "sip", host: "h", params: "lr;%6C%72"}},
		{in: "sip:A;tAg=0;tAg", want: want{scheme: "sip", host: "A", params: "tAg=0;tAg"}}, // fuzz crasher: Equal must stay reflexive
		{in: "sip:[::1]", want: want{scheme: "sip", host: "[::1]"}},
		{in: "sip:[::]", want: want{scheme: "sip", host: "[::]"}},
		{in: "sip:[1:2:3:4:5:6:7:8]", want: want{scheme: "sip", host: "[1:2:3:4:5:6:7:8]"}},
		{in: "sip:[1:2:3:4:5:6:192.0.2.1]", want: want{scheme: "sip", host: "[1:2:3:4:5:6:192.0.2.1]"}},
		{in: "sip:[2001:db8:::192.0.2.1]", want: want{scheme: "sip", host: "[2001:db8:::192.0.2.1]"}}, // RFC 5118 §4.10
		{in: "sip:host.example.com.", want: want{scheme: "sip", host: "host.example.com."}},
		{in: "sip:123.example.com", want: want{scheme: "sip", host: "123.example.com"}},
		{in: "sip:%61lice@atlanta.com", want: want{scheme: "sip", user: "%61lice", host: "atlanta.com"}},
		{in: "sip:user@host;%6C%72;n%61me=v%61lue", want: want{scheme: "sip", user: "user", host: "host", params: "%6C%72;n%61me=v%61lue"}},
		{in: "sip:host;maddr=[2001:db8::1]", want: want{scheme: "sip", host: "host", params: "maddr=[2001:db8::1]"}},
		{in: "tel:+1-201-555-0123", want: want{scheme: "tel", user: "+1-201-555-0123"}},
		{in: "tel:7042;phone-context=example.com", want: want{scheme: "tel", user: "7042", params: "phone-context=example.com"}},
		{in: "urn:service:sos", want: want{scheme: "urn", opaque: "service:sos"}},
		{in: "mailto:alice@example.com", want: want{scheme: "mailto", opaque: "alice@example.com"}},

		{in: "", err: true},
		{in: "sip:", err: true},
		{in: ":alice@atlanta.com", err: true},
		{in: "1sip:x", err: true},
		{in: "sip:@atlanta.com", err: true},
		{in: "sip:alice@", err: true},
		{in: "sip:alice@atlanta.com:", err: true},
		{in: "sip:alice@atlanta.com:65536", err: true},
		{in: "sip:alice@atlanta.com:-1", err: true},
		{in: "sip:alice@atlanta.com:5x", err: true},
		{in: "sip:ali ce@atlanta.com", err: true},
		{in: "sip:alice@atl anta.com", err: true},
		{in: "sip:alice@atlanta..com", err: true},
		{in: "sip:alice@-atlanta.com", err: true},
		{in: "sip:my_host.example.com", want: want{scheme: "sip", host: "my_host.example.com"}}, // '_' taken, as resolvers and Kamailio do
		{in: "sip:alice@example.1com", err: true},                                               // a toplabel starts with a letter
		{in: "sip:alice@atlanta-.com", err: true},
		{in: "sip:alice@999.1.1.1", err: true},
		{in: "sip:alice@1.2.3", err: true},
		{in: "sip:alice@%61tlanta.com", err: true},
		{in: "sip:al%6ice@atlanta.com", err: true},
		{in: "sip:alice%4@atlanta.com", err: true},
		{in: "sip:alice:pa<ss@atlanta.com", err: true},
		{in: "sip:2001:db8::10", err: true}, // RFC 5118 §4.2
		{in: "sip:[2001:db8::10", err: true},
		{in: "sip:[2001:db8::10]x", err: true},
		{in: "sip:[2001:db8::10]:", err: true},
		{in: "sip:[1::2::3]", err: true},
		{in: "sip:[1:2:3:4:5:6:7:8:9]", err: true},
		{in: "sip:[1:2:3:4:5:6:7::8]", err: true},
		{in: "sip:[12345::1]", err: true},
		{in: "sip:[:1]", err: true},
		{in: "sip:[1:]", err: true},
		{in: "sip:[::1.2.3]", err: true},
		{in: "sip:[g::1]", err: true},
		{in: "sip:[]", err: true},
		{in: "sip:host;;lr", err: true},
		{in: "sip:host;lr;", err: true},
		{in: "sip:host;=x", err: true},
		{in: "sip:host?a=%zz", err: true},
		{in: "tel:", err: true},
		{in: "tel:12x", err: true},
		{in: "urn:", err: true},
	}
	for _, tc := range tests {
		u, err := ParseURI(tc.in)
		if tc.err {
			if err == nil {
				t.Errorf("%q: no error, got %+v", tc.in, u)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		got := want{u.Scheme, u.User, u.Password, u.Host, u.Port, string(u.Params), u.Headers, u.Opaque}
		if got != tc.want {
			t.Errorf("%q:\n got %+v\nwant %+v", tc.in, got, tc.want)
		}
		if u.String() != tc.in {
			t.Errorf("%q: String() = %q", tc.in, u.String())
		}
	}
}

func TestURIBuild(t *testing.T) {
	u := URI{Scheme: "sip", User: "bob", Host: "[2001:db8::1]", Port: 5070, Params: "transport=tcp;lr", Headers: "subject=hi"}
	s := u.String()
	eq(t, "string", s, "sip:bob@[2001:db8::1]:5070;transport=tcp;lr?subject=hi")
	back, err := ParseURI(s)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "equal", back.Equal(u), true)
	eq(t, "hostport", u.HostPort(), "[2001:db8::1]:5070")
	eq(t, "hostport no port", URI{Host: "a.example"}.HostPort(), "a.example")
	eq(t, "tel", URI{Scheme: "tel", User: "+123"}.String(), "tel:+123")
	eq(t, "opaque", URI{Scheme: "urn", Opaque: "service:sos"}.String(), "urn:service:sos")
}

// TestURIEqual uses the examples of RFC 3261 §19.1.4.
func TestURIEqual(t *testing.T) {
	equal := [][]string{
		{"sip:%61lice@atlanta.com;transport=TCP", "sip:alice@AtLanTa.CoM;Transport=tcp"},
		{"sip:carol@chicago.com", "sip:carol@chicago.com;newparam=5"},
		{"sip:carol@chicago.com", "sip:carol@chicago.com;security=on"},
		{"sip:carol@chicago.com;newparam=5", "sip:carol@chicago.com;security=on"},
		{"sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com", "sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com"},
		{"sip:alice@atlanta.com?subject=project%20x&priority=urgent", "sip:alice@atlanta.com?priority=urgent&subject=project%20x"},
		// RFC 5954 §4: IP addresses compare by value.
		{"sip:bob@[2001:db8::9:1]", "sip:bob@[2001:DB8:0:0:0:0:9:1]"},
		{"sip:bob@[::ffff:192.0.2.1]", "sip:bob@[::FFFF:c000:201]"},
		{"sip:user@host;lr", "sip:user@host;LR"},
		{"tel:+1234", "tel:+1234"},
		// Of a repeated parameter the first occurrence counts.
		{"sip:bob@h;transport=udp;transport=udp", "sip:bob@h;transport=udp"},
		{"sip:bob@h;transport=udp;transport=tcp", "sip:bob@h;transport=udp"},
		{"sip:a@h;x=1;x=2", "sip:a@h;x=1"},
		{"sip:a@h;lr;%6C%72=1", "sip:a@h;lr"},
	}
	different := [][]string{
		{"SIP:ALICE@AtLanTa.CoM;Transport=udp", "sip:alice@AtLanTa.CoM;Transport=UDP"},
		{"sip:bob@biloxi.com", "sip:bob@biloxi.com:5060"},
		{"sip:bob@biloxi.com", "sip:bob@biloxi.com;transport=udp"},
		{"sip:bob@biloxi.com", "sip:bob@biloxi.com:6000;transport=tcp"},
		{"sip:carol@chicago.com", "sip:carol@chicago.com?Subject=next%20meeting"},
		{"sip:bob@phone21.boxesbybob.com", "sip:bob@192.0.2.4"},
		{"sip:carol@chicago.com;security=on", "sip:carol@chicago.com;security=off"},
		{"sip:alice@atlanta.com", "sips:alice@atlanta.com"},
		{"sip:alice:a@atlanta.com", "sip:alice:b@atlanta.com"},
		{"sip:alice@atlanta.com?a=1&a=1", "sip:alice@atlanta.com?a=1&b=2"},
		{"sip:a@h;maddr=x", "sip:a@h"},
		{"tel:+1234", "tel:+1235"},
		{"urn:a", "urn:b"},
		{"sip:bob@h;transport=tcp;transport=udp", "sip:bob@h;transport=udp"},
		{"sip:a@h;x=2;x=1", "sip:a@h;x=1"},
	}
	for _, p := range equal {
		a, b := mustURI(t, p[0]), mustURI(t, p[1])
		if !a.Equal(b) || !b.Equal(a) {
			t.Errorf("%s and %s should be equal", p[0], p[1])
		}
	}
	for _, p := range different {
		a, b := mustURI(t, p[0]), mustURI(t, p[1])
		if a.Equal(b) || b.Equal(a) {
			t.Errorf("%s and %s should differ", p[0], p[1])
		}
	}
}

func TestAOR(t *testing.T) {
	for in, want := range map[string]string{
		"sip:Alice@AtLanTa.CoM:5060;transport=tcp?x=y": "sip:Alice@atlanta.com",
		"sips:%61lice@example.com":                     "sips:alice@example.com",
		"sip:example.com":                              "sip:example.com",
		"sip:null-%00-null@example.com":                "sip:null-\x00-null@example.com",
		"tel:+1-201-555-0123;phone-context=x":          "tel:+1-201-555-0123",
		"urn:service:sos":                              "urn:service:sos",
	} {
		eq(t, in, mustURI(t, in).AOR(), want)
	}
}

func TestUnescape(t *testing.T) {
	for in, want := range map[string]string{
		"abc": "abc", "%61%62c": "abc", "%2": "%2", "%zz": "%zz", "a%25": "a%",
		"%41%4a%4A": "AJJ", "v%61lue%25%34%31": "value%41",
	} {
		eq(t, in, Unescape(in), want)
	}
}

func TestParams(t *testing.T) {
	p := Params(` tag = abc ; lr ;q=0.5;x="a;b\";c";n%61me=v;empty=`)
	for name, want := range map[string]string{"tag": "abc", "TAG": "abc", "lr": "", "q": "0.5", "x": `a;b\";c`, "name": "v", "empty": ""} {
		v, ok := p.Get(name)
		if !ok || v != want {
			t.Errorf("%s: got %q %v, want %q", name, v, ok, want)
		}
	}
	if p.Has("nope") {
		t.Error("nope")
	}
	var names []string
	p.Each(func(n, v string) bool { names = append(names, n); return true })
	eq(t, "names", strings.Join(names, ","), "tag,lr,q,x,n%61me,empty")
	n := 0
	p.Each(func(string, string) bool { n++; return n < 2 })
	eq(t, "stop", n, 2)
	eq(t, "unquote", Unquote(`"a\"b\\c"`), `a"b\c`)
	eq(t, "unquote plain", Unquote(`abc`), `abc`)
	eq(t, "unquote trailing backslash", Unquote(`"a\"`), `a\`)
	for in, ok := range map[string]bool{"a=b;c": true, "a;;b": false, "a;": false, ";a": false, `a="x`: false, "a=b c": false, "a=[::1]": true, " a = b ": true} {
		eq(t, in, validParams(in), ok)
	}
}

func TestParamsWithout(t *testing.T) {
	const instance = `+sip.instance="<urn:uuid:00000000-0000-1000-8000-000A95A0E128>"`
	for _, tt := range []struct{ in, want string }{
		{"", ""},
		{"expires=60", ""},
		{"reg-id=1;expires=60;" + instance, "reg-id=1;" + instance},
		{"EXPIRES=60;ob", "ob"},
		{"ob;expires=60", "ob"},
		{"%65xpires=60;ob", "ob"},
		{"expires=1;expires=2;audio", "audio"},
		{` a ; expires = 60 ; b="x;expires=1"`, ` a ; b="x;expires=1"`},
		{`x="a\";expires=1";y`, `x="a\";expires=1";y`},
		{"expiresx=1;q=0.5", "expiresx=1;q=0.5"},
		{instance + `;+g.oma.sip-im;audio="TRUE"`, instance + `;+g.oma.sip-im;audio="TRUE"`},
	} {
		eq(t, tt.in, string(Params(tt.in).Without("expires")), tt.want)
	}
	p := Params("reg-id=1;ob")
	if n := testing.AllocsPerRun(10, func() { p = p.Without("expires") }); n != 0 {
		t.Errorf("Without of an absent parameter: %v allocations, want 0", n)
	}
}

func TestQ(t *testing.T) {
	for in, want := range map[string]int{"1": 1000, "1.0": 1000, "1.000": 1000, "0": 0, "0.": 0, "0.5": 500, "0.33": 330, "0.001": 1, "0.123": 123} {
		q, ok := parseQ(in)
		if !ok || q != want {
			t.Errorf("%q: got %d %v, want %d", in, q, ok, want)
		}
	}
	for _, in := range []string{"", "2", "1.1", "1.0001", "0.1234", "-0.5", ".5", "0,5", "0.5x", "01"} {
		if _, ok := parseQ(in); ok {
			t.Errorf("%q: accepted", in)
		}
	}
	for q, want := range map[int]string{1000: "1", 0: "0", 500: "0.5", 330: "0.33", 1: "0.001", 1200: "1"} {
		eq(t, want, FormatQ(q), want)
	}
	n, _ := ParseNameAddr("<sip:a@b>")
	q, ok := n.Q()
	eq(t, "default q", q, 1000)
	eq(t, "default ok", ok, true)
	n, _ = ParseNameAddr("<sip:a@b>;q=7")
	_, ok = n.Q()
	eq(t, "bad q", ok, false)
}

func TestParseNameAddr(t *testing.T) {
	tests := []struct {
		in, display, uri, params string
		star                     bool
		err                      bool
	}{
		{in: `"Alice" <sip:alice@atlanta.com>;tag=1`, display: `"Alice"`, uri: "sip:alice@atlanta.com", params: "tag=1"},
		{in: `Alice Liddell <sip:alice@atlanta.com>`, display: "Alice Liddell", uri: "sip:alice@atlanta.com"},
		{in: `<sip:alice@atlanta.com;transport=tcp>;expires=60`, uri: "sip:alice@atlanta.com;transport=tcp", params: "expires=60"},
		{in: `sip:alice@atlanta.com;tag=1`, uri: "sip:alice@atlanta.com", params: "tag=1"},
		{in: `sip:alice@atlanta.com ; tag = 1`, uri: "sip:alice@atlanta.com", params: " tag = 1"},
		{in: `caller<sip:caller@example.com>`, display: "caller", uri: "sip:caller@example.com"},
		{in: `"a \"quoted\" <name>" <sip:x@y>`, display: `"a \"quoted\" <name>"`, uri: "sip:x@y"},
		{in: `""<sip:x@y>`, display: `""`, uri: "sip:x@y"},
		{in: `*`, star: true},
		{in: `<urn:service:sos>`, uri: "urn:service:sos"},
		{in: `<sip:[2001:db8::1]:5060>`, uri: "sip:[2001:db8::1]:5060"},

		{in: ``, err: true},
		{in: `<>`, err: true},
		{in: `< sip:a@b >`, err: true}, // RFC 4475 badaspec
		{in: `<sip:a@b`, err: true},
		{in: `"unterminated <sip:a@b>`, err: true},   // quotbal
		{in: `Bell, Alexander <sip:a@b>`, err: true}, // baddn
		{in: `<sip:a@b> junk`, err: true},
		{in: `<sip:a@b>;;`, err: true},
		{in: `sip:a@b?Route=x`, err: true}, // regbadct
		{in: `sip:a b@c`, err: true},
		{in: `"x" y <sip:a@b>`, err: true},
	}
	for _, tc := range tests {
		n, err := ParseNameAddr(tc.in)
		if tc.err {
			if err == nil {
				t.Errorf("%q: accepted: %+v", tc.in, n)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		got := [4]string{n.Display, n.URI.String(), string(n.Params), map[bool]string{true: "*"}[n.Star]}
		want := [4]string{tc.display, tc.uri, tc.params, map[bool]string{true: "*"}[tc.star]}
		if tc.star {
			got[1], want[1] = "", ""
		}
		if got != want {
			t.Errorf("%q: got %q, want %q", tc.in, got, want)
		}
		eq(t, "string", n.String(), tc.in)
	}
	n := NameAddr{Display: `"Bob"`, URI: mustURI(t, "sip:bob@b.example"), Params: "tag=x"}
	eq(t, "built", n.String(), `"Bob" <sip:bob@b.example>;tag=x`)
	eq(t, "star", (&NameAddr{Star: true}).String(), "*")
	eq(t, "tag", n.Tag(), "x")
	eq(t, "display name", n.DisplayName(), "Bob")
	n, _ = ParseNameAddr("<sip:a@b>;expires=99999999999")
	_, ok := n.Expires()
	eq(t, "expires overflow", ok, false)
}

func TestParseVia(t *testing.T) {
	tests := []struct {
		in                      string
		transport, host, params string
		port                    int
		branch, received        string
		rport                   int
		hasRPort, other, err    bool
	}{
		{in: "SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds", transport: "UDP", host: "pc33.atlanta.com", params: "branch=z9hG4bK776asdhds", branch: "z9hG4bK776asdhds"},
		{in: "SIP/2.0/TCP 192.0.2.1:5070;branch=z9hG4bKx;rport=5071;received=192.0.2.9", transport: "TCP", host: "192.0.2.1", port: 5070, params: "branch=z9hG4bKx;rport=5071;received=192.0.2.9", branch: "z9hG4bKx", received: "192.0.2.9", rport: 5071, hasRPort: true},
		{in: "SIP / 2.0 / UDP  host.example.com ; branch = z9hG4bKy ; rport", transport: "UDP", host: "host.example.com", params: " branch = z9hG4bKy ; rport", branch: "z9hG4bKy", hasRPort: true},
		{in: "SIP/2.0/UDP [2001:db8::9:1]:6050;received=[2001:db8::9:255]", transport: "UDP", host: "[2001:db8::9:1]", port: 6050, params: "received=[2001:db8::9:255]", received: "[2001:db8::9:255]"},
		{in: "SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bKws", transport: "WSS", host: "df7jal23ls0d.invalid", params: "branch=z9hG4bKws", branch: "z9hG4bKws"},
		{in: "SIP/2.0/UDP host : 5060", transport: "UDP", host: "host", port: 5060},
		{in: "SIP/7.0/UDP c.example.com", transport: "UDP", host: "c.example.com", other: true},
		{in: "HTTP/1.1/TCP c.example.com", transport: "TCP", host: "c.example.com", other: true},

		{in: "SIP/2.0/UDP", err: true},
		{in: "SIP/2.0 UDP host", err: true},
		{in: "SIP/2.0/UDP host;;", err: true},
		{in: "SIP/2.0/UDP host:99999", err: true},
		{in: "SIP/2.0/UDP ho st", err: true},
		{in: "SIP/2.0/UDP [::1", err: true},
		{in: "S I P/2.0/UDP host", err: true},
		{in: "", err: true},
	}
	for _, tc := range tests {
		v, err := ParseVia(tc.in)
		if tc.err {
			if err == nil {
				t.Errorf("%q: accepted", tc.in)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		rp, has := v.RPort()
		got := []any{v.Transport, v.Host, v.Port, string(v.Params), v.Branch(), v.Received(), rp, has, v.other}
		want := []any{tc.transport, tc.host, tc.port, tc.params, tc.branch, tc.received, tc.rport, tc.hasRPort, tc.other}
		for i := range got {
			if got[i] != want[i] {
				t.Errorf("%q: field %d: got %v, want %v", tc.in, i, got[i], want[i])
			}
		}
		eq(t, "string", v.String(), tc.in)
	}
}

func TestViaReceived(t *testing.T) {
	tests := []struct {
		via, ip string
		port    int
		want    string
		changed bool
	}{
		{"SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKa", "192.0.2.1", 5060, "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKa", false},
		{"SIP/2.0/UDP host.example.com;branch=z9hG4bKa", "192.0.2.1", 5060, "SIP/2.0/UDP host.example.com;branch=z9hG4bKa;received=192.0.2.1", true},
		{"SIP/2.0/UDP 192.0.2.1;rport;branch=z9hG4bKa", "192.0.2.1", 6000, "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKa;received=192.0.2.1;rport=6000", true},
		{"SIP/2.0/UDP h;received=1.1.1.1;branch=z9hG4bKa", "192.0.2.1", 5060, "SIP/2.0/UDP h;branch=z9hG4bKa;received=192.0.2.1", true},
		{"SIP/2.0/UDP [2001:db8::1];branch=z9hG4bKa", "2001:db8::1", 5060, "SIP/2.0/UDP [2001:db8::1];branch=z9hG4bKa", false},
	}
	for _, tc := range tests {
		v, err := ParseVia(tc.via)
		if err != nil {
			t.Fatal(err)
		}
		got, changed := v.WithReceived(tc.ip, tc.port)
		eq(t, tc.via, got, tc.want)
		eq(t, tc.via+" changed", changed, tc.changed)
	}
	forced := []struct{ via, want string }{
		{"SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bKa", "SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bKa;received=192.0.2.1;rport=52100"},
		{"SIP/2.0/WSS df7jal23ls0d.invalid;rport=1;branch=z9hG4bKa", "SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bKa;received=192.0.2.1;rport=52100"},
		{"SIP/2.0/WS 192.0.2.1;branch=z9hG4bKa", "SIP/2.0/WS 192.0.2.1;branch=z9hG4bKa;received=192.0.2.1;rport=52100"},
	}
	for _, tc := range forced {
		v, err := ParseVia(tc.via)
		if err != nil {
			t.Fatal(err)
		}
		got, changed := v.WithReceivedRPort("192.0.2.1", 52100)
		eq(t, tc.via, got, tc.want)
		eq(t, tc.via+" changed", changed, true)
	}
	eq(t, "append", string(AppendVia(nil, "TCP", "[2001:db8::1]", 5080, "z9hG4bKq", "rport", "alias")),
		"SIP/2.0/TCP [2001:db8::1]:5080;branch=z9hG4bKq;rport;alias")
	eq(t, "default port tls", DefaultPort("tls"), 5061)
	eq(t, "default port udp", DefaultPort("UDP"), 5060)
}

func TestHeaderIDs(t *testing.T) {
	for id := HVia; id < numHeaderIDs; id++ {
		name := id.String()
		eq(t, name, HeaderIDOf(name), id)
		eq(t, strings.ToUpper(name), HeaderIDOf(strings.ToUpper(name)), id)
		eq(t, strings.ToLower(name), HeaderIDOf(strings.ToLower(name)), id)
	}
	for c, id := range map[string]HeaderID{"i": HCallID, "m": HContact, "F": HFrom, "t": HTo, "v": HVia, "l": HContentLength,
		"c": HContentType, "k": HSupported, "s": HSubject, "e": HContentEncoding, "o": HEvent, "u": HAllowEvents,
		"r": HReferTo, "b": HReferredBy, "x": HSessionExpires, "y": HIdentity, "j": HRejectContact, "a": HAcceptContact, "d": HRequestDisposition} {
		eq(t, c, HeaderIDOf(c), id)
	}
	for _, s := range []string{"", "q", "Vias", "X-Via", "Call-IDs", "CallID", "1", "-", "Content-Lengthx", "Request-Disposition-"} {
		eq(t, s, HeaderIDOf(s), HUnknown)
	}
	eq(t, "unknown string", HeaderID(200).String(), "")
}

func mustURI(t *testing.T, s string) URI {
	t.Helper()
	u, err := ParseURI(s)
	if err != nil {
		t.Fatalf("%q: %v", s, err)
	}
	return u
}
