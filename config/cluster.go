package config

import (
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// ClusterConfig makes this server one node of several that share a
// location store (storage.location redis): a phone's flow lives on the
// node it registered with, so every binding this node makes names it,
// and the other nodes reach the phone through it (docs/CLUSTER.md).
type ClusterConfig struct {
	// Node names this node in the Path of its bindings, in logs and in
	// the admin API; empty runs a single server. Letters, digits, '-',
	// '_' and '.': it travels as a URI parameter.
	Node string `yaml:"node" reload:"restart"`
	// Address is HOST:PORT at which the other nodes reach this node's
	// SIP listener (its own address, not the cluster's SRV name): the
	// host of the Path it stores with each binding.
	Address string `yaml:"address" reload:"restart"`
	// TakeoverAfter is how long a node's heartbeat must be missing before
	// a surviving node ends its B2BUA calls with BYE on both legs and
	// writes their records (cluster/takeover). Longer than a pause the
	// node survives (a Redis failover, a slow disk), shorter than the
	// phones' patience with a silent call.
	TakeoverAfter Duration `yaml:"takeover_after" reload:"restart"`
}

// Enabled reports whether this server is a node of a cluster.
func (c ClusterConfig) Enabled() bool { return c.Node != "" }

// maxNodeName bounds a node name, which every routed request carries.
const maxNodeName = 32

// cluster checks the cluster block against the listeners and storage.
func (ch *checker) cluster(c ClusterConfig, listen []Listener, s StorageConfig, a AuthConfig, sec SecurityConfig) {
	if c.Node == "" {
		if c.Address != "" {
			ch.add("cluster.node", "must be set when cluster.address is, like node1")
		}
		return
	}
	if len(c.Node) > maxNodeName || strings.ContainsFunc(c.Node, func(r rune) bool { return !nodeNameRune(r) }) {
		ch.add("cluster.node", "must be 1 to %d letters, digits, '-', '_' or '.', got %q", maxNodeName, c.Node)
	}
	if s.LocationEngine() != EngineRedis {
		// The SQL engines keep their index in each process's memory, so
		// they cannot show one node's bindings to another.
		ch.add("cluster.node", "needs the location store the nodes share: storage.location redis")
	}
	if a.Enabled && challengesRelayed(a.Methods) && (!sec.TrustedSkipAuth || len(sec.Trusted) == 0) {
		// A node relays calls for its phones to the node holding the
		// flow after authenticating them; that node must not challenge
		// again, as the caller's credentials stop at the first.
		ch.add("cluster.node", "with auth.enabled, the nodes must trust each other: list their addresses in security.trusted and set security.trusted_skip_auth: true")
	}
	ch.clusterAddress(c.Address, listen)
	if c.TakeoverAfter < minTakeoverAfter {
		ch.add("cluster.takeover_after", "must be at least %s (a node beats at most every second, and one late beat is no death), got %s", minTakeoverAfter, c.TakeoverAfter)
	}
}

// minTakeoverAfter is the shortest takeover timeout: a node that missed
// a few beats to a pause must not have its calls ended.
const minTakeoverAfter = Duration(2 * time.Second)

// clusterAddress checks cluster.address: an IP address and the port of
// a udp listener.
func (ch *checker) clusterAddress(addr string, listen []Listener) {
	if addr == "" {
		ch.add("cluster.address", "must be set when cluster.node is: HOST:PORT of this node's SIP listener, like 10.0.0.1:5060")
		return
	}
	host, err := splitAddr(addr, 1)
	if err != nil {
		ch.add("cluster.address", "%v", err)
		return
	}
	if host == "" {
		ch.add("cluster.address", "must name a host the other nodes reach, got %q", addr)
		return
	}
	// The nodes know each other by this address as written: a request's
	// source is matched against it (no record of a call relayed between
	// nodes twice, docs/CLUSTER.md), which a name never matches, and
	// another node must be able to send to it.
	ip, err := netip.ParseAddr(host)
	if err != nil {
		ch.add("cluster.address", "must be this node's IP address and port, like 10.0.0.1:5060, not a host name (the nodes match each other's sources by it); got %q", addr)
		return
	}
	if ip.IsUnspecified() {
		ch.add("cluster.address", "must be this node's own IP address, which the other nodes send to, not %s; got %q", host, addr)
		return
	}
	if port := portOf(addr); !listensOn(listen, port) {
		// The Path names no transport, so the other nodes send over UDP
		// (TCP for requests over 1300 bytes, RFC 3261 §18.1.1).
		ch.add("cluster.address", "port %s is not the port of a udp listener; the other nodes send to it over UDP", port)
	}
}

func nodeNameRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.'
}

// portOf is the port of a HOST:PORT that splitAddr accepted.
func portOf(addr string) string {
	return addr[strings.LastIndexByte(addr, ':')+1:]
}

func listensOn(listen []Listener, port string) bool {
	for _, l := range listen {
		if l.Proto == ProtoUDP && strconv.Itoa(l.Port) == port {
			return true
		}
	}
	return false
}

// challengesRelayed reports whether methods name one a node relays to
// another: anything but REGISTER, which the node a phone registers with
// answers itself.
func challengesRelayed(methods []string) bool {
	for _, m := range methods {
		if !strings.EqualFold(m, "REGISTER") {
			return true
		}
	}
	return false
}
