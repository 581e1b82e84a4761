package message

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/parley-sip/parley/clock"
	"github.com/parley-sip/parley/location"
	"github.com/parley-sip/parley/proxy"
)

// Limits bound what the store takes. The server reads them from the
// config on every request, so a reload changes them at once.
type Limits struct {
	// Off stops storing: a MESSAGE for an offline user passes on (to
	// location's 404 or 480); what is stored is still delivered.
	Off bool
	// MaxSize is the largest body stored, in bytes; a larger one is
	// refused with 413.
	MaxSize int
	// Quota bounds each user's waiting messages; past it, 480.
	Quota Quota
	// MaxAge is how long a message waits before it is dropped unread.
	MaxAge time.Duration
}

// Stage is the proxy stage that stores a MESSAGE for a user of our
// domains who has no phone registered, and answers 202 Accepted (RFC
// 3428 §7: the message is taken, not yet delivered). It runs before
// `location`; every other request, and a MESSAGE to a user who is
// online or not ours, passes on untouched.
type Stage struct {
	Store Store
	// Bindings is the location store the `location` stage reads too.
	Bindings location.Store
	// Domains reports whether a domain is served here.
	Domains func(domain string) bool
	// Users, when not nil, tells subscribers from unknown names: only a
	// subscriber's messages are kept, so that nobody can fill the store
	// under invented names. nil (no subscriber database) keeps messages
	// for any user of our domains.
	Users proxy.Users
	// Limits returns the limits in force.
	Limits func() Limits
	Clock  clock.Clock
}

// Name implements proxy.Stage.
func (*Stage) Name() string { return "message" }

// Serve implements proxy.Stage.
func (s *Stage) Serve(r *proxy.Request, next func()) {
	aor, ok := s.recipient(r)
	if !ok || s.Limits().Off {
		next()
		return
	}
	now := s.Clock.Now()
	// The AOR as the location stage looks it up (a sips: one included).
	bs, err := s.Bindings.Lookup(r.Context(), aor, now)
	if err != nil || len(bs) > 0 {
		next() // online: relayed to every phone; a failing store: location's 503
		return
	}
	user := aor[strings.IndexByte(aor, ':')+1:]
	if s.Users != nil {
		name, domain, _ := strings.Cut(user, "@")
		known, err := s.Users.Exists(r.Context(), name, domain)
		if err != nil || !known {
			next() // location answers 404, or 503 for the failing database
			return
		}
	}
	s.store(r, user, now)
}

// recipient returns the AOR a MESSAGE is for when it is one Parley may
// keep messages for: out of dialog (no To tag), with no Route left past
// us, to a user at one of our domains.
func (s *Stage) recipient(r *proxy.Request) (string, bool) {
	m := r.Msg
	if m.Method() != "MESSAGE" || m.ToTag() != "" || m.HasHeader("Route") {
		return "", false
	}
	u, err := m.RequestURIParsed()
	if err != nil || !u.IsSIP() || u.User == "" || !s.Domains(u.Host) {
		return "", false
	}
	return u.AOR(), true
}

func (s *Stage) store(r *proxy.Request, user string, now time.Time) {
	// Parley answers this MESSAGE itself, so an extension it must
	// understand is one it does not (§8.2.2.3).
	if bad := r.Msg.Unsupported("Require", nil); bad != "" {
		r.Respond(420, "Bad Extension", "Unsupported", bad)
		return
	}
	lim := s.Limits()
	body := r.Msg.Body()
	if lim.MaxSize > 0 && len(body) > lim.MaxSize {
		r.Respond(413, "Message Too Large To Store (max "+strconv.Itoa(lim.MaxSize)+" bytes)")
		return
	}
	m := Message{
		User: user, From: r.Msg.Header("From"), To: r.Msg.Header("To"), Date: r.Msg.Header("Date"),
		ContentType: r.Msg.Header("Content-Type"), Body: body,
	}
	if m.Date == "" {
		m.Date = now.UTC().Format(http.TimeFormat) // RFC 1123 in GMT, as §20.17 asks
	}
	if m.ContentType == "" && len(body) > 0 {
		m.ContentType = "text/plain" // §7.4.1 wants one; text is what a phone sent without
	}
	_, err := s.Store.Add(r.Context(), m, lim.Quota)
	switch {
	case errors.Is(err, ErrCountQuota):
		r.Respond(480, "Mailbox Full (limit "+strconv.Itoa(lim.Quota.MaxCount)+" messages)")
	case errors.Is(err, ErrByteQuota):
		r.Respond(480, "Mailbox Full (limit "+strconv.FormatInt(lim.Quota.MaxBytes, 10)+" bytes)")
	case err != nil:
		r.Respond(503, "Message Store Unavailable", "Retry-After", "5")
	default:
		r.Respond(202, "Accepted")
	}
}
