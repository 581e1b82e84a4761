#!/usr/bin/env bash
# cluster.sh - one parley node against three, sharing registrations in Redis (issue 19).
#
# Usage: cluster.sh [--scenario register|call] [--rates "1000 2000"] [--duration S] [--users N]
#
# For each total rate R it runs, in this order and each on fresh processes:
#   mem1   one node, storage.engine memory (the yardstick),
#   redis1 one node, registrations in Redis (storage.location redis),
#   redis3 three nodes on 127.0.0.1, .2 and .3 (same port), cluster.node n1..n3,
#          registrations in one Redis, R/3 offered to each node by its own sipp.
# register: each node's sipp refreshes its own pool of --users/3 AORs (a phone
# registers with one node). call: node i's UAS registers its AOR at node i+1
# and node i's UAC calls it through node i, so every call crosses two nodes
# (the INVITE follows the callee's Path, RFC 3327), as two thirds of the calls
# of a three-node cluster do.
# Each run is bench/run.sh --target against the running node(s); the script
# prints one line per configuration and rate: achieved rate (sum over the
# nodes), failures, the worst node's p99, the CPU seconds of the parley
# processes and of Redis, and whether every node passed run.sh's criteria.
# The JSON step lines go to results/cluster.jsonl (label mem1/redis1/redis3-nN).
# sipp writes response times every 100 calls or REGISTERs, so give each
# node at least 100 per step (rate/3 × duration ≥ 100): without them a
# step has no p99 (printed as 999999) and does not pass.
# For each Redis step, Redis's own cost per command (INFO commandstats:
# calls and usec_per_call, counted from the step's start) goes to stderr.
#
# Environment: PARLEY_BIN (bin/parley), PORT (25060), BASE_PORT (25100: sipp
# ports BASE_PORT+10*i..), REDIS_PORT (25379: a redis-server of the script's
# own, killed at the end), KEEP=1 (keep the work directory: configs, logs), CONFIGS ("mem1 redis1 redis3"), and run.sh's own
# (MAX_P99_MS, SETTLE_S, ...). Needs redis-server and what run.sh needs; all
# traffic stays on loopback (127.0.0.2 and .3 are loopback on Linux).
#
# On one small machine this measures contention, not scaling: three nodes,
# Redis and six sipps share the same cores. See docs/PERFORMANCE.md.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SCENARIO=register RATES="1000 2000" DURATION=10 USERS=6000
BIN=${PARLEY_BIN:-$HERE/../bin/parley}
PORT=${PORT:-25060} BASE_PORT=${BASE_PORT:-25100} REDIS_PORT=${REDIS_PORT:-25379}
CONFIGS=${CONFIGS:-mem1 redis1 redis3}
RESULTS=$HERE/results/cluster.jsonl
DOMAIN=cluster.bench

die() { echo "cluster.sh: $*" >&2; exit 2; }
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

while [ $# -gt 0 ]; do
  case $1 in
    --scenario) SCENARIO=$2; shift 2;;
    --rates) RATES=$2; shift 2;;
    --duration) DURATION=$2; shift 2;;
    --users) USERS=$2; shift 2;;
    -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d'; exit 0;;
    *) die "unknown option $1";;
  esac
done
case $SCENARIO in register|call) ;; *) die "--scenario register|call";; esac
[ -x "$BIN" ] || die "no parley binary at $BIN (go build -o bin/parley ./cmd/parley)"
command -v redis-server >/dev/null || die "redis-server not found (apt-get install redis-server)"
command -v jq >/dev/null || die "jq not found (apt-get install jq)"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/cluster.XXXXXX")
mkdir -p "$HERE/results"
NODE_PIDS=() REDIS_PID=

cleanup() {
  stop_nodes
  if [ -n "$REDIS_PID" ]; then kill "$REDIS_PID" 2>/dev/null || true; wait "$REDIS_PID" 2>/dev/null || true; fi
  if [ "${KEEP:-0}" = 1 ]; then log "artifacts kept in $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Scenarios with one domain for every node: an AOR is the same whichever
# node a phone registers with or a call enters.
mkdir -p "$WORK/scenarios"
for f in "$HERE"/scenarios/*.xml; do
  sed -e "s/sip:\[remote_ip\]:\[remote_port\] SIP/sip:$DOMAIN SIP/" \
      -e "s/@\[remote_ip\]:\[remote_port\]/@$DOMAIN/g" -e "s/@\[remote_ip\]/@$DOMAIN/g" "$f" >"$WORK/scenarios/${f##*/}"
done

start_redis() {
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize no \
    --dir "$WORK" >"$WORK/redis.log" 2>&1 &
  REDIS_PID=$!
  local i
  for ((i = 0; i < 50; i++)); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && return; sleep 0.1; done
  die "redis-server on $REDIS_PORT did not start, see $WORK/redis.log"
}

cpu_s() {  # utime+stime of the given PIDs, in seconds
  local p sum=0 t
  for p in "$@"; do
    t=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12+$13}') || t=0
    sum=$((sum + ${t:-0}))
  done
  awk -v s="$sum" -v h="$(getconf CLK_TCK)" 'BEGIN{printf "%.2f", s/h}'
}

commandstats() {  # "cmd calls=N usec_per_call=U ..." of every command Redis ran
  redis-cli -p "$REDIS_PORT" info commandstats | tr -d '\r' |
    sed -n 's/^cmdstat_\([^:]*\):calls=\([0-9]*\),usec=[0-9]*,usec_per_call=\([0-9.]*\).*/\1 calls=\2 usec_per_call=\3;/p' | tr '\n' ' '
}

