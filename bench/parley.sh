#!/usr/bin/env bash
# Starts parley in the foreground as the proxy under test (for run.sh --start),
# like peers/kamailio.sh does for Kamailio. run.sh exports PROXY_HOST,
# PROXY_PORT and RUN_DIR. PARLEY_BIN (default bin/parley) is the binary,
# PARLEY_ARGS extra flags (e.g. "--mode stateless"), PARLEY_STORAGE the
# storage engine (default memory, as Kamailio's usrloc runs in memory;
# sqlite measures durable registrations). Loopback is trusted: the load
# comes from one address, which per-source limits would otherwise ban.
# With BENCH_AUTH=1 (run.sh's register-auth) digest authentication is on,
# MD5 only as sipp 3.6 knows no other, and the BENCH_USERS subscribers
# user0000001@PROXY_HOST … are imported with the password "bench". Parley
# keeps subscribers in its database, so the storage engine is then sqlite
# unless PARLEY_STORAGE says postgres: registrations are durable too.
# PARLEY_CDR=true writes a call detail record of every call (cdr.enabled),
# into the storage engine's database: with PARLEY_STORAGE=sqlite, durably,
# as Kamailio's acc does in the B2BUA comparison (KAM_MODE=b2bua).
# PARLEY_PASS_X_HEADERS=true lets X- headers cross the B2BUA's legs
# (b2bua.pass_x_headers), as hops.sh needs to pair them.
# PARLEY_REDIS_URL (redis://HOST:PORT/DB) puts the registrations in that
# Redis instead (storage.location: redis), as the nodes of a cluster keep
# them; give each run a Redis or database of its own.
# PARLEY_ADMIN (HOST:PORT on loopback) turns the admin listener on there,
# for /metrics, with no message capture: the capture ring's memory would
# otherwise count in the memory series.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
bin=${PARLEY_BIN:-$here/../bin/parley}
run_dir=${RUN_DIR:-$(mktemp -d)}
cfg=$run_dir/parley.yaml
auth_enabled=false storage=${PARLEY_STORAGE:-memory}
if [ "${BENCH_AUTH:-0}" = 1 ]; then
  auth_enabled=true storage=${PARLEY_STORAGE:-sqlite}
  awk -v n="${BENCH_USERS:-10000}" -v d="$PROXY_HOST" \
    'BEGIN{for(i=1;i<=n;i++) printf "user%07d@%s bench\n", i, d}' |
    "$bin" user import --data-dir "$run_dir/data" >/dev/null
fi
location=
if [ -n "${PARLEY_REDIS_URL:-}" ]; then
  location="  location: redis
  redis_url: $PARLEY_REDIS_URL"
fi
cat >"$cfg" <<YAML
storage:
  engine: $storage
$location
admin:
  listen: "${PARLEY_ADMIN:-}"
  capture_messages: 0
security:
  trusted: [127.0.0.0/8]   # sipp sends everything from one address
auth:
  enabled: $auth_enabled
  algorithms: [MD5]
cdr:
  enabled: ${PARLEY_CDR:-false}
b2bua:
  pass_x_headers: ${PARLEY_PASS_X_HEADERS:-false}
transaction:
  # Every transaction lingers 32 s after its answer over UDP; the default
  # bound (500 000) would cap sustained UDP REGISTERs near 15 600/s, below
  # what the REGISTER series offers. Kamailio's config is sized too (shm).
  max_transactions: ${PARLEY_MAX_TRANSACTIONS:-2000000}
YAML
# shellcheck disable=SC2086
exec "$bin" serve --config "$cfg" --data-dir "$run_dir/data" \
  --listen "udp:$PROXY_HOST:$PROXY_PORT" --listen "tcp:$PROXY_HOST:$PROXY_PORT" \
  --log-level warn ${PARLEY_ARGS:-}
