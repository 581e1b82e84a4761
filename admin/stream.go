package admin

import (
	"encoding/json"
	"net/http"
	"time"
)

// keepAlive is how often an idle stream sends a comment, so that proxies
// and the browser see the connection alive and a dead client is noticed.
const keepAlive = 15 * time.Second

// stream answers GET /api/stream with Server-Sent Events: "message" for
// each captured message (without its text), "call" for each call change,
// and "resync" when the client read too slowly and missed some.
func (s *Server) stream(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Observer == nil {
		httpError(w, http.StatusNotFound, "no capture: the event stream needs admin.capture_* and the observer")
		return
	}
	select {
	case s.streams <- struct{}{}:
		defer func() { <-s.streams }()
	default:
		httpError(w, http.StatusServiceUnavailable, "too many open streams")
		return
	}
	events, cancel := s.cfg.Observer.Subscribe(256)
	defer cancel()
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // tell nginx not to buffer the stream
	w.WriteHeader(http.StatusOK)
	w.Write([]byte(": parley events\n\n"))
	rc.Flush()
	tick := time.NewTicker(keepAlive)
	defer tick.Stop()
	for {
		var err error
		select {
		case <-r.Context().Done():
			return
		case e := <-events:
			err = writeEvent(w, string(e.Kind), e)
		case <-tick.C:
			_, err = w.Write([]byte(": keep-alive\n\n"))
		}
		if err == nil {
			err = rc.Flush()
		}
		if err != nil {
			return
		}
	}
}

func writeEvent(w http.ResponseWriter, kind string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	// JSON holds no raw newlines, so one data line carries it.
	buf := make([]byte, 0, len(kind)+len(data)+16)
	buf = append(buf, "event: "...)
	buf = append(buf, kind...)
	buf = append(buf, "\ndata: "...)
	buf = append(buf, data...)
	buf = append(buf, "\n\n"...)
	_, err = w.Write(buf)
	return err
}
