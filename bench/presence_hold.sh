#!/usr/bin/env bash
# presence_hold.sh - long-lived presence subscriptions and a PUBLISH's
# fan-out, parley and Kamailio's presence modules side by side in one run
# (bench/presenceload does the SIP).
#
# Usage: presence_hold.sh [SUBS] [RATE] [WATCHERS] [TARGETS]
#   SUBS      subscriptions held (Expires 3600, over 1 000 presentities;
#             default 20000)
#   RATE      SUBSCRIBEs offered per second (default 2000)
#   WATCHERS  watchers of the one presentity that then publishes (1000)
#   TARGETS   "parley kamailio" (default)
# Prints per target: SUBSCRIBE/s completed with their first NOTIFY, the
# resident memory and (parley, from its /metrics) the Go heap in use per
# subscription, 40 s after the last SUBSCRIBE so that their transactions
# are gone (SETTLE=130s waits for the Go runtime's forced GC, every 2 min,
# so that the live heap is measured without load; parley: one process; Kamailio keeps
# subscriptions in shared memory across its processes, not measured
# here), and the fan-out's p50/p99 from the PUBLISH's 200. Loopback only;
# the load tool stops after 10 minutes whatever happens.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
subs=${1:-20000} rate=${2:-2000} watchers=${3:-1000} targets=${4:-parley kamailio}
port=${PROXY_PORT:-5070}
export PROXY_HOST=127.0.0.1 PROXY_PORT=$port
load=$(mktemp -d)/presenceload
(cd "$here/.." && go build -o "$load" ./bench/presenceload)

for target in $targets; do
  RUN_DIR=$(mktemp -d) && export RUN_DIR
  case $target in
    parley) start=(env PARLEY_ARGS="--admin 127.0.0.1:$((port + 1))" "$here/parley.sh");;
    kamailio) start=(env KAM_CFG=kamailio-presence.cfg KAM_SHM_MB=1024 "$here/peers/kamailio.sh");;
    *) echo "presence_hold.sh: unknown target $target" >&2; exit 2;;
  esac
  "${start[@]}" >"$RUN_DIR/server.log" 2>&1 &
  pid=$!
  for _ in $(seq 50); do ss -lun | grep -q "127.0.0.1:$port " && break; sleep 0.1; done
  sleep 2
  memory_pid=0 metrics=""
  if [ "$target" = parley ]; then # parley.sh execs parley
    memory_pid=$(pgrep -P "$pid" -x parley || echo "$pid") metrics="http://127.0.0.1:$((port + 1))/metrics"
  fi
  echo "== $target (load average $(cut -d' ' -f1-3 /proc/loadavg))"
  "$load" -server "127.0.0.1:$port" -n "$subs" -rate "$rate" -w "$watchers" -pid "$memory_pid" -metrics "$metrics" -settle "${SETTLE:-40s}" -timeout 10m || true
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
done
