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

// Post runs fn after every function posted before it. An idle queue
// runs fn at once without keeping it, and a drained one lets go of its
// array: a queue idle for hours (a held call's) keeps nothing.
func (q *Queue) Post(fn func()) {
	q.mu.Lock()
	if q.draining {
		q.queue = append(q.queue, fn)
		q.mu.Unlock()
		return
	}
	q.draining = true
	for fn != nil {
		q.mu.Unlock()
		fn()
		if q.After != nil {
			q.After()
		}
		q.mu.Lock()
		fn = nil
		if len(q.queue) > 0 {
			fn = q.queue[0]
			q.queue[0] = nil
			q.queue = q.queue[1:]
		}
	}
	q.queue = nil
	q.draining = false
	q.mu.Unlock()
}
