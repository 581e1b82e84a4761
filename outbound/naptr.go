package outbound

import (
	"context"
	"net"
	"sort"
	"strings"

	"github.com/miekg/dns"

	"github.com/parley-sip/parley/transport"
)

// NAPTR is RFC 3263 §4.1's first step for a domain without a port or a
// transport: the domain says which transports it offers and where their
// SRV records are. net.Resolver has no NAPTR lookup, so it is asked
// with github.com/miekg/dns of the system's name servers.

// naptrServices maps a NAPTR service to the transport it names (RFC 3263
// §4.1, RFC 3261 §26), as the drivers declare them.
var naptrServices = func() map[string]transport.Proto {
	m := make(map[string]transport.Proto)
	for _, d := range transport.Drivers() {
		if s := d.Traits().NAPTR; s != "" {
			m[s] = d.Proto()
		}
	}
	return m
}()

// naptrClient asks name servers for NAPTR records.
type naptrClient struct {
	servers []string // host:port
	client  *dns.Client
}

// systemNAPTR reads the name servers of /etc/resolv.conf; nil when there
// are none, in which case NAPTR is skipped.
func systemNAPTR() *naptrClient {
	cfg, err := dns.ClientConfigFromFile("/etc/resolv.conf")
	if err != nil || len(cfg.Servers) == 0 {
		return nil
	}
	c := &naptrClient{client: new(dns.Client)}
	for _, s := range cfg.Servers {
		c.servers = append(c.servers, net.JoinHostPort(s, cfg.Port))
	}
	return c
}

// naptr returns the SRV names to try, in NAPTR order, with their
// transport: only terminal ("s") records of SIP services, and for a sips
// URI only SIPS ones.
func (c *naptrClient) naptr(ctx context.Context, domain string, sips bool) []srvName {
	q := new(dns.Msg)
	q.SetQuestion(dns.Fqdn(domain), dns.TypeNAPTR)
	for _, server := range c.servers {
		in, _, err := c.client.ExchangeContext(ctx, q, server)
		if err != nil || in.Rcode != dns.RcodeSuccess {
			continue
		}
		return naptrNames(in.Answer, sips)
	}
	return nil
}

// srvName is one SRV name a NAPTR record points at.
type srvName struct {
	name  string
	proto transport.Proto
}

func naptrNames(answer []dns.RR, sips bool) []srvName {
	var recs []*dns.NAPTR
	for _, rr := range answer {
		if n, ok := rr.(*dns.NAPTR); ok && strings.EqualFold(n.Flags, "s") {
			recs = append(recs, n)
		}
	}
	sort.SliceStable(recs, func(i, j int) bool {
		if recs[i].Order != recs[j].Order {
			return recs[i].Order < recs[j].Order
		}
		return recs[i].Preference < recs[j].Preference
	})
	var out []srvName
	for _, n := range recs {
		proto, known := naptrServices[strings.ToUpper(n.Service)]
		if !known || (sips && !proto.Secure()) {
			continue
		}
		out = append(out, srvName{name: strings.TrimSuffix(n.Replacement, "."), proto: proto})
	}
	return out
}

// viaNAPTR resolves a domain through its NAPTR records: the SRV records
// each names, then their addresses. Empty when the domain has none.
func (res *DNS) viaNAPTR(ctx context.Context, domain string, sips bool) []transport.Target {
	if res.naptr == nil {
		return nil
	}
	var out []transport.Target
	for _, s := range res.naptr.naptr(ctx, domain, sips) {
		_, recs, err := res.r.LookupSRV(ctx, "", "", s.name)
		if err != nil {
			continue
		}
		out = append(out, res.srvTargets(ctx, recs, s.proto, domain)...)
	}
	return out
}
