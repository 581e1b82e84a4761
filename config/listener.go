package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/parley-sip/parley/sip"
)

// Proto is a listener's transport protocol, lower case as in the config.
type Proto string

// Protocols. tls runs over TCP; the name is the one operators know (SIP
// itself says "TLS" in Via).
const (
	ProtoUDP Proto = "udp"
	ProtoTCP Proto = "tcp"
	ProtoTLS Proto = "tls"
	// ProtoWS and ProtoWSS are SIP over WebSocket (RFC 7118), plain and
	// over TLS, for web phones.
	ProtoWS  Proto = "ws"
	ProtoWSS Proto = "wss"
)

// Protocols are the listener protocols a config may name, one for each
// transport driver; a new transport adds its name here.
var Protocols = []Proto{ProtoUDP, ProtoTCP, ProtoTLS, ProtoWS, ProtoWSS}

// protocolList is "udp, tcp, tls" for error messages.
func protocolList() string {
	names := make([]string, len(Protocols))
	for i, p := range Protocols {
		names[i] = string(p)
	}
	return strings.Join(names, ", ")
}

// Listener is one socket to listen on. In YAML it is either a string
// "PROTO:HOST:PORT" or a mapping {address: PROTO:HOST:PORT, advertise:
// HOST[:PORT]}; the mapping exists for servers behind NAT, which must put
// their public address in Via and Record-Route.
type Listener struct {
	// Proto is udp, tcp, tls, ws or wss.
	Proto Proto
	// Host is an IP address or a name to resolve, without brackets; 0.0.0.0
	// or :: listens on every address.
	Host string
	// Port is 1 to 65535.
	Port int
	// Advertise is HOST:PORT to put in headers instead of the bound address;
	// empty means the bound address. Decoding fills in Port when the
	// config gives only a host.
	Advertise string
}

// ParseListener parses "PROTO:HOST:PORT" (IPv6 as udp:[::1]:5060). It is
// exported so that a --listen flag takes the same syntax as the config file.
func ParseListener(s string) (Listener, error) {
	proto, addr, ok := strings.Cut(s, ":")
	if !ok {
		return Listener{}, fmt.Errorf("listener %q: must look like udp:0.0.0.0:5060", s)
	}
	l := Listener{Proto: Proto(proto)}
	if !l.Proto.valid() {
		return Listener{}, fmt.Errorf("listener %q: protocol must be one of %s; got %q", s, protocolList(), proto)
	}
	// wss://host:port is how a browser names the listener, not how a
	// listen entry does: say so rather than call "//host" a bad host.
	if rest, url := strings.CutPrefix(addr, "//"); url {
		return Listener{}, fmt.Errorf("listener %q: must be PROTO:HOST:PORT without \"//\", like %s:%s", s, proto, strings.TrimSuffix(rest, "/"))
	}
	var err error
	if l.Host, l.Port, err = splitHostPort(addr); err != nil {
		return Listener{}, fmt.Errorf("listener %q: %w", s, err)
	}
	return l, nil
}

// String is the PROTO:HOST:PORT form that ParseListener reads, so that logs
// show listeners as they are configured.
func (l Listener) String() string {
	return string(l.Proto) + ":" + l.Addr()
}

// Addr is HOST:PORT for net.Listen and friends.
func (l Listener) Addr() string {
	return net.JoinHostPort(l.Host, strconv.Itoa(l.Port))
}

// MarshalYAML writes the short string form unless there is an advertised
// address, so that marshalled configs stay as terse as hand-written ones.
func (l Listener) MarshalYAML() (any, error) {
	if l.Advertise == "" {
		return l.String(), nil
	}
	return listenerYAML{Address: l.String(), Advertise: l.Advertise}, nil
}

// UnmarshalYAML lets Listener be used with plain yaml.v3 decoding too.
func (l *Listener) UnmarshalYAML(n *yaml.Node) error {
	dec := newDecoder()
	l.decodeNode(dec, n, "")
	if len(dec.errs) > 0 {
		return dec.errs
	}
	return nil
}

type listenerYAML struct {
	Address   string `yaml:"address"`
	Advertise string `yaml:"advertise,omitempty"`
}

