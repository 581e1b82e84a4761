package redisstore

import (
	"context"
	"strings"
	"sync"

	"github.com/parley-sip/parley/location"
)

const (
	// localShards spreads the node's per-AOR state over this many
	// mutexes, so that REGISTERs of different AORs seldom meet on one.
	localShards = 64
	// recallMax bounds how many AORs' last written sets a node keeps per
	// shard (131 072 in all, a few hundred bytes each): past it, an AOR
	// the node wrote long ago
	// costs its next Update the round trip that reads it, as every Update
	// did before the node remembered them.
	recallMax = 2048
)

// local is what a node knows of the AORs it updates itself: which ones
// an Update is busy with now, so that a node's own Updates of one AOR
// never race each other, and the set it last wrote for each, so that the
// next Update can start from it instead of reading it back. A refresh
// comes back to the node that took the registration, so most Updates
// then cost one round trip: the script, which refuses a set that changed
// meanwhile (another node's write) and hands back the current one.
type local struct {
	shards [localShards]localShard
}

type localShard struct {
	mu   sync.Mutex
	busy map[string]chan struct{} // closed when the Update ends
	last map[string]recalled
}

// recalled is the encoded set a node last wrote for an AOR ("" for
// none), and the AOR itself: a copy of the node's own, which the next
// Update of the AOR reuses rather than copying the request's again.
type recalled struct {
	aor, set string
}

func newLocal() *local {
	l := &local{}
	for i := range l.shards {
		l.shards[i].busy = make(map[string]chan struct{})
		l.shards[i].last = make(map[string]recalled)
	}
	return l
}

func (l *local) shard(aor string) *localShard {
	return &l.shards[location.HashAOR(aor)%localShards]
}

// lease is an Update's hold on its AOR, from lock to unlock.
type lease struct {
	sh *localShard
	// aor is a copy of the AOR of the lease's own, which remember may
	// keep without copying it again.
	aor  string
	done chan struct{}
	// last is the set this node last wrote for the AOR, if known: a
	// guess, as recall's.
	last  string
	known bool
}

// lock waits until no other Update of this node holds aor, or ctx ends.
// The lock is per AOR, not per stripe: Updates of different AORs never
// wait for each other's round trips. The lease also says what recall
// would, read under the same mutex.
func (l *local) lock(ctx context.Context, aor string) (lease, error) {
	sh := l.shard(aor)
	for {
		sh.mu.Lock()
		held, busy := sh.busy[aor]
		if !busy {
			r, known := sh.last[aor]
			if known {
				aor = r.aor
			} else {
				aor = strings.Clone(aor) // the key outlives the request's buffer
			}
			done := make(chan struct{})
			sh.busy[aor] = done
			sh.mu.Unlock()
			return lease{sh: sh, aor: aor, done: done, last: r.set, known: known}, nil
		}
		sh.mu.Unlock()
		select {
		case <-held:
		case <-ctx.Done():
			return lease{}, ctx.Err()
		}
	}
}

// unlock ends the lease; the next Update of its AOR may go on.
func (ls lease) unlock() {
	ls.sh.mu.Lock()
	delete(ls.sh.busy, ls.aor)
	ls.sh.mu.Unlock()
	close(ls.done)
}

// remember records v as aor's set in Redis, forgetting an arbitrary other
// AOR when the shard is full. aor is kept: it must not share the memory
// of a request (lock's copy does not).
func (l *local) remember(aor, v string) {
	sh := l.shard(aor)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if _, ok := sh.last[aor]; !ok && len(sh.last) >= recallMax {
		for k := range sh.last {
			delete(sh.last, k)
			break
		}
	}
	sh.last[aor] = recalled{aor: aor, set: v}
}

// forget drops what this node remembers of aor, whose write may or may
// not have happened.
func (l *local) forget(aor string) {
	sh := l.shard(aor)
	sh.mu.Lock()
	delete(sh.last, aor)
	sh.mu.Unlock()
}
