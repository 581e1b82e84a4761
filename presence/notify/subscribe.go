package notify

import (
	"errors"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/parley-sip/parley/dialog"
	"github.com/parley-sip/parley/proxy"
	"github.com/parley-sip/parley/sip"
	"github.com/parley-sip/parley/transport"
)

// Stage is the notifier's stage for new subscriptions, placed before
// "location": it answers SUBSCRIBE (and a PUBLISH no event package took,
// with 489) for the users of Parley's domains, and hands on the rest.
func (n *Notifier) Stage() proxy.Stage {
	return proxy.StageFunc{StageName: "notify", Fn: n.serveNew}
}

// DialogStage is the stage for requests in the notifier's subscription
// dialogs, placed before "route", which would answer them 404 as
// requests of no dialog it proxies: a SUBSCRIBE refreshing or ending a
// subscription. Requests of other dialogs pass on.
func (n *Notifier) DialogStage() proxy.Stage {
	return proxy.StageFunc{StageName: "notify-dialog", Fn: n.serveInDialog}
}

func (n *Notifier) serveNew(r *proxy.Request, next func()) {
	m := r.Msg.Method()
	if (m != "SUBSCRIBE" && m != "PUBLISH") || r.Msg.ToTag() != "" {
		next()
		return
	}
	u, err := r.Msg.RequestURIParsed()
	if err != nil || !u.IsSIP() || u.User == "" {
		next()
		return
	}
	if !n.serves(u.Host) {
		var ok bool
		if u, ok = n.userAtUs(r, u); !ok {
			next()
			return
		}
	}
	if m == "PUBLISH" {
		// No stage before took this PUBLISH's event package.
		r.Respond(489, "Bad Event", "Allow-Events", n.AllowEvents())
		return
	}
	n.subscribe(r, resourceOf(u))
}

// userAtUs maps a user at one of Parley's own addresses or names
// (sip:bob@192.0.2.10, what a desk phone whose registrar is an IP
// subscribes to) into the subscriber's domain, as the location stage
// does for calls; ok is false when that is no domain of ours.
func (n *Notifier) userAtUs(r *proxy.Request, u sip.URI) (sip.URI, bool) {
	p := r.Proxy()
	if p == nil || !p.IsUs(&u) {
		return u, false
	}
	from, err := r.Msg.From()
	if err != nil || !from.URI.IsSIP() || !n.serves(from.URI.Host) {
		return u, false
	}
	u.Host, u.Port = from.URI.Host, 0
	return u, true
}

func (n *Notifier) serves(domain string) bool {
	return n.cfg.Domains == nil || n.cfg.Domains(strings.ToLower(domain))
}

// resourceOf is a URI's "user@domain".
func resourceOf(u sip.URI) string {
	return sip.Unescape(u.User) + "@" + strings.ToLower(u.Host)
}

// grant applies the policy to a SUBSCRIBE's Expires: the duration
// granted, or the response refusing it.
func (n *Notifier) grant(r *proxy.Request) (time.Duration, bool) {
	p := n.policy.Load()
	secs, ok, err := r.Msg.Expires()
	if err != nil {
		r.Respond(400, "Malformed Expires")
		return 0, false
	}
	if !ok {
		return p.DefaultExpires, true
	}
	d := time.Duration(secs) * time.Second
	if secs != 0 && d < p.MinExpires {
		r.Respond(423, "Interval Too Brief", "Min-Expires", strconv.Itoa(int(p.MinExpires/time.Second)))
		return 0, false
	}
	return min(d, p.MaxExpires), true
}

// event reads the Event header and finds its package; it answers the
// request and returns nil when there is none.
func (n *Notifier) event(r *proxy.Request) (Package, string) {
	ev, ok, err := r.Msg.Event()
	switch {
	case err != nil:
		r.Respond(400, "Malformed Event")
		return nil, ""
	case !ok:
		r.Respond(489, "Bad Event", "Allow-Events", n.AllowEvents())
		return nil, ""
	}
	p := n.pkg(ev.Type)
	if p == nil {
		r.Respond(489, "Bad Event", "Allow-Events", n.AllowEvents())
		return nil, ""
	}
	return p, strings.Clone(strings.TrimSpace(r.Msg.Header("Event"))) // kept: no view into the request
}

