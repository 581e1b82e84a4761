#!/usr/bin/env bash
# presence.sh - SUBSCRIBE/s and NOTIFY/s of parley and Kamailio's presence
# modules, side by side in one run on this machine.
#
# Usage: presence.sh [RATE] [DURATION_S] [TARGETS]
#   RATE        fetches per second offered (default 500): each is one
#               SUBSCRIBE (Expires 0), its 200, one NOTIFY and its 200
#               (scenarios/subscribe_fetch.xml)
#   DURATION_S  seconds of load (default 20)
#   TARGETS     "parley kamailio" (default)
# Prints one line per target: offered and completed fetches per second,
# failures, and the server's CPU seconds per 1 000 fetches (utime+stime
# of its process tree from /proc). Needs sipp; Kamailio with
# kamailio-presence-modules for the kamailio target. All on loopback.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
rate=${1:-500} duration=${2:-20} targets=${3:-parley kamailio}
port=${PROXY_PORT:-5070} uac_port=${UAC_PORT:-5080}
export PROXY_HOST=127.0.0.1 PROXY_PORT=$port

# tree_cpu PID: clock ticks of utime+stime of PID and its descendants.
tree_cpu() {
  local total=0 p
  for p in $1 $(pgrep -P "$1" || true); do
    [ -r "/proc/$p/stat" ] && total=$((total + $(awk '{print $14+$15}' "/proc/$p/stat")))
  done
  echo "$total"
}

for target in $targets; do
  RUN_DIR=$(mktemp -d) && export RUN_DIR
  case $target in
    parley) start=("$here/parley.sh");;
    kamailio) start=(env KAM_CFG=kamailio-presence.cfg KAM_SHM_MB=512 "$here/peers/kamailio.sh");;
    *) echo "presence.sh: unknown target $target" >&2; exit 2;;
  esac
  "${start[@]}" >"$RUN_DIR/server.log" 2>&1 &
  pid=$!
  for _ in $(seq 50); do ss -lun | grep -q "127.0.0.1:$port " && break; sleep 0.1; done
  sleep 2 # the workers of a server that just bound its port may not read yet
  before=$(tree_cpu "$pid")
  t0=$(date +%s.%N)
  sipp -sf "$here/scenarios/subscribe_fetch.xml" -s bob -r "$rate" -m $((rate * duration)) \
    -i 127.0.0.1 -p "$uac_port" "127.0.0.1:$port" -timeout $((duration + 30))s -trace_stat -stf "$RUN_DIR/stat.csv" \
    -nostdin >/dev/null 2>&1 </dev/null || true
  t1=$(date +%s.%N)
  after=$(tree_cpu "$pid")
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  last=$(tail -n1 "$RUN_DIR/stat.csv")
  ok=$(echo "$last" | awk -F';' '{print $16}') failed=$(echo "$last" | awk -F';' '{print $18}')
  hz=$(getconf CLK_TCK)
  awk -v t="$target" -v r="$rate" -v ok="$ok" -v f="$failed" -v s="$t0" -v e="$t1" -v c=$((after - before)) -v hz="$hz" \
    'BEGIN{printf "%-9s offered %6d/s  completed %8.0f/s  ok %7d  failed %5d  cpu %.3f s per 1000 fetches\n", t, r, ok/(e-s), ok, f, (c/hz)/(ok>0?ok:1)*1000}'
done
