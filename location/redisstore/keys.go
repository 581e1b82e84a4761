package redisstore

import (
	"fmt"
	"strings"

	"github.com/parley-sip/parley/location"
)

// buckets is how many hash tags the AORs are spread over. Every key of an
// AOR — its set — and the bookkeeping its update changes — its bucket's
// expiry index and counts — carry the same tag, so that a Redis Cluster
// keeps them in one slot and one script updates all of them atomically.
// 1024 tags spread evenly over any cluster of up to a few hundred masters.
// The number is part of the stored layout: changing it strands data.
const buckets = 1024

// keys names a store's keys under its prefix.
type keys struct {
	prefix string
	tags   [buckets]string // "{prefix}loc:{0c1}:" for each bucket
	// Each bucket's index and counts, made once: every update names both.
	dues, counters [buckets]string
}

func newKeys(prefix string) *keys {
	k := &keys{prefix: prefix}
	for i := range k.tags {
		k.tags[i] = fmt.Sprintf("%sloc:{%03x}:", prefix, i)
		k.dues[i], k.counters[i] = k.tags[i]+"due", k.tags[i]+"n"
	}
	return k
}

// bucket is where aor lives. It must never change (see buckets).
func bucket(aor string) int { return int(location.HashAOR(aor) % buckets) }

// set is the key holding aor's binding set.
func (k *keys) set(b int, aor string) string { return k.tags[b] + "a:" + aor }

// due is bucket b's sorted set of AORs by earliest expiry (milliseconds).
func (k *keys) due(b int) string { return k.dues[b] }

// counts is bucket b's hash of totals ("bindings", "aors") and, per AOR,
// its number of bindings (fields "a:" + AOR), which is what lets the
// script correct the totals when Redis itself expired a set.
func (k *keys) counts(b int) string { return k.counters[b] }

// validPrefix reports whether p can prefix the keys: a brace would change
// the hash tag, and so the slot, of every key.
func validPrefix(p string) bool { return !strings.ContainsAny(p, "{}") }
