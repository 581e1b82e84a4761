package mailbox

import (
	"errors"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/parley-sip/parley/presence/mwi"
	"github.com/parley-sip/parley/proxy"
	"github.com/parley-sip/parley/sip"
)

// StageName is the stage's name in the chain and in /metrics.
const StageName = "mwi"

// PUBLISH lifetimes (RFC 3903 §6): what a PUBLISH without Expires gets,
// and the most granted. The summary itself does not expire: a voicemail
// system's state stays until it sends another.
const (
	DefaultPublishExpires = time.Hour
	MaxPublishExpires     = 24 * time.Hour
)

// StageConfig configures the stage.
type StageConfig struct {
	Store Store
	// Changed is told of every account whose summary changed; nil tells
	// no one.
	Changed func(account string)
	// Trusted names sources that may update any account without
	// credentials: the voicemail system's address (security.trusted).
	Trusted func(src netip.Addr) bool
	// Serves reports whether a domain is the server's; a summary for
	// another domain is relayed, not kept. nil serves every domain.
	Serves func(domain string) bool
	// Users, when not nil, tells subscribers from unknown users: an
	// authenticated sender (not a trusted network) may set only a
	// subscriber's summary, so that the accounts kept are bounded by the
	// subscribers. A trusted voicemail system may set any account's.
	Users proxy.Users
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// Logger gets a line per update, at debug; nil is slog.Default().
	Logger *slog.Logger
}

// Stage takes a voicemail system's message-summary updates: an
// unsolicited NOTIFY (no To tag) or a PUBLISH with Event: message-summary
// for an account of the server's domains. Everything else goes on down
// the chain. Put it before location, after auth, so that a sender with
// credentials is known:
//
//	stages, err = proxy.Insert(stages, "location", mailbox.NewStage(cfg))
type Stage struct {
	cfg StageConfig
}

// NewStage returns the stage.
func NewStage(cfg StageConfig) *Stage {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Stage{cfg: cfg}
}

// Name implements proxy.Stage.
func (s *Stage) Name() string { return StageName }

// Serve implements proxy.Stage.
func (s *Stage) Serve(r *proxy.Request, next func()) {
	account, ok := s.concerns(r.Msg)
	if !ok {
		next()
		return
	}
	trusted := s.cfg.Trusted != nil && s.cfg.Trusted(r.In.Source.Addr())
	if _, _, authed := r.Identity(); !authed && !trusted {
		r.Respond(403, "Message Summary Only From Trusted Sources")
		return
	}
	if !trusted && !s.known(r, account) {
		return
	}
	if r.Msg.Method() == "NOTIFY" {
		s.notify(r, account)
		return
	}
	s.publish(r, account)
}

// concerns reports whether the request is a message-summary update for
// one of the server's accounts, and which: the Request-URI's user and
// host.
func (s *Stage) concerns(m *sip.Message) (string, bool) {
	method := m.Method()
	if method != "PUBLISH" && (method != "NOTIFY" || m.ToTag() != "") {
		return "", false
	}
	ev, ok, err := m.Event()
	if err != nil || !ok || !strings.EqualFold(ev.Type, Event) {
		return "", false
	}
	u, err := m.RequestURIParsed()
	if err != nil || !u.IsSIP() || u.User == "" {
		return "", false
	}
	host := strings.ToLower(u.Host)
	if s.cfg.Serves != nil && !s.cfg.Serves(host) {
		return "", false
	}
	return sip.Unescape(u.User) + "@" + host, true
}

// known reports whether the account is a subscriber's, answering when
// it is not (404) or when the subscriber database cannot tell (503).
func (s *Stage) known(r *proxy.Request, account string) bool {
	if s.cfg.Users == nil {
		return true
	}
	at := strings.LastIndexByte(account, '@')
	ok, err := s.cfg.Users.Exists(r.Context(), account[:at], account[at+1:])
	switch {
	case err != nil:
		s.cfg.Logger.Warn("message summary: subscriber lookup failed", "error", err)
		r.Respond(503, "Subscriber Database Unavailable", "Retry-After", "5")
	case !ok:
		r.Respond(404, "Unknown Account")
	}
	return err == nil && ok
}

// notify takes an unsolicited NOTIFY: its body replaces the summary.
func (s *Stage) notify(r *proxy.Request, account string) {
	body, ok := s.summary(r)
	if !ok {
		return
	}
	if err := s.cfg.Store.Put(r.Context(), Summary{Account: account, Body: body, ETag: NewETag(), Updated: s.cfg.Now()}, ""); err != nil {
		s.storeFailed(r, err)
		return
	}
	s.changed(account, "NOTIFY")
	r.Respond(200, "OK")
}

