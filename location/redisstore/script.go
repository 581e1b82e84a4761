package redisstore

import (
	"crypto/sha1"
	"encoding/hex"
)

// putScript replaces an AOR's set if it is still the one the caller read,
// and keeps its bucket's expiry index and counts in step, all in one
// atomic step. KEYS: set, due, counts (one hash tag, so one slot). ARGV:
//
//  1. the header (format and version) of the set the caller read, "" for none
//  2. the new set, "" to delete the AOR
//  3. its number of bindings
//  4. its earliest expiry, Unix milliseconds rounded up (the due score)
//  5. the key's TTL in milliseconds
//  6. the AOR
//
// It returns {1} when it wrote, and {0, current set or ""} when the set
// changed since it was read, so that the caller retries without another
// read. The AOR's count field is the truth about what the totals include:
// a set Redis expired on its own is still counted there until this script
// next sees the AOR, and then leaves the totals exactly.
//
// While the set's key exists, the count it holds (the uvarint after the
// header) is the one its field holds, as both are written together; so the
// script reads the field only when the key is gone, and writes it only
// when the count changes. A refresh, which changes neither the number of
// bindings nor the totals, thus costs three commands inside the script
// (GET, SET, ZADD) rather than five, and the script is most of what an
// update costs Redis.
const putScript = `
local cur = redis.call('GET', KEYS[1])
local head = ''
if cur then head = string.sub(cur, 1, 9) end
if head ~= ARGV[1] then return {0, cur or ''} end
local field = 'a:' .. ARGV[6]
local old, had
if cur then
  old, had = 0, true
  local shift, i, c = 1, 10, 128
  while c and c >= 128 do
    c = string.byte(cur, i)
    if c then old, shift, i = old + (c % 128) * shift, shift * 128, i + 1 end
  end
  if not c then old = nil end
end
if not old then
  had = redis.call('HGET', KEYS[3], field)
  old = tonumber(had or '0')
end
local n = tonumber(ARGV[3])
if n == 0 then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[6])
  redis.call('HDEL', KEYS[3], field)
  if had then redis.call('HINCRBY', KEYS[3], 'aors', -1) end
else
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[5])
  redis.call('ZADD', KEYS[2], ARGV[4], ARGV[6])
  if n ~= old then redis.call('HSET', KEYS[3], field, n) end
  if not had then redis.call('HINCRBY', KEYS[3], 'aors', 1) end
end
if n ~= old then redis.call('HINCRBY', KEYS[3], 'bindings', n - old) end
return {1}
`

// putSHA names putScript for EVALSHA.
var putSHA = func() string {
	sum := sha1.Sum([]byte(putScript))
	return hex.EncodeToString(sum[:])
}()
