package outbound

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transport"
)

// DNS finds where to send a request for a URI (RFC 3263 §4): an IP
// address as it is; for a name without port or transport its NAPTR
// records, then the SRV records of UDP, TCP and TLS; then A/AAAA.
type DNS struct {
	r       *net.Resolver
	naptr   *naptrClient // nil: no name server known, NAPTR skipped
	timeout time.Duration
}

// NewDNS returns a resolver on the system's DNS configuration.
func NewDNS() *DNS {
	return &DNS{r: net.DefaultResolver, naptr: systemNAPTR(), timeout: 2 * time.Second}
}

// errNoAddress means a name resolved to nothing usable.
var errNoAddress = errors.New("outbound: no address for host")

// Resolve returns the destinations for u in the order to try them.
func (res *DNS) Resolve(ctx context.Context, u *sip.URI) ([]transport.Target, error) {
	host := u.Host
	if maddr, ok := u.Params.Get("maddr"); ok && maddr != "" {
		host = maddr
	}
	host = sip.TrimBrackets(host)
	proto, pinned := URIProto(u)
	if ip, err := netip.ParseAddr(host); err == nil {
		return []transport.Target{{Proto: proto, Addr: netip.AddrPortFrom(ip, uint16(uriPort(u, proto)))}}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, res.timeout)
	defer cancel()
	if u.Port == 0 && !pinned {
		if ts := res.viaNAPTR(ctx, host, u.Scheme == "sips"); len(ts) > 0 {
			return ts, nil
		}
	}
	if u.Port == 0 {
		if ts := res.srv(ctx, host, proto, pinned, u.Scheme == "sips"); len(ts) > 0 {
			return ts, nil
		}
	}
	addrs, err := res.lookup(ctx, host)
	if err != nil {
		return nil, err
	}
	out := make([]transport.Target, 0, len(addrs))
	for _, a := range addrs {
		out = append(out, transport.Target{Proto: proto, Addr: netip.AddrPortFrom(a, uint16(uriPort(u, proto))), ServerName: host})
	}
	return out, nil
}

// URIProto is the transport a URI asks for (§18.1.1, RFC 3263 §4.1):
// its transport parameter when a driver speaks it (its secure form in a
// sips URI: TLS for tcp, WSS for ws), TLS for sips, else UDP.
func URIProto(u *sip.URI) (p transport.Proto, pinned bool) {
	if t, ok := u.Params.Get("transport"); ok {
		if p, ok := transport.ProtoOfURI(t, u.Scheme == "sips"); ok {
			return p, true
		}
	}
	if u.Scheme == "sips" {
		return transport.TLS, true
	}
	return transport.UDP, false
}

func uriPort(u *sip.URI, p transport.Proto) int {
	if u.Port != 0 {
		return u.Port
	}
	return p.DefaultPort()
}

// srv looks up the SRV records of every transport that has them, in the
// drivers' preference (_sip._udp, _sip._tcp, _sips._tcp): only the pinned
// transport's when the URI names one, only secure ones for sips.
func (res *DNS) srv(ctx context.Context, host string, proto transport.Proto, pinned, sips bool) []transport.Target {
	var out []transport.Target
	for _, d := range transport.Drivers() {
		t := d.Traits()
		if t.SRVService == "" || (sips && !t.Secure) || (pinned && d.Proto() != proto) {
			continue
		}
		_, recs, err := res.r.LookupSRV(ctx, t.SRVService, t.SRVProto, host)
		if err != nil {
			continue
		}
		out = append(out, res.srvTargets(ctx, recs, d.Proto(), host)...)
		if len(out) > 0 {
			return out
		}
	}
	return out
}

// srvTargets turns SRV records (already in priority and weight order)
// into addresses; domain is the name certificates are checked against.
func (res *DNS) srvTargets(ctx context.Context, recs []*net.SRV, proto transport.Proto, domain string) []transport.Target {
	var out []transport.Target
	for _, rec := range recs {
		addrs, err := res.lookup(ctx, strings.TrimSuffix(rec.Target, "."))
		if err != nil {
			continue
		}
		for _, a := range addrs {
			out = append(out, transport.Target{Proto: proto, Addr: netip.AddrPortFrom(a, rec.Port), ServerName: domain})
		}
	}
	return out
}

func (res *DNS) lookup(ctx context.Context, host string) ([]netip.Addr, error) {
	ips, err := res.r.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, err
	}
	if len(ips) == 0 {
		return nil, errNoAddress
	}
	for i := range ips {
		ips[i] = ips[i].Unmap()
	}
	return ips, nil
}

// ResolveHost returns one address for a host, for response routing.
func (res *DNS) ResolveHost(ctx context.Context, host string) (netip.Addr, error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		return ip, nil
	}
	ctx, cancel := context.WithTimeout(ctx, res.timeout)
	defer cancel()
	// A lookup that times out goes on in the resolver's goroutine, and
	// host is often a view into a response the caller releases for reuse
	// when it returns (transport.Incoming.Release).
	addrs, err := res.lookup(ctx, strings.Clone(host))
	if err != nil {
		return netip.Addr{}, err
	}
	return addrs[0], nil
}

// literal reports whether u names its next hop by IP address, which
// needs no DNS.
func literal(u *sip.URI) bool {
	host := u.Host
	if maddr, ok := u.Params.Get("maddr"); ok && maddr != "" {
		host = maddr
	}
	_, err := netip.ParseAddr(sip.TrimBrackets(host))
	return err == nil
}
