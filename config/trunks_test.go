package config

import (
	"strings"
	"testing"
)

func TestTrunkErrors(t *testing.T) {
	const gw = "gateways: [{name: gw1, address: 'sip:192.0.2.1'}]\n"
	tests := []struct {
		name, yaml, want string
	}{
		{"bad regex", gw + "routes:\n  - name: r\n    regex: '(['\n    gateways: [gw1]\n",
			"t.yaml:4: routes[0].regex: is not a valid regular expression"},
		{"unknown gateway", gw + "routes:\n  - name: r\n    prefix: '0'\n    gateways: [gw1, nope]\n",
			`t.yaml:5: routes[0].gateways[1]: "nope" is not the name of a gateway`},
		{"no match", gw + "routes:\n  - name: r\n    gateways: [gw1]\n", "routes[0].prefix: must be set, or regex"},
		{"both matches", gw + "routes:\n  - name: r\n    prefix: '0'\n    regex: '^0'\n    gateways: [gw1]\n",
			"t.yaml:5: routes[0].regex: must not be set with prefix"},
		{"neither gateways nor local", gw + "routes:\n  - name: r\n    prefix: '0'\n", "routes[0].gateways: must list gateways, or local: true"},
		{"replace without regex", gw + "routes:\n  - name: r\n    prefix: '0'\n    replace: $1\n    local: true\n", "t.yaml:5: routes[0].replace: needs regex"},
		{"country code", gw + "routes:\n  - name: r\n    prefix: '0'\n    country_code: '+49'\n    local: true\n", `t.yaml:5: routes[0].country_code: must be digits, got "+49"`},
		{"negative strip", gw + "routes:\n  - name: r\n    prefix: '0'\n    strip: -1\n    local: true\n", "t.yaml:5: routes[0].strip: must be at least 0"},
		{"duplicate route", gw + "routes:\n  - {name: r, prefix: '0', local: true}\n  - {name: r, prefix: '1', local: true}\n", `t.yaml:4: routes[1].name: "r" is already the name of routes[0]`},
		{"gateway address", "gateways: [{name: gw1, address: 'sip:'}]\n", `t.yaml:1: gateways[0].address: must be a SIP URI`},
		{"gateway port", "gateways: [{name: gw1, address: 'gw.example:99999'}]\n", `gateways[0].address: must be a SIP URI`},
		{"gateway transport", "gateways: [{name: gw1, address: gw.example, transport: sctp}]\n", `gateways[0].transport: must be one of udp, tcp, tls`},
		{"gateway named local", "gateways: [{name: local, address: gw.example}]\n", `gateways[0].name: must be a name`},
		{"duplicate gateway", "gateways: [{name: a, address: gw.example}, {name: a, address: gw2.example}]\n", `gateways[1].name: "a" is already the name of gateways[0]`},
		{"register without password", "gateways:\n  - name: a\n    address: gw.example\n    username: u\n    register: true\n", `t.yaml:5: gateways[0].register: needs username and password`},
		{"stateless pings", "mode: stateless\ngateways: [{name: a, address: gw.example, ping_interval: 10s}]\n", `gateways[0].register: registering and pinging (ping_interval) need mode: stateful`},
		{"gateway sources", "gateways: [{name: a, address: gw.example, sources: [192.0.2.0/24, nonsense]}]\n", `gateways[0].sources[1]: must be a network`},
		{"unknown key", "gateways: [{name: a, address: gw.example, pasword: x}]\n", `gateways[0].pasword: unknown key`},
		{"from_user", "gateways: [{name: a, address: gw.example, from_user: 'a b'}]\n", `t.yaml:1: gateways[0].from_user: must be a user part`},
		{"identity_header", "gateways:\n  - name: a\n    address: gw.example\n    identity_header: pid\n", `t.yaml:4: gateways[0].identity_header: must be pai, ppi or empty; got "pid"`},
		{"identity_user", "gateways:\n  - name: a\n    address: gw.example\n    identity_user: '+49 30'\n", `t.yaml:4: gateways[0].identity_user: must be a user part`},
		{"from_host", "gateways:\n  - name: a\n    address: gw.example\n    from_host: 'bad host'\n", `t.yaml:4: gateways[0].from_host: "bad host" is not a domain`},
		{"did number", "dids: {'+49abc': alice}\n", `t.yaml:1: dids.+49abc: must be a number`},
		{"did user", "dids: {'+4930': ''}\n", `dids.+4930: must name a local user`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("t.yaml", []byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestTrunkConfigValid(t *testing.T) {
	c, err := Parse("t.yaml", []byte(`
gateways:
  - {name: gw1, address: 'sip:[2001:db8::1]:5080;transport=tcp'}
  - {name: gw2, address: 'gw.example.com', transport: tls}
routes:
  - {name: out, regex: '^9(\d+)$', replace: '$1', gateways: [gw1, gw2]}
dids: {'004930123': alice@example.com}
`))
	if err != nil {
		t.Fatal(err)
	}
	if re := c.Routes[0].Regex.Compiled(); re == nil || !re.MatchString("9123") {
		t.Fatalf("regex not compiled: %v", re)
	}
}
