package config

import "time"

// messages checks the messages block: every bound must let at least one
// message through, or the store would refuse everything while claiming
// to be on.
func (ch *checker) messages(m MessagesConfig) {
	atLeast(ch, "messages.max_size", m.MaxSize, 1)
	atLeast(ch, "messages.max_count", m.MaxCount, 1)
	if m.MaxBytes < m.MaxSize {
		ch.add("messages.max_bytes", "must be at least messages.max_size (%d), or the largest message could never be stored, got %d",
			m.MaxSize, m.MaxBytes)
	}
	if m.MaxAge.Duration() < time.Minute {
		ch.add("messages.max_age", "must be at least 60s, got %s", m.MaxAge)
	}
}
