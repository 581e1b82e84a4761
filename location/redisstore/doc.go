// Package redisstore is the location engine kept in Redis, which several
// Parley nodes share: a binding one node stores, every node looks up.
//
// # Layout
//
// An AOR's bindings are one value (see codec.go), under
// PREFIX loc:{BBB}:a:AOR, where BBB is one of 1024 buckets the AOR hashes
// to. Each bucket also has a sorted set of its AORs by earliest expiry
// (loc:{BBB}:due) and a hash of counts (loc:{BBB}:n): the totals of
// bindings and AORs, and each AOR's number of bindings. All of a bucket's
// keys carry its hash tag, so a Redis Cluster keeps them in one slot, and
// the script that writes an AOR updates its set, its place in the expiry
// index and the counts in one atomic step, which a tag per AOR could not
// offer (the index and counts would then live in other slots). 1024 tags
// spread the AORs as evenly over a cluster's masters as a tag per AOR.
//
// # Updates
//
// An Update lets its fn change the set and writes the result with a
// script that compares the version (random per write) of the set fn saw
// with what is stored. If another node wrote meanwhile, the script
// answers with the current set and fn runs again on it. fn first runs on
// the set this node itself last wrote for the AOR (it remembers a bounded
// number of them), or on none: a refresh comes back to the node that
// took the registration, and a first registration finds nothing, so most
// Updates cost the script alone, one round trip. A wrong guess costs the
// second round trip the read used to. Within a node, Updates of one AOR
// are serialised by a lock per AOR, so retries happen only between nodes.
// The set's key expires (Redis TTL) ten minutes after its last binding:
// the expiry sweep normally removes bindings first and logs them; the TTL
// is a backstop for a cluster with no node running.
//
// # Local cache
//
// Lookups read through rueidis's client-side cache: a set is read from
// Redis once and then served from memory until Redis, which tracks what
// each connection read (RESP3 CLIENT TRACKING), pushes an invalidation
// because some node changed it. A lost connection drops the cache. A
// node's own writes are seen by its next Lookup at once (see Store.exec:
// a read after the script, sent only when the node may hold the set in
// its cache, which the filter in cached.go tracks); another node's, after
// the invalidation's trip, which TestStaleness measures.
//
// # Expiry
//
// Every node runs the expiry sweep. It asks each bucket's index for the
// AORs with a binding due, and removes the expired bindings with the same
// compare-and-write as an Update, so each expired binding is removed, and
// reported to the registrar's log, by exactly one node.
//
// # Connections
//
// A binding's ConnID names a TCP or TLS connection of the process that
// stored it. Each Store has a random id, stored with every ConnID it
// writes; a Store reading a ConnID of another (another node, or the same
// node before a restart) sees 0, and the proxy then finds the phone's
// connection by its address.
//
// # Failure
//
// Every call is bounded by a timeout. While Redis does not answer, calls
// return errors (the registrar answers 503 with Retry-After), Ready says
// why (/readyz), and the outage is logged when it starts and when it ends.
package redisstore
