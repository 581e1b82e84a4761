package transaction

import (
	"hash/maphash"
	"sync"
)

// numShards splits each transaction table so that transport readers on
// different cores rarely wait on the same mutex.
const numShards = 64

// table maps transaction keys to transactions in numShards shards.
type table[T comparable] struct {
	seed   maphash.Seed
	shards [numShards]shard[T]
}

type shard[T comparable] struct {
	mu sync.Mutex
	m  map[string]T
	_  [48]byte // one cache line per shard
}

func newTable[T comparable]() *table[T] {
	t := &table[T]{seed: maphash.MakeSeed()}
	for i := range t.shards {
		t.shards[i].m = make(map[string]T)
	}
	return t
}

func (t *table[T]) shard(key string) *shard[T] {
	return &t.shards[maphash.String(t.seed, key)%numShards]
}

// get returns the transaction under key, or the zero T.
func (t *table[T]) get(key string) T {
	s := t.shard(key)
	s.mu.Lock()
	v := s.m[key]
	s.mu.Unlock()
	return v
}

// insert adds v under key unless a transaction is there already, which
// it returns instead: two copies of one request read at once by two
// transport goroutines must make one transaction, not two.
func (t *table[T]) insert(key string, v T) (existing T, inserted bool) {
	s := t.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.m[key]; ok {
		return old, false
	}
	s.m[key] = v
	return v, true
}

// remove deletes key if it still maps to v.
func (t *table[T]) remove(key string, v T) bool {
	s := t.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m[key] != v {
		return false
	}
	delete(s.m, key)
	return true
}
