package registrar

import (
	"cmp"
	"net/http"
	"slices"
	"strconv"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/parley-sip/parley/location"
	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transport"
)

// change is one Contact of a REGISTER: a binding to add, refresh or (with
// a zero expiry) remove, or the '*' that removes them all.
type change struct {
	star    bool
	uri     sip.URI
	binding location.Binding
	expires time.Duration
}

// readContacts turns the Contact headers into changes (§10.3 steps 6 and
// 7), checking expiry against the policy. It returns nil, nil for a
// REGISTER without Contact, which is a query.
func (r *Registrar) readContacts(in *transport.Incoming, aor string, a asks, p Policy, now time.Time) ([]change, error) {
	req := in.Msg
	contacts, err := req.Contacts()
	if err != nil {
		return nil, refuse(400, "Malformed Contact")
	}
	if len(contacts) == 0 {
		return nil, nil
	}
	headerExpires, hasHeader, err := req.Expires()
	if err != nil {
		return nil, refuse(400, "Malformed Expires")
	}
	if star := contacts[0].Star; star || hasStar(contacts) {
		// §10.2.2: '*' only alone and only with Expires: 0.
		if len(contacts) > 1 || !hasHeader || headerExpires != 0 {
			return nil, refuse(400, "Invalid Wildcard Contact")
		}
		return []change{{star: true}}, nil
	}
	base := bindingBase(in)
	if len(base.Path) == 0 && r.NodePath != nil {
		if v := r.NodePath(in); v != "" {
			base.Path = []string{v}
		}
	}
	out := make([]change, 0, len(contacts))
	for i := range contacts {
		c, err := r.readContact(&contacts[i], headerExpires, hasHeader, p, base, now)
		if err == nil {
			err = r.refuseGRUUContact(&contacts[i], aor)
		}
		if err == nil {
			err = readFlowKey(&contacts[i], a, &c.binding)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

func hasStar(cs []sip.NameAddr) bool {
	for i := range cs {
		if cs[i].Star {
			return true
		}
	}
	return false
}

// bindingBase holds what every binding of a REGISTER shares: where it
// came from, so that calls reach a phone behind NAT the same way.
func bindingBase(in *transport.Incoming) location.Binding {
	req := in.Msg
	b := location.Binding{
		Transport: string(in.Proto),
		Source:    in.Source,
		Local:     in.Local,
		ConnID:    uint64(in.Conn),
		UserAgent: req.Header("User-Agent"),
	}
	if paths, err := req.Paths(); err == nil {
		for i := range paths {
			b.Path = append(b.Path, paths[i].String())
		}
	}
	return b
}

func (r *Registrar) readContact(c *sip.NameAddr, headerExp uint32, hasHeader bool, p Policy, base location.Binding, now time.Time) (change, error) {
	if !c.URI.IsSIP() && c.URI.Scheme != "tel" {
		return change{}, refuse(400, "Unsupported Contact URI Scheme")
	}
	q, ok := c.Q()
	if !ok {
		return change{}, refuse(400, "Malformed Contact q Value")
	}
	secs, has := c.Expires() // step 6: the parameter, then the header, then the default
	if !has {
		if _, present := c.Params.Get("expires"); present {
			return change{}, refuse(400, "Malformed Contact expires")
		}
		secs, has = headerExp, hasHeader
	}
	exp := p.DefaultExpires
	if has {
		exp = time.Duration(secs) * time.Second
	}
	if exp != 0 && exp < p.MinExpires {
		if !p.RaiseToMin {
			return change{}, refuse(423, "Interval Too Brief", "Min-Expires", strconv.Itoa(int(p.MinExpires/time.Second)))
		}
		exp = p.MinExpires
	}
	if p.MaxExpires > 0 && exp > p.MaxExpires {
		exp = p.MaxExpires
	}
	b := base
	b.Contact = c.URI.String()
	// The response lists the Contact's parameters as the phone sent them
	// (RFC 5626's +sip.instance and reg-id, RFC 3840's feature tags), with
	// the expiry the registrar chose in place of the phone's.
	b.Params = string(c.Params.Without("expires"))
	if !utf8.ValidString(b.Contact) || !utf8.ValidString(b.Params) {
		// §25.1 allows UTF-8 only, and PostgreSQL stores nothing else.
		return change{}, refuse(400, "Malformed Contact")
	}
	b.Q = q
	b.Expires = now.Add(exp)
	b.Updated = now
	return change{uri: c.URI, binding: b, expires: exp}, nil
}

// apply merges the changes into the AOR's current bindings (§10.3 step 7).
func apply(cur []location.Binding, changes []change, callID string, cseq uint32, p Policy, now time.Time) ([]location.Binding, error) {
	if changes[0].star {
		for _, b := range cur {
			if b.CallID == callID && cseq <= b.CSeq {
				return nil, refuse(500, "Out Of Order CSeq", "Retry-After", "1")
			}
		}
		return nil, nil
	}
	for k := range changes {
		c := &changes[k]
		i := indexOf(cur, c)
		if i >= 0 && cur[i].CallID == callID && cseq <= cur[i].CSeq {
			return nil, refuse(500, "Out Of Order CSeq", "Retry-After", "1")
		}
		b := c.binding
		b.CallID, b.CSeq = callID, cseq
		switch {
		case c.expires == 0 && i >= 0:
			cur = append(cur[:i], cur[i+1:]...)
		case c.expires == 0:
		case i >= 0:
			cur[i] = b
		default:
			var err error
			if cur, err = add(cur, b, p); err != nil {
				return nil, err
			}
		}
	}
	return cur, nil
}

// add appends a new binding, within the policy's contact limit.
func add(cur []location.Binding, b location.Binding, p Policy) ([]location.Binding, error) {
	if p.MaxContacts > 0 && len(cur) >= p.MaxContacts {
		if !p.ReplaceOldest {
			return nil, refuse(503, "Too Many Contacts", "Retry-After", "60")
		}
		oldest := 0
		for i := range cur {
			if cur[i].Updated.Before(cur[oldest].Updated) {
				oldest = i
			}
		}
		cur = append(cur[:oldest], cur[oldest+1:]...)
	}
	return append(cur, b), nil
}

// indexOf finds the binding change c names (see sameKey).
func indexOf(cur []location.Binding, c *change) int {
	for i := range cur {
		if sameKey(&cur[i], c) {
			return i
		}
	}
	return -1
}

// byLookupOrder orders bindings as Lookup does: by q, highest first, then
// the most recently updated first. A function, not sort.SliceStable's
// closure, so that sorting allocates nothing.
func byLookupOrder(a, b location.Binding) int {
	if a.Q != b.Q {
		return cmp.Compare(b.Q, a.Q)
	}
	return b.Updated.Compare(a.Updated)
}

// lastDate is the Date header value of the last second a 200 was built
// in: at thousands of REGISTERs a second, formatting it once a second
// instead of per response saves an allocation each.
var lastDate atomic.Pointer[dateValue]

type dateValue struct {
	sec  int64
	text string
}

// httpDate is now as a Date header (RFC 1123 in GMT), from lastDate when
// it is of the same second.
func httpDate(now time.Time) string {
	sec := now.Unix()
	if d := lastDate.Load(); d != nil && d.sec == sec {
		return d.text
	}
	d := &dateValue{sec: sec, text: now.UTC().Format(http.TimeFormat)}
	lastDate.Store(d)
	return d.text
}

// okResponse is the 200 OK listing every current binding with its
// remaining expiry (§10.3 step 8), and the Path of the request (RFC 3327);
// with GRUUs for the bindings of instances when the phone asked (RFC
// 5627 §5), and Require: outbound with the Flow-Timer when the
// REGISTER made a flow binding (RFC 5626 §6, §4.4).
func (r *Registrar) okResponse(req *sip.Message, res result, toTag string) *sip.Message {
	bs := res.bindings
	slices.SortStableFunc(bs, byLookupOrder)
	extra := make([]string, 0, 2*len(bs)+6)
	for _, b := range bs {
		left := int(b.Expires.Sub(res.now).Round(time.Second) / time.Second)
		v := "<" + b.Contact + ">;expires=" + strconv.Itoa(max(left, 0))
		if b.Params != "" {
			v += ";" + b.Params
		}
		if res.asks.gruu && b.InstanceID != "" {
			v += r.gruuParams(&b, res.aor, res.domain)
		}
		extra = append(extra, "Contact", v)
	}
	if res.outbound {
		extra = append(extra, "Require", tagOutbound,
			"Flow-Timer", strconv.Itoa(int(res.flowTimer/time.Second)))
	}
	if res.path {
		for _, v := range req.HeaderValues("Path") {
			extra = append(extra, "Path", v)
		}
	}
	extra = append(extra, "Supported", "path, outbound, gruu", "Date", httpDate(res.now))
	return sip.NewResponse(req, 200, "OK", toTag, extra...)
}