func (l *Listener) decodeNode(d *decoder, n *yaml.Node, key string) {
	switch {
	case isScalar(n, "!!str"):
		pl, err := ParseListener(n.Value)
		if err != nil {
			d.fail(n.Line, key, "%v", err)
			return
		}
		*l = pl
	case n.Kind == yaml.MappingNode:
		var raw listenerYAML
		before := len(d.errs)
		d.decode(n, reflect.ValueOf(&raw).Elem(), key)
		if len(d.errs) > before {
			return
		}
		addrKey, advKey := join(key, "address"), join(key, "advertise")
		if raw.Address == "" {
			d.fail(n.Line, key, "needs an address, like address: udp:0.0.0.0:5060")
			return
		}
		pl, err := ParseListener(raw.Address)
		if err != nil {
			d.fail(d.pos[addrKey], addrKey, "%v", err)
			return
		}
		if raw.Advertise != "" {
			if pl.Advertise, err = normalizeAdvertise(raw.Advertise, pl.Port); err != nil {
				d.fail(d.pos[advKey], advKey, "%v", err)
				return
			}
		}
		*l = pl
	default:
		d.fail(n.Line, key, "must be a string like udp:0.0.0.0:5060 or a mapping with address and advertise, got %s", describe(n))
	}
}

// validate re-checks a Listener that the command line may have built by
// hand rather than with ParseListener.
func (l Listener) validate() error {
	if !l.Proto.valid() {
		return fmt.Errorf("protocol must be one of %s; got %q", protocolList(), l.Proto)
	}
	if err := checkHost(l.Host); err != nil {
		return err
	}
	if l.Port < 1 || l.Port > 65535 {
		return fmt.Errorf("port must be between 1 and 65535, got %d", l.Port)
	}
	if l.Advertise != "" {
		if _, _, err := splitHostPort(l.Advertise); err != nil {
			return fmt.Errorf("advertise %q: %w", l.Advertise, err)
		}
	}
	return nil
}

func (p Proto) valid() bool {
	return slices.Contains(Protocols, p)
}

// normalizeAdvertise accepts HOST or HOST:PORT and returns HOST:PORT, taking
// the listener's port when none is given: behind a NAT that forwards the
// same port, the operator need only write the public address.
func normalizeAdvertise(s string, port int) (string, error) {
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") || !strings.Contains(s, ":") {
		host := strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
		if err := checkHost(host); err != nil {
			return "", fmt.Errorf("advertise %q: %w", s, err)
		}
		return net.JoinHostPort(host, strconv.Itoa(port)), nil
	}
	host, p, err := splitHostPort(s)
	if err != nil {
		return "", fmt.Errorf("advertise %q: %w", s, err)
	}
	return net.JoinHostPort(host, strconv.Itoa(p)), nil
}

// splitHostPort is net.SplitHostPort with the checks and messages a config
// needs. Unbracketed IPv6 is refused because "::1:5060" cannot be split
// reliably.
func splitHostPort(s string) (string, int, error) {
	if strings.Count(s, ":") > 1 && !strings.HasPrefix(s, "[") {
		return "", 0, errors.New("IPv6 addresses need brackets, like [::1]:5060")
	}
	host, portStr, err := net.SplitHostPort(s)
	if err != nil {
		return "", 0, errors.New("must be HOST:PORT, like 0.0.0.0:5060")
	}
	if err := checkHost(host); err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 1 || port > 65535 {
		return "", 0, fmt.Errorf("port must be between 1 and 65535, got %q", portStr)
	}
	return host, port, nil
}

func checkHost(host string) error {
	if host == "" {
		return errors.New("host is missing; use 0.0.0.0 or [::] for every address")
	}
	if !validHost(host) {
		return fmt.Errorf("%q is neither an IP address nor a host name", host)
	}
	return nil
}

// validHost accepts IP addresses (with an IPv6 zone) and host names by
// the SIP grammar's rule (sip.ValidHostname), under which a mistyped IPv4
// address such as 300.1.1.1 is no name either.
func validHost(s string) bool {
	if _, err := netip.ParseAddr(s); err == nil {
		return true
	}
	return sip.ValidHostname(s)
}
