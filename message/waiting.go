package message

import (
	"context"
	"database/sql"
	"sync"
)

// waiting counts each user's stored messages in a SQLite store, so that
// Pending answers "none" without a query for the users who have none:
// every REGISTER asks, and nearly every answer is none. One process owns
// a SQLite file, so this process sees every change. The count never falls
// below the truth: Add counts a message before its insert commits and
// Delete and Expire uncount it only after theirs, so a race costs a query,
// never a message. PostgreSQL, shared by a cluster's nodes, has none (nil).
type waiting struct {
	mu sync.Mutex
	n  map[string]int
}

// loadWaiting counts the messages db already holds.
func loadWaiting(ctx context.Context, db *sql.DB) (*waiting, error) {
	rows, err := db.QueryContext(ctx, `SELECT usr, count(*) FROM offline_messages GROUP BY usr`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	w := &waiting{n: map[string]int{}}
	for rows.Next() {
		var user string
		var n int
		if err := rows.Scan(&user, &n); err != nil {
			return nil, err
		}
		w.n[user] = n
	}
	return w, rows.Err()
}

// add changes user's count by d.
func (w *waiting) add(user string, d int) {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.n[user] += d; w.n[user] <= 0 {
		delete(w.n, user)
	}
}

// has reports whether user may have messages; without counts, always.
func (w *waiting) has(user string) bool {
	if w == nil {
		return true
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.n[user] > 0
}
