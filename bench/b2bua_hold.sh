#!/usr/bin/env bash
# b2bua_hold.sh - memory per active B2BUA call on the real binary: parley
# (bench/parley.sh, --mode b2bua, CDRs and the journal in SQLite) holds
# CALLS answered calls at once (sipp: bench/scenarios/uac_call.xml with
# its 100 ms hold made HOLD_S seconds), and the script prints parley's PSS
# growth divided by the calls up, with the load average.
#   CALLS (10000) RATE (250 calls/s) HOLD_S (3*CALLS/RATE + 120) PORT (5170:
#   UAS PORT+20, UAC PORT+10, registration PORT+11, admin PORT+30) PARLEY_BIN (bin/parley)
# Needs sipp. All traffic is on loopback; every process it starts is
# stopped by PID at the end.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
calls=${CALLS:-10000} rate=${RATE:-250}
hold=${HOLD_S:-$(( 3 * calls / rate + 120 ))} # past the longest wait below
port=${PORT:-5170}
run=$(mktemp -d "${TMPDIR:-/tmp}/b2bhold.XXXXXX")
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
# sipp ends a test once its main loop was late 120 times (its watchdog):
# on a shared machine that ended the UAC after a few minutes with most
# calls unplaced. Memory is not CPU-bound: let it run.
watchdog="-watchdog_minor_maxtriggers 1000000 -watchdog_major_maxtriggers 1000000"
pss() { awk '/^Pss:/{print $2}' "/proc/$1/smaps_rollup"; }

PROXY_HOST=127.0.0.1 PROXY_PORT=$port RUN_DIR=$run PARLEY_ARGS="--mode b2bua --admin 127.0.0.1:$((port + 30))" PARLEY_STORAGE=sqlite PARLEY_CDR=true \
  PARLEY_BIN=${PARLEY_BIN:-$here/../bin/parley} "$here/parley.sh" >"$run/parley.log" 2>&1 &
parley=$!; pids+=("$parley")
trap 'cleanup; echo "run directory: $run"' EXIT
sleep 1
(cd "$run" && exec sipp -sf "$here/scenarios/uas_call.xml" -s bench-uas -p $((port + 20)) -m "$calls" -i 127.0.0.1 \
  -nostdin -buff_size 4194304 $watchdog >/dev/null 2>&1) &
pids+=("$!")
{ echo SEQUENTIAL; echo "bench-uas;127.0.0.1:$((port + 20));u1"; } >"$run/callee.csv"
registered=0 # a loaded machine may start parley slowly: try a few times
for _ in 1 2 3 4 5; do
  if sipp "127.0.0.1:$port" -sf "$here/scenarios/register.xml" -inf "$run/callee.csv" -m 1 -p $((port + 11)) -i 127.0.0.1 \
    -nostdin -timeout 10s >/dev/null 2>&1; then registered=1; break; fi
done
[ "$registered" = 1 ] || { echo "registering bench-uas failed" >&2; exit 1; }
sed -e "s/<pause milliseconds=\"100\"\/>/<pause milliseconds=\"$((hold * 1000))\"\/>/" -e "s/timeout=\"100\" ontimeout/timeout=\"$((hold * 1000))\" ontimeout/" "$here/scenarios/uac_call.xml" >"$run/uac_hold.xml"
sleep 2
heap() { # the live objects after a GC, in KiB, and the spans they are in
  curl -s "http://127.0.0.1:$((port + 30))/debug/pprof/heap?gc=1" -o "$run/heap.pprof" || true
  curl -s "http://127.0.0.1:$((port + 30))/debug/pprof/heap?debug=1" >"$run/heap.txt" || true
  awk '/^# HeapAlloc = /{a=int($4/1024)} /^# HeapInuse = /{i=int($4/1024)} END{print a+0, i+0}' "$run/heap.txt"
}
read -r live0 inuse0 < <(heap)
before=$(pss "$parley")
(cd "$run" && exec sipp "127.0.0.1:$port" -sf "$run/uac_hold.xml" -s bench-uas -p $((port + 10)) -m "$calls" -r "$rate" \
  -l "$calls" -i 127.0.0.1 -nostdin -buff_size 4194304 $watchdog -trace_stat -stf uac.csv -fd 1 >/dev/null 2>&1) &
uac=$!; pids+=("$uac")
# Measured 40 s after the last call is up: past 64*T1, when the 2xx
# transactions and the ACKs kept for retransmissions are gone. On a busy
# machine sipp places the calls later than RATE says: wait until it has
# placed them all (at most twice the time RATE needs, plus a minute).
stat() { awk -F';' -v col="$1" 'NR==1{for(i=1;i<=NF;i++) if($i==col) c=i; next} {v=$c} END{print v+0}' "$run/uac.csv" 2>/dev/null || echo 0; }
calls_up() { stat CurrentCall; }
for (( waited = 0; waited < 2 * calls / rate + 60; waited += 2 )); do
  [ "$(stat TotalCallCreated)" -ge "$calls" ] && break
  sleep 2
done
sleep 40
up=$(calls_up)
after=$(pss "$parley")
journal=$(sqlite3 "$run/data/parley.db" 'SELECT count(*) FROM cdr_open' 2>/dev/null || echo "?")
# The live heap after a forced GC, and where it is: go tool pprof -top on
# the profile kept in the run directory. HeapAlloc is the live objects;
# HeapInuse the spans they are in, which objects of calls long gone share
# with them (fragmentation).
read -r live inuse < <(heap)
# What parley holds by its own count: on a loaded machine sipp gives up
# on calls (FailedCall) that parley answered and still holds.
held=$(curl -s "http://127.0.0.1:$((port + 30))/metrics" | awk '/^parley_calls_active /{print int($2)}')
per() { echo $(( ($2 - $1) * 1024 / (up > 0 ? up : 1) )); }
perp() { echo $(( ($2 - $1) * 1024 / (${held:-0} > 0 ? held : 1) )); }
echo "heap after a GC: live objects $live0 -> $live KiB ($(per "$live0" "$live") bytes a call), spans in use $inuse0 -> $inuse KiB ($(per "$inuse0" "$inuse") bytes a call); profile: $run/heap.pprof"
echo "calls up: $up of $calls, $(stat 'FailedCall(C)') failed (journal rows: $journal); parley PSS $before KiB -> $after KiB; per call: $(per "$before" "$after") bytes; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "parley holds ${held:-?} answered calls ($(curl -s "http://127.0.0.1:$((port + 30))/metrics" | awk '/^parley_calls_setup /{print int($2)}') in setup); per call it holds: live $(perp "$live0" "$live"), spans $(perp "$inuse0" "$inuse"), PSS $(perp "$before" "$after") bytes"