// accepts reports whether the SUBSCRIBE's Accept (if any) takes the
// package's body type (RFC 6665 §4.1.1: absent means the package's
// default); it answers 406 when not.
func accepts(r *proxy.Request, p Package) bool {
	vals := r.Msg.HeaderValues("Accept")
	if len(vals) == 0 {
		return true
	}
	want := strings.ToLower(p.ContentType())
	main, _, _ := strings.Cut(want, "/")
	for _, v := range vals {
		for t := range strings.SplitSeq(v, ",") {
			t, _, _ = strings.Cut(t, ";")
			t = strings.ToLower(strings.TrimSpace(t))
			if t == "" || t == want || t == "*/*" || t == main+"/*" {
				return true
			}
		}
	}
	r.Respond(406, "Not Acceptable", "Accept", p.ContentType())
	return false
}

// subscribe makes a new subscription (RFC 6665 §4.2.1.1) and sends its
// first NOTIFY.
func (n *Notifier) subscribe(r *proxy.Request, resource string) {
	if bad := r.Msg.Unsupported("Require", nil); bad != "" {
		r.Respond(420, "Bad Extension", "Unsupported", bad)
		return
	}
	p, event := n.event(r)
	if p == nil {
		return
	}
	if n.Len() >= n.cfg.MaxSubscriptions {
		r.Respond(503, "Too Many Subscriptions", "Retry-After", "60")
		return
	}
	if !accepts(r, p) {
		return
	}
	exp, ok := n.grant(r)
	if !ok || !n.known(r, resource) {
		return
	}
	from, err := r.Msg.From()
	if err != nil || !from.URI.IsSIP() || from.URI.User == "" {
		r.Respond(400, "Malformed From")
		return
	}
	// The Contact is the subscription's remote target (§4.1.2): one URI.
	switch cs, err := r.Msg.Contacts(); {
	case err != nil:
		r.Respond(400, "Malformed Contact")
		return
	case len(cs) != 1 || cs[0].Star:
		r.Respond(400, "Missing Contact")
		return
	}
	watcher := resourceOf(from.URI)
	decision := n.authorize(watcher, resource, p.Event())
	code := 200
	if decision == Pending {
		code = 202
	}
	resp := sip.NewResponse(r.Msg, code, "", dialog.NewTag(),
		"Contact", "<"+localContact(r, resource)+">", "Expires", strconv.Itoa(int(exp/time.Second)),
		"Allow-Events", n.AllowEvents())
	d, err := n.table.NewUAS(r.Msg, resp)
	if err != nil {
		r.Respond(400, "Bad Request")
		return
	}
	now := n.clk.Now()
	s := &sub{n: n, key: Key{ID: d.ID(), Usage: dialog.Subscription(event)}, d: d, pkg: p, event: event,
		flow: flowOf(r.In), watch: Watch{Watcher: watcher, Resource: resource},
		pending: decision == Pending, expires: now.Add(exp), dirty: true}
	if exp > 0 && decision != Block {
		if err := n.save(r.Context(), s); err != nil {
			d.Terminate("SUBSCRIBE", 500)
			n.log.Warn("notify: storing a subscription failed", "error", err)
			r.Respond(503, "Subscription Store Unavailable", "Retry-After", "5")
			return
		}
	}
	_ = d.SendResponse(resp)
	r.RespondWith(resp)
	n.add(s)
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case decision == Block:
		s.finish(ReasonRejected)
	case exp == 0:
		s.finish(ReasonTimeout) // a fetch: one NOTIFY with the state, then the end
	default:
		s.arm()
		n.schedule(s)
	}
}

// known answers a SUBSCRIBE for a resource that Config.Known denies
// (404) or cannot tell (503): a busy lamp key set to a mistyped
// extension then fails on the phone, instead of showing an idle
// colleague who does not exist.
func (n *Notifier) known(r *proxy.Request, resource string) bool {
	if n.cfg.Known == nil {
		return true
	}
	ok, err := n.cfg.Known(r.Context(), resource)
	switch {
	case err != nil:
		n.log.Warn("notify: subscriber lookup failed", "resource", resource, "error", err)
		r.Respond(503, "Subscriber Database Unavailable", "Retry-After", "5")
	case !ok:
		r.Respond(404, "Not Found")
	}
	return err == nil && ok
}

