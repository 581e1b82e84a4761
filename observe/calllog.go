package observe

import (
	"context"
	"log/slog"
	"time"
)

// logCall writes the line of a call's change: started and ended at info
// with the end's status and talk time, answered at info, ringing at
// debug. It runs on the observer's worker, off the message path, and
// reads only the Call, so it follows whatever tracks calls.
func (o *Observer) logCall(c *Call) {
	log, ctx := o.cfg.Logger, context.Background()
	level := slog.LevelInfo
	if c.State == CallRinging {
		level = slog.LevelDebug
	}
	if !log.Enabled(ctx, level) {
		return
	}
	id := slog.String("call_id", c.CallID)
	switch c.State {
	case CallTrying:
		log.LogAttrs(ctx, level, "call started", id, slog.String("caller", c.Caller),
			slog.String("callee", c.Callee), slog.String("source", c.Source))
	case CallRinging:
		log.LogAttrs(ctx, level, "call ringing", id)
	case CallEstablished:
		log.LogAttrs(ctx, level, "call answered", id, slog.Int("status", c.Status),
			slog.String("setup", c.Answered.Sub(c.Start).Round(time.Millisecond).String()))
	case CallEnded:
		log.LogAttrs(ctx, level, "call ended", id, slog.Int("status", c.Status),
			slog.String("reason", c.Reason), slog.Bool("answered", !c.Answered.IsZero()),
			slog.String("duration", c.Duration(c.End).Round(time.Second).String()))
	}
}
