package registrar

import (
	"context"
	"log/slog"
	"time"

	"github.com/parley-sip/parley/location"
	"github.com/parley-sip/parley/transport"
)

// Registration events are logged at info when a binding is added or
// removed and at debug when one is refreshed: phones refresh every few
// minutes, so at info refreshes would be nearly every line of a busy
// server's log while telling an operator nothing new.
const refreshLevel = slog.LevelDebug

// diff says what one REGISTER did to an AOR's bindings.
type diff struct {
	added, refreshed []location.Binding
	removed          []string // contacts
}

// logging reports whether any registration event would be written, so
// that a REGISTER builds no event when none would be.
func (r *Registrar) logging(ctx context.Context) bool {
	return r.logger().Enabled(ctx, max(slog.LevelInfo, refreshLevel))
}

// contactsOf lists the contacts of bs, before a change alters them.
func contactsOf(bs []location.Binding) []string {
	out := make([]string, len(bs))
	for i := range bs {
		out[i] = bs[i].Contact
	}
	return out
}

// diffBindings compares the contacts an AOR had with the bindings it has
// now; touched are the contacts the REGISTER named, so that a binding it
// did not mention is not reported as refreshed. Refreshes, the bulk of a
// registrar's work, are collected only when refreshes is set.
func diffBindings(before []string, after []location.Binding, touched []change, refreshes bool) diff {
	var d diff
	for i := range after {
		switch {
		case !containsString(before, after[i].Contact):
			d.added = append(d.added, after[i])
		case refreshes && named(touched, after[i].Contact):
			d.refreshed = append(d.refreshed, after[i])
		}
	}
	for _, c := range before {
		if !hasContact(after, c) {
			d.removed = append(d.removed, c)
		}
	}
	return d
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func hasContact(bs []location.Binding, contact string) bool {
	for i := range bs {
		if bs[i].Contact == contact {
			return true
		}
	}
	return false
}

func named(cs []change, contact string) bool {
	for i := range cs {
		if cs[i].star || cs[i].binding.Contact == contact {
			return true
		}
	}
	return false
}

// logDiff writes one line per binding the REGISTER changed.
func (r *Registrar) logDiff(ctx context.Context, aor string, in *transport.Incoming, d diff, now time.Time) {
	if len(d.added)+len(d.refreshed)+len(d.removed) == 0 {
		return
	}
	log := r.logger()
	source := slog.String("source", in.Source.Addr().String())
	ua := slog.String("user_agent", in.Msg.Header("User-Agent"))
	for i := range d.added {
		b := &d.added[i]
		log.LogAttrs(ctx, slog.LevelInfo, "registration added", slog.String("aor", aor),
			slog.String("contact", b.Contact), source, ua, slog.String("transport", b.Transport),
			slog.Int("expires", int(b.Expires.Sub(now).Round(time.Second)/time.Second)))
	}
	for i := range d.refreshed {
		b := &d.refreshed[i]
		log.LogAttrs(ctx, refreshLevel, "registration refreshed", slog.String("aor", aor),
			slog.String("contact", b.Contact), source, ua, slog.String("transport", b.Transport),
			slog.Int("expires", int(b.Expires.Sub(now).Round(time.Second)/time.Second)))
	}
	for _, c := range d.removed {
		log.LogAttrs(ctx, slog.LevelInfo, "registration removed", slog.String("aor", aor),
			slog.String("contact", c), source, ua)
	}
}

// LogExpired writes the line of a binding that expired: the phone
// stopped refreshing it (switched off, or lost its network).
func LogExpired(log *slog.Logger, b location.Binding) {
	log.LogAttrs(context.Background(), slog.LevelInfo, "registration expired", slog.String("aor", b.AOR),
		slog.String("contact", b.Contact), slog.String("source", b.Source.Addr().String()),
		slog.String("user_agent", b.UserAgent), slog.String("transport", b.Transport))
}

// ChangeKind is what happened to a binding.
type ChangeKind uint8

// The kinds of change: the first three come from REGISTERs, Expired from
// the store's sweep (the server reports those, see LogExpired).
const (
	Added ChangeKind = iota + 1
	Refreshed
	Removed
	Expired
)

var changeKindNames = [...]string{Added: "added", Refreshed: "refreshed", Removed: "removed", Expired: "expired"}

// String returns the kind's name, as logs and event bodies use it.
func (k ChangeKind) String() string {
	if int(k) < len(changeKindNames) && changeKindNames[k] != "" {
		return changeKindNames[k]
	}
	return "unknown"
}

// Change is one binding's change. For Removed only AOR and
// Binding.Contact are set: the binding is gone from the store.
type Change struct {
	Kind    ChangeKind
	AOR     string
	Binding location.Binding
}

// report tells OnChange what d holds.
func (r *Registrar) report(aor string, d diff) {
	if r.OnChange == nil {
		return
	}
	for i := range d.added {
		r.OnChange(Change{Kind: Added, AOR: aor, Binding: d.added[i]})
	}
	for i := range d.refreshed {
		r.OnChange(Change{Kind: Refreshed, AOR: aor, Binding: d.refreshed[i]})
	}
	for _, c := range d.removed {
		r.OnChange(Change{Kind: Removed, AOR: aor, Binding: location.Binding{AOR: aor, Contact: c}})
	}
}
