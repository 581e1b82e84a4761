package config

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// redisLocation is the storage a cluster needs, for the cases below.
var redisLocation = []string{"storage:", "  location: redis", "  redis_url: redis://127.0.0.1:6379/0"}

// TestClusterErrors checks the cluster block's rules, each at the line
// and key the operator must change.
func TestClusterErrors(t *testing.T) {
	tests := []struct {
		name string
		src  []byte
		line int
		key  string
		msg  string
	}{
		{"address without node", lines("cluster:", "  address: 127.0.0.1:5060"), 1, "cluster.node", "must be set when cluster.address is"},
		{"node without shared store", lines("cluster:", "  node: n1", "  address: 127.0.0.1:5060"), 2, "cluster.node", "storage.location redis"},
		{"node name with space", lines(append(redisLocation, "cluster:", "  node: 'n 1'", "  address: 127.0.0.1:5060")...), 5, "cluster.node", `got "n 1"`},
		{"node name too long", lines(append(redisLocation, "cluster:", "  node: "+strings.Repeat("n", 33), "  address: 127.0.0.1:5060")...), 5, "cluster.node", "1 to 32 letters"},
		{"node without address", lines(append(redisLocation, "cluster:", "  node: n1")...), 4, "cluster.address", "must be set when cluster.node is"},
		{"address without port", lines(append(redisLocation, "cluster:", "  node: n1", "  address: 127.0.0.1")...), 6, "cluster.address", "must be HOST:PORT"},
		{"address without host", lines(append(redisLocation, "cluster:", "  node: n1", "  address: ':5060'")...), 6, "cluster.address", "must name a host"},
		{"address a host name", lines(append(redisLocation, "cluster:", "  node: n1", "  address: sip1.example.com:5060")...), 6, "cluster.address", "not a host name"},
		{"address unspecified", lines(append(redisLocation, "cluster:", "  node: n1", "  address: 0.0.0.0:5060")...), 6, "cluster.address", "not 0.0.0.0"},
		{"address unspecified IPv6", lines(append(redisLocation, "cluster:", "  node: n1", "  address: '[::]:5060'")...), 6, "cluster.address", "not ::"},
		{"address on no listener's port", lines(append(redisLocation, "cluster:", "  node: n1", "  address: 127.0.0.1:5070")...), 6, "cluster.address", "port 5070 is not the port of a udp listener"},
		{"address on a tls listener's port", lines(append(redisLocation, "cluster:", "  node: n1", "  address: 127.0.0.1:5061")...), 6, "cluster.address", "port 5061 is not the port of a udp listener"},
		{"auth without trusted nodes", lines(append(redisLocation, "auth:", "  enabled: true", "cluster:", "  node: n1", "  address: 127.0.0.1:5060")...), 7, "cluster.node", "security.trusted_skip_auth: true"},
		{"takeover too soon", lines(append(redisLocation, "cluster:", "  node: n1", "  address: 127.0.0.1:5060", "  takeover_after: 1s")...), 7, "cluster.takeover_after", "must be at least 2s"},
		{"unknown key", lines("cluster:", "  name: n1"), 2, "cluster.name", "unknown key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("t.yaml", tt.src)
			var errs Errors
			if !errors.As(err, &errs) || len(errs) != 1 {
				t.Fatalf("got %v, want one error", err)
			}
			e := errs[0]
			if e.Line != tt.line || e.Key != tt.key || !strings.Contains(e.Msg, tt.msg) {
				t.Errorf("got  %q\nwant line %d, key %s, ...%q...", e.Error(), tt.line, tt.key, tt.msg)
			}
		})
	}
}

// TestClusterAccepted: a node on Redis with its own address, and the
// single server of the defaults.
func TestClusterAccepted(t *testing.T) {
	for _, src := range [][]byte{
		lines(append(redisLocation, "cluster:", "  node: node-2.dc1", "  address: 127.0.0.2:5060")...),
		lines(append(redisLocation, "cluster:", "  node: n3", "  address: '[2001:db8::3]:5060'")...),
		lines("cluster:", "  node: ''"),
		lines(append(redisLocation, "auth:", "  enabled: true", "  methods: [REGISTER]", "cluster:", "  node: n1", "  address: 127.0.0.1:5060")...),
		lines(append(redisLocation, "auth:", "  enabled: true", "security:", "  trusted: [10.0.0.2, 10.0.0.3]", "  trusted_skip_auth: true", "cluster:", "  node: n1", "  address: 127.0.0.1:5060")...),
	} {
		if _, err := Parse("t.yaml", src); err != nil {
			t.Errorf("%s: %v", src, err)
		}
	}
}

// TestClusterGuideExample: the node configuration docs/CLUSTER.md gives
// is one Parley accepts, so the guide cannot drift from the schema.
func TestClusterGuideExample(t *testing.T) {
	doc, err := os.ReadFile("../docs/CLUSTER.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := 0
	for _, part := range strings.Split(string(doc), "```yaml\n")[1:] {
		src, _, ok := strings.Cut(part, "```")
		if !ok {
			t.Fatal("a yaml block without its end")
		}
		blocks++
		c, err := Parse("docs/CLUSTER.md", []byte(src))
		if err != nil {
			t.Errorf("the guide's config: %v", err)
			continue
		}
		if !c.Cluster.Enabled() || c.Cluster.Address == "" {
			t.Errorf("the guide's config makes no cluster node: %+v", c.Cluster)
		}
	}
	if blocks == 0 {
		t.Error("docs/CLUSTER.md has no yaml block")
	}
}

// TestRedisURLQuery: a Redis URL may name a Sentinel group (master_set,
// more Sentinels in addr) or more seed nodes (addr), and nothing else.
func TestRedisURLQuery(t *testing.T) {
	tests := []struct {
		url, msg string // msg "" when accepted
	}{
		{"redis://10.0.0.10:26379/0?master_set=parley", ""},
		{"redis://10.0.0.10:26379/0?master_set=parley&addr=10.0.0.11:26379&addr=10.0.0.12:26379", ""},
		{"redis://10.0.0.10:6379?addr=10.0.0.11:6379", ""},
		{"redis://10.0.0.10:6379/0?timeout=5", `query key "timeout" is not one of master_set, addr`},
		{"redis://10.0.0.10:6379/0?master_set=", "master_set must be given once"},
		{"redis://10.0.0.10:6379/0?master_set=a&master_set=b", "master_set must be given once"},
		{"redis://10.0.0.10:6379/0?addr=10.0.0.11", `addr "10.0.0.11": must be HOST:PORT`},
		{"redis://10.0.0.10:6379/0#x", "takes no fragment"},
	}
	for _, tt := range tests {
		_, err := Parse("t.yaml", lines("storage:", "  location: redis", "  redis_url: '"+tt.url+"'"))
		switch {
		case tt.msg == "" && err != nil:
			t.Errorf("%s: %v", tt.url, err)
		case tt.msg != "" && (err == nil || !strings.Contains(err.Error(), tt.msg)):
			t.Errorf("%s: got %v, want ...%q...", tt.url, err, tt.msg)
		}
	}
}
