package outbound

import "sync"

// Queue runs functions one at a time in the order they were posted, on
// the goroutine that finds it idle: an Owner's Post for state that needs
// no lock, where a callback that arrives while another runs (even from
// inside it) is queued, never deadlocked. The zero value is ready.
type Queue struct {
	// After, when set, runs after each function, still on the queue:
	// how an owner notices what any of its events changed without
	// wrapping each. Set it before the first Post.
	After func()

	mu       sync.Mutex
	queue    []func()
	draining bool
}

// Post runs fn after every function posted before it.
func (q *Queue) Post(fn func()) {
	q.mu.Lock()
	q.queue = append(q.queue, fn)
	if q.draining {
		q.mu.Unlock()
		return
	}
	q.draining = true
	for len(q.queue) > 0 {
		next := q.queue[0]
		q.queue[0] = nil
		q.queue = q.queue[1:]
		q.mu.Unlock()
		next()
		if q.After != nil {
			q.After()
		}
		q.mu.Lock()
	}
	q.draining = false
	q.mu.Unlock()
}
