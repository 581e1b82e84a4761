// Package eventlog holds how Parley writes its log: one slog line per
// event as text or JSON, a budget that keeps a flood of SIP events (a
// REGISTER storm, a password-guessing scanner) from becoming a flood of
// lines, and the outage tracker that logs a failing store once when it
// fails and once when it recovers instead of once per request.
package eventlog

import (
	"io"
	"log/slog"
)

// Formats New accepts.
const (
	FormatText = "text"
	FormatJSON = "json"
)

// New returns a logger that writes to w in format (FormatText or
// FormatJSON; anything else is text) at level and above. Times are UTC,
// so that lines from several hosts sort together and fail2ban reads the
// same instant whatever the host's zone.
func New(w io.Writer, format string, level slog.Leveler) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: utcTime}
	if format == FormatJSON {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func utcTime(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 && a.Key == slog.TimeKey && a.Value.Kind() == slog.KindTime {
		a.Value = slog.TimeValue(a.Value.Time().UTC())
	}
	return a
}