// summary reads and checks the request's body, answering when it is
// unusable: a body in another type is 415, one that is no summary 400.
func (s *Stage) summary(r *proxy.Request) ([]byte, bool) {
	if ct := r.Msg.ContentType(); ct != "" && !strings.EqualFold(ct, mwi.ContentType) {
		r.Respond(415, "Unsupported Media Type", "Accept", mwi.ContentType)
		return nil, false
	}
	parsed, err := mwi.Parse(r.Msg.Body())
	if err != nil {
		r.Respond(400, "Bad Message Summary")
		return nil, false
	}
	body, err := parsed.Marshal()
	if err != nil {
		r.Respond(400, "Bad Message Summary")
		return nil, false
	}
	return body, true
}

// publish is RFC 3903 §6 for the account's one publication: initial and
// modify (a body), refresh (SIP-If-Match, no body), remove (Expires: 0).
func (s *Stage) publish(r *proxy.Request, account string) {
	expires, ok := publishExpires(r)
	if !ok {
		return
	}
	ifMatch := strings.TrimSpace(r.Msg.Header("SIP-If-Match"))
	hasBody := len(r.Msg.Body()) > 0
	switch {
	case expires == 0:
		s.remove(r, account, ifMatch)
	case hasBody:
		body, ok := s.summary(r)
		if ok {
			s.store(r, account, body, ifMatch, expires, true)
		}
	case ifMatch == "":
		r.Respond(400, "Initial PUBLISH Without Body")
	default:
		cur, err := s.cfg.Store.Get(r.Context(), account)
		if errors.Is(err, ErrNotFound) || err == nil && cur.ETag != ifMatch {
			r.Respond(412, "Conditional Request Failed")
			return
		}
		if err != nil {
			s.storeFailed(r, err)
			return
		}
		s.store(r, account, cur.Body, ifMatch, expires, false)
	}
}

// store sets the account's summary under a new entity-tag and answers
// with it; changed says whether watchers must hear of it.
func (s *Stage) store(r *proxy.Request, account string, body []byte, ifMatch string, expires uint32, changed bool) {
	etag := NewETag()
	err := s.cfg.Store.Put(r.Context(), Summary{Account: account, Body: body, ETag: etag, Updated: s.cfg.Now()}, ifMatch)
	if errors.Is(err, ErrConditionFailed) {
		r.Respond(412, "Conditional Request Failed")
		return
	}
	if err != nil {
		s.storeFailed(r, err)
		return
	}
	if changed {
		s.changed(account, "PUBLISH")
	}
	r.Respond(200, "OK", "SIP-ETag", etag, "Expires", strconv.FormatUint(uint64(expires), 10))
}

// remove ends the publication: the account has no summary any more, and
// its phones' lamps go off.
func (s *Stage) remove(r *proxy.Request, account, ifMatch string) {
	if ifMatch == "" {
		r.Respond(400, "Removal Without SIP-If-Match")
		return
	}
	err := s.cfg.Store.Delete(r.Context(), account, ifMatch)
	if errors.Is(err, ErrConditionFailed) {
		r.Respond(412, "Conditional Request Failed")
		return
	}
	if err != nil {
		s.storeFailed(r, err)
		return
	}
	s.changed(account, "PUBLISH")
	r.Respond(200, "OK", "Expires", "0")
}

// publishExpires is the lifetime granted to a PUBLISH: asked for, or the
// default, at most the maximum. One that does not parse is a 400.
func publishExpires(r *proxy.Request) (uint32, bool) {
	secs, ok, err := r.Msg.Expires()
	if err != nil {
		r.Respond(400, "Malformed Expires")
		return 0, false
	}
	if !ok {
		return uint32(DefaultPublishExpires / time.Second), true
	}
	return min(secs, uint32(MaxPublishExpires/time.Second)), true
}

func (s *Stage) changed(account, method string) {
	s.cfg.Logger.Debug("message summary updated", "account", account, "by", method)
	if s.cfg.Changed != nil {
		s.cfg.Changed(account)
	}
}

// storeFailed answers a store that could not take the change: the sender
// tries again later (RFC 3261 §21.5.4).
func (s *Stage) storeFailed(r *proxy.Request, err error) {
	s.cfg.Logger.Warn("message summary not stored", "error", err)
	r.Respond(503, "Message Summary Store Unavailable", "Retry-After", "5")
}
