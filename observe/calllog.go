package observe

import (
	"context"
	"log/slog"
	"time"
)

// CallLog returns an OnCall that writes a line to log for each step of a
// call: "call started" (caller, callee, source), "call answered" (status,
// setup time) and "call ended" (status, reason, whether it was answered,
// talk time), all at info. It runs on the observer's worker, off the
// message path.
func CallLog(log *slog.Logger) func(CallChange, Call) {
	return func(change CallChange, c Call) {
		ctx := context.Background()
		if !log.Enabled(ctx, slog.LevelInfo) {
			return
		}
		id := slog.String("call_id", c.CallID)
		switch change {
		case CallStarted:
			log.LogAttrs(ctx, slog.LevelInfo, "call started", id, slog.String("caller", c.Caller),
				slog.String("callee", c.Callee), slog.String("source", c.Source))
		case CallAnswered:
			log.LogAttrs(ctx, slog.LevelInfo, "call answered", id, slog.Int("status", c.Status),
				slog.String("setup", c.Answered.Sub(c.Start).Round(time.Millisecond).String()))
		case CallFinished:
			log.LogAttrs(ctx, slog.LevelInfo, "call ended", id, slog.Int("status", c.Status),
				slog.String("reason", c.Reason), slog.Bool("answered", !c.Answered.IsZero()),
				slog.String("duration", c.Duration(c.End).Round(time.Second).String()))
		}
	}
}