# start_node N CONFIG: node N (1..3) on 127.0.0.N:PORT.
start_node() {
  local n=$1 cfg=$2 dir=$WORK/node$1 host=127.0.0.$1 location= cluster=
  mkdir -p "$dir/data"
  if [ "$cfg" != mem1 ]; then
    location="  location: redis
  redis_url: redis://127.0.0.1:$REDIS_PORT/0
  redis_prefix: \"bench-$cfg:\""
    cluster="cluster:
  node: n$n
  address: $host:$PORT"
  fi
  # One secret for every node, as docs/CLUSTER.md has it.
  [ "$n" = 1 ] || cp "$WORK/node1/data/auth.secret" "$dir/data/" 2>/dev/null || true
  cat >"$dir/parley.yaml" <<YAML
listen: [udp:$host:$PORT, tcp:$host:$PORT]
domains: [$DOMAIN]
storage:
  engine: memory
$location
$cluster
admin:
  listen: ""
security:
  trusted: [127.0.0.0/8]
transaction:
  max_transactions: 2000000
YAML
  "$BIN" serve --config "$dir/parley.yaml" --data-dir "$dir/data" --log-level warn >"$dir/log" 2>&1 &
  NODE_PIDS+=($!)
  local i
  for ((i = 0; i < 100; i++)); do
    ss -Hlun "sport = :$PORT" | grep -q "$host:$PORT" && return
    kill -0 "${NODE_PIDS[-1]}" 2>/dev/null || die "node $n exited: $(tail -3 "$dir/log")"
    sleep 0.2
  done
  die "node $n not listening on $host:$PORT"
}

stop_nodes() {
  local p
  for p in "${NODE_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${NODE_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  NODE_PIDS=()
}

# bench_node I NODES RATE LABEL: run.sh against node I's share, in the background.
bench_node() {
  local i=$1 nodes=$2 rate=$3 label=$4 host=127.0.0.$1 next
  next=$(( i % nodes + 1 ))
  (
    export UAC_PORT=$((BASE_PORT + 10 * i)) UAS_PORT=$((BASE_PORT + 10 * i + 1)) REG_PORT=$((BASE_PORT + 10 * i + 2))
    export BENCH_SCENARIOS=$WORK/scenarios BENCH_USER_PREFIX=n${i}u BENCH_CALLEE=callee$i
    export CALLEE_AT=127.0.0.$next:$PORT
    exec "$HERE/run.sh" --scenario "$SCENARIO" --target "$host:$PORT" --pid "${NODE_PIDS[$((i - 1))]}" \
      --rate "$rate" --duration "$DURATION" --users $((USERS / nodes)) --label "$label" --results "$WORK/steps.jsonl" $( [ "${KEEP:-0}" = 1 ] && echo --keep)
  ) >"$WORK/run-$label.log" 2>&1 &
}

# measure CONFIG RATE: one step of CONFIG at RATE in total.
measure() {
  local cfg=$1 rate=$2 nodes=1 i pids=()
  [ "$cfg" = redis3 ] && nodes=3
  [ "$cfg" = mem1 ] || redis-cli -p "$REDIS_PORT" flushall >/dev/null
  [ "$cfg" = mem1 ] || redis-cli -p "$REDIS_PORT" config resetstat >/dev/null
  for ((i = 1; i <= nodes; i++)); do start_node "$i" "$cfg"; done
  sleep 1
  : >"$WORK/steps.jsonl"
  local c0 r0 c1 r1
  c0=$(cpu_s "${NODE_PIDS[@]}"); r0=$(cpu_s "$REDIS_PID")
  for ((i = 1; i <= nodes; i++)); do
    bench_node "$i" "$nodes" $((rate / nodes)) "$cfg-n$i"
    pids+=($!)
  done
  local ok=1
  for i in "${pids[@]}"; do wait "$i" || ok=0; done
  c1=$(cpu_s "${NODE_PIDS[@]}"); r1=$(cpu_s "$REDIS_PID")
  [ "$cfg" = mem1 ] || log "$cfg $rate/s Redis commandstats: $(commandstats)"
  stop_nodes
  if [ "$ok" = 0 ] || [ "$(wc -l <"$WORK/steps.jsonl")" -ne "$nodes" ]; then
    log "$cfg $rate/s: a run.sh failed:"; tail -3 "$WORK"/run-"$cfg"-n*.log >&2
    return
  fi
  cat "$WORK/steps.jsonl" >>"$RESULTS"
  jq -rs --arg cfg "$cfg" --arg rate "$rate" --arg cpu "$(awk -v a="$c0" -v b="$c1" 'BEGIN{printf "%.2f", b-a}')" \
    --arg rcpu "$(awk -v a="$r0" -v b="$r1" 'BEGIN{printf "%.2f", b-a}')" --arg load "$(cut -d' ' -f1 /proc/loadavg)" '
    "\($cfg)\t\($rate)\t\(map(.rate_achieved) | add | . * 10 | round / 10)\t\(map(.failed + .uas_failed) | add)\t" +
    "\(map(.rtt_ms.p99 // 999999) | max)\t\($cpu)\t\($rcpu)\t\(all(.pass))\t\($load)"' "$WORK/steps.jsonl"
  sleep "${SETTLE_S:-3}"
}

start_redis
log "scenario $SCENARIO, rates $RATES, $DURATION s per step; work dir $WORK"
printf 'config\toffered/s\tachieved/s\tfailed\tp99_ms(worst node)\tparley_cpu_s\tredis_cpu_s\tpass\tload1\n'
for rate in $RATES; do
  for cfg in $CONFIGS; do measure "$cfg" "$rate"; done
done
