package registrar

import (
	"strconv"
	"strings"
	"time"

	"github.com/parley-sip/parley/gruu"
	"github.com/parley-sip/parley/location"
	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transport"
)

// Option tags of the extensions this file implements.
const (
	tagOutbound = "outbound" // RFC 5626
	tagGRUU     = "gruu"     // RFC 5627
)

// Flow-Timer values when the policy leaves the choice to Parley (RFC 5626
// §4.4): a NAT forgets an idle UDP mapping after 30 s or more, so a
// phone that pings every 20–25 s keeps it; a connection stays open as
// long as the server's idle timeout (10 min), so 120 s spares batteries.
const (
	flowTimerDatagram = 25 * time.Second
	flowTimerStream   = 120 * time.Second
)

// asks is what a REGISTER asks of the extensions: read once per request.
type asks struct {
	outbound bool // Supported: outbound, and the first hop can keep flows (§6)
	lacking  bool // Supported: outbound, but the first hop cannot
	gruu     bool // Supported: gruu
}

// readAsks reads the option tags and checks the first hop: Parley itself
// when the REGISTER has one Via, else the edge proxy that added the last
// Path, which says it keeps flows with the "ob" URI parameter (§6).
func readAsks(req *sip.Message) asks {
	a := asks{gruu: req.HasToken("Supported", tagGRUU)}
	if !req.HasToken("Supported", tagOutbound) {
		return a
	}
	vias, _ := req.Vias()
	if len(vias) == 1 {
		a.outbound = true
		return a
	}
	paths, _ := req.Paths()
	if n := len(paths); n > 0 && paths[n-1].URI.Params.Has("ob") {
		a.outbound = true
		return a
	}
	a.lacking = true
	return a
}

// readFlowKey reads +sip.instance and reg-id into b. A +sip.instance
// that is not a URN is left out: the binding is then keyed by its
// Contact URI as RFC 3261 keys it, which loses nothing the phone can
// rely on. reg-id counts only beside an instance and with outbound on a
// first hop that keeps flows; a phone that asked for outbound through a
// first hop that cannot gets 439 (§6).
func readFlowKey(c *sip.NameAddr, a asks, b *location.Binding) error {
	raw, has := c.Params.Get("+sip.instance")
	if !has {
		return nil
	}
	inst, err := gruu.ParseInstance(raw)
	if err != nil {
		return nil
	}
	b.InstanceID = inst
	v, has := c.Params.Get("reg-id")
	if !has {
		return nil
	}
	id, err := strconv.ParseUint(v, 10, 31)
	if err != nil || id == 0 {
		return refuse(400, "Malformed reg-id") // RFC 5626 §10: 1 to 2^31-1
	}
	switch {
	case a.outbound:
		b.RegID = int(id)
	case a.lacking:
		return refuse(439, "First Hop Lacks Outbound Support")
	}
	return nil
}

// sameKey reports whether binding b is the one change c names: by
// instance and reg-id for a Contact with +sip.instance (RFC 5626 §6:
// the Contact URI then does not count), else by Contact URI (§19.1.4).
// A binding stored before Parley keyed by instance holds the instance as
// the phone wrote it ("<urn:…>", not a bare URN): it is matched by its
// Contact URI, as it was made, so that the phone's first REGISTER after
// an upgrade replaces it instead of adding a second binding that rings
// the same phone twice.
func sameKey(b *location.Binding, c *change) bool {
	stored := b.InstanceID
	switch {
	case stored != "" && !strings.HasPrefix(stored, "urn:"):
		return sameURI(b.Contact, c.uri)
	case c.binding.InstanceID != "":
		return stored == c.binding.InstanceID && b.RegID == c.binding.RegID
	case stored != "":
		return false
	default:
		return sameURI(b.Contact, c.uri)
	}
}

func sameURI(contact string, u sip.URI) bool {
	v, err := sip.ParseURI(contact)
	return err == nil && v.Equal(u)
}

// flowGrace is how long past its Flow-Timer a flow may stay silent
// before the server counts it as failed: RFC 5626 §4.4.1 has the server
// wait longer than the Flow-Timer, for the keepalive's delay on its way.
const flowGrace = 10 * time.Second

// FlowTimeout is how long a flow over proto may go without a keepalive
// before it counts as failed: its Flow-Timer and a grace period.
func FlowTimeout(p Policy, proto transport.Proto) time.Duration {
	return flowTimer(p, proto) + flowGrace
}

// flowTimer is the Flow-Timer for a flow over proto: the policy's, or
// Parley's choice for the transport.
func flowTimer(p Policy, proto transport.Proto) time.Duration {
	switch {
	case p.FlowTimer > 0:
		return p.FlowTimer
	case proto.Reliable():
		return flowTimerStream
	default:
		return flowTimerDatagram
	}
}

// phoneProto is the transport of the phone's own flow: the bottom Via's,
// which is the phone's when an edge proxy relayed the REGISTER, else the
// one it arrived on.
func phoneProto(req *sip.Message, arrived transport.Proto) transport.Proto {
	vias, err := req.Vias()
	if err != nil || len(vias) < 2 {
		return arrived
	}
	if p, ok := transport.ProtoOfVia(vias[len(vias)-1].Transport); ok {
		return p
	}
	return arrived
}

// usesOutbound reports whether a REGISTER's changes made a flow binding,
// so its 200 says Require: outbound (§6).
func usesOutbound(changes []change) bool {
	for i := range changes {
		if changes[i].binding.RegID != 0 && changes[i].expires != 0 {
			return true
		}
	}
	return false
}

// gruuParams returns the pub-gruu and temp-gruu Contact parameters of a
// binding for the 200 of a REGISTER that asked for GRUUs (RFC 5627
// §5.2): a new temporary GRUU each time, valid with the earlier ones
// while the binding keeps its Call-ID.
func (r *Registrar) gruuParams(b *location.Binding, aor, domain string) string {
	s := ";pub-gruu=\"" + gruu.Public(aor, b.InstanceID) + "\""
	if r.GRUU != nil {
		s += ";temp-gruu=\"" + r.GRUU.Temp(domain, aor, b.InstanceID, b.CallID) + "\""
	}
	return s
}

// refuseGRUUContact answers 403 to a Contact that is a GRUU of the AOR
// being registered (RFC 5627 §5): a request to the AOR would be sent
// to the GRUU, which leads back to the AOR's bindings, itself among them.
func (r *Registrar) refuseGRUUContact(c *sip.NameAddr, aor string) error {
	if !c.URI.Params.Has(gruu.Param) {
		return nil
	}
	if ref, ok, err := r.GRUU.Read(&c.URI); ok && err == nil && ref.AOR == aor {
		return refuse(403, "Contact Is A GRUU Of This AOR")
	}
	return nil
}