// serveInDialog takes a SUBSCRIBE in one of the notifier's dialogs: a
// refresh, or with Expires 0 the end (RFC 6665 §4.2.1.2, §4.2.1.4).
func (n *Notifier) serveInDialog(r *proxy.Request, next func()) {
	if r.Msg.Method() != "SUBSCRIBE" || r.Msg.ToTag() == "" {
		next()
		return
	}
	d := n.table.Match(r.Msg)
	if d == nil {
		if n.orphan(r) {
			r.Respond(481, "Subscription Does Not Exist")
			return
		}
		next()
		return
	}
	s := n.find(Key{ID: d.ID(), Usage: dialog.UsageOf(r.Msg)})
	if s == nil {
		r.Respond(481, "Subscription Does Not Exist")
		return
	}
	if err := d.ReceiveRequest(r.Msg); err != nil {
		var se *sip.Error
		if errors.As(err, &se) {
			r.Respond(se.Code, se.Reason)
		} else {
			r.Respond(481, "Subscription Does Not Exist")
		}
		return
	}
	exp, ok := n.grant(r)
	if !ok {
		return
	}
	n.refresh(r, s, exp)
}

// orphan reports whether an in-dialog SUBSCRIBE is addressed to Parley
// itself with no Route on: one of a subscription it no longer has
// (ended, or lost with a memory store), which the subscriber must learn
// of with 481 to subscribe again.
func (n *Notifier) orphan(r *proxy.Request) bool {
	p := r.Proxy()
	if p == nil {
		return false
	}
	routes, err := r.Msg.Routes()
	if err != nil {
		return false
	}
	for i := range routes {
		// A phone with Parley as its outbound proxy routes through it
		// even to Parley's own Contact.
		if !p.IsUs(&routes[i].URI) {
			return false
		}
	}
	u, err := r.Msg.RequestURIParsed()
	return err == nil && p.IsUs(&u)
}

// refresh applies a refreshing SUBSCRIBE to s.
func (n *Notifier) refresh(r *proxy.Request, s *sub, exp time.Duration) {
	decision := n.authorize(s.watch.Watcher, s.watch.Resource, s.pkg.Event())
	s.mu.Lock()
	if s.gone || s.end != "" {
		s.mu.Unlock()
		r.Respond(481, "Subscription Does Not Exist")
		return
	}
	s.expires = n.clk.Now().Add(exp)
	s.pending = decision == Pending
	s.flow = flowOf(r.In)
	if exp > 0 && decision != Block {
		if err := n.save(r.Context(), s); err != nil {
			n.log.Warn("notify: storing a subscription failed", "error", err)
		}
	}
	code := 200
	if s.pending {
		code = 202
	}
	resp := sip.NewResponse(r.Msg, code, "", "", "Contact", "<"+s.d.Info().LocalTarget+">",
		"Expires", strconv.Itoa(int(exp/time.Second)), "Allow-Events", n.AllowEvents())
	_ = s.d.SendResponse(resp)
	r.RespondWith(resp)
	switch {
	case decision == Block:
		s.finish(ReasonRejected)
	case exp == 0:
		s.finish(ReasonTimeout)
	default:
		s.arm()
		s.dirty = true
		s.next = time.Time{} // a refresh is answered with the state at once
		n.schedule(s)
	}
	s.mu.Unlock()
}

// localContact is the notifier's Contact for a subscription: the
// resource's user at the listener the SUBSCRIBE came in on, so that the
// watcher's refreshes come straight back.
func localContact(r *proxy.Request, resource string) string {
	user, _, _ := strings.Cut(resource, "@")
	host, port, proto := "", 0, transport.UDP
	if l := r.In.Listener; l != nil {
		host, port, proto = l.Host, l.Port, l.Proto
	} else if u, err := r.Msg.RequestURIParsed(); err == nil {
		host, port = u.Host, u.Port
	}
	c := "sip:" + escapeUser(user) + "@" + host
	if port != 0 {
		c += ":" + strconv.Itoa(port)
	}
	if proto != "" && proto != transport.UDP {
		c += ";transport=" + string(proto)
	}
	return c
}

// escapeUser escapes what may not stand in a URI's user part.
func escapeUser(u string) string {
	var b strings.Builder
	for i := 0; i < len(u); i++ {
		c := u[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("@:;?<>\"%#/", c) >= 0 {
			b.WriteString("%" + strconv.FormatUint(uint64(c)>>4, 16) + strconv.FormatUint(uint64(c)&15, 16))
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// flowOf is where a request came from, as a destination for NOTIFYs.
func flowOf(in *transport.Incoming) transport.Target {
	if in == nil {
		return transport.Target{}
	}
	return transport.Target{Proto: in.Proto, Addr: in.Source, Conn: in.Conn, Listener: in.Listener}
}

// parseFlow reads what flowString wrote.
func parseFlow(s string) transport.Target {
	proto, addr, ok := strings.Cut(s, ":")
	if !ok {
		return transport.Target{}
	}
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return transport.Target{}
	}
	return transport.Target{Proto: transport.Proto(proto), Addr: ap}
}
