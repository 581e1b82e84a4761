#!/usr/bin/env bash
# b2bua_latency.sh - the B2BUA's added latency, from its own histogram.
#
#   b2bua_latency.sh RATE [DURATION]      e.g. b2bua_latency.sh 1750 20
#
# Starts Parley (parley.sh) in mode b2bua with CDRs in SQLite, as table.sh's
# b2bua series runs it, with the admin listener on ADMIN (127.0.0.1:PORT+5)
# for /metrics; scrapes parley_b2bua_relay_seconds, runs one call step of
# run.sh (UDP, RATE calls/s for DURATION s, default 20) against it, scrapes
# again, and prints per kind (request: INVITE, ACK, BYE; response: 180,
# 200) and for all: n, p50, p90, p99 (interpolated within the histogram's
# buckets), the share within 2 ms (exact: a bucket bound), the smallest
# bucket bound that holds them all, and the mean. The histogram times each
# message from the kernel's receive stamp of the one it relays (UDP,
# SO_TIMESTAMPNS) to the return of the sendto/sendmmsg that hands it to the
# kernel: Parley alone, with no capture on the machine. One JSON line is
# appended to results/b2bua_latency.jsonl, with run.sh's step (rate
# achieved, failures, Parley's CPU) beside it. To tell whose a tail is, it
# also prints from the same scrapes how long goroutines waited, runnable,
# for a processor (go_sched_latencies_seconds: the load, or the
# collector's mark worker on one of the two Ps), the collector's pauses,
# and from /proc how long Parley's threads waited for a CPU (run_delay).
#
# PORT (5070) is Parley's SIP port; run.sh takes UAC_PORT, UAS_PORT and
# REG_PORT from the environment; PARLEY_BIN, PARLEY_STORAGE (sqlite) and
# PARLEY_CDR (true) as parley.sh. WIRE=1 runs the step under hops.sh's
# capture too (dumpcap and tshark; set PARLEY_PASS_X_HEADERS=true), to
# check the histogram against the wire at a rate the capture keeps up with:
# then it prints INVITE, 1xx and 2xx from both side by side, with their
# shares within the histogram's bounds.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
rate=$1 duration=${2:-20}
port=${PORT:-5070}
admin=${ADMIN:-127.0.0.1:$((port + 5))}
label=${LABEL:-parley-b2bua}
run_dir=$(mktemp -d)
pid=
cleanup() {
  if [ -n "$pid" ]; then
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$run_dir"
}
trap cleanup EXIT
PROXY_HOST=127.0.0.1 PROXY_PORT=$port RUN_DIR=$run_dir PARLEY_ADMIN=$admin \
  PARLEY_ARGS="--mode b2bua ${PARLEY_ARGS:-}" PARLEY_STORAGE=${PARLEY_STORAGE:-sqlite} PARLEY_CDR=${PARLEY_CDR:-true} \
  "$HERE/parley.sh" >"$run_dir/parley.log" 2>&1 &
pid=$!
scrape() { curl -sf "http://$admin/metrics" >"$1"; }
# How long Parley's threads were runnable without a CPU (the kernel's
# run_delay, ns, summed over the threads alive): the machine's share of
# a tail, which no change to Parley removes.
run_delay() { cat /proc/"$pid"/task/*/schedstat 2>/dev/null | awk '{s += $2} END {printf "%d", s}'; }
for _ in $(seq 100); do
  scrape "$run_dir/before" && break
  kill -0 "$pid" 2>/dev/null || { cat "$run_dir/parley.log" >&2; echo "b2bua_latency.sh: parley exited" >&2; exit 2; }
  sleep 0.1
done
scrape "$run_dir/before" || { echo "b2bua_latency.sh: no /metrics on $admin" >&2; exit 2; }
delay0=$(run_delay)
if [ "${WIRE:-0}" = 1 ]; then
  PORT=$port TARGET=127.0.0.1:$port TARGET_PID=$pid "$HERE/hops.sh" "$label" - "$rate" "$duration" >"$run_dir/hops.jsonl"
else
  "$HERE/run.sh" --label "$label" --target "127.0.0.1:$port" --pid "$pid" --scenario call --transport udp \
    --rate "$rate" --duration "$duration" --results "$run_dir/steps.jsonl" >&2 || true
fi
scrape "$run_dir/after"
delay=$(($(run_delay) - delay0))
mkdir -p "$HERE/results"
python3 "$HERE/relay_hist.py" "$run_dir/before" "$run_dir/after" "$label" "$rate" >"$run_dir/summary"
sed '$d' "$run_dir/summary"
echo "kernel: Parley's threads waited $(awk -v d="$delay" 'BEGIN {printf "%.3f", d / 1e9}') s runnable for a CPU (run_delay)"
if [ -s "$run_dir/hops.jsonl" ]; then
  python3 "$HERE/relay_hist.py" --wire "$run_dir/summary" "$run_dir/hops.jsonl"
fi
step=$(tail -n 1 "$run_dir/steps.jsonl" 2>/dev/null || echo null)
tail -n 1 "$run_dir/summary" |
  python3 -c 'import json,sys; d=json.loads(sys.stdin.read()); d["step"]=json.loads(sys.argv[1]); d["run_delay_s"]=int(sys.argv[2])/1e9; print(json.dumps(d))' "$step" "$delay" |
  tee -a "$HERE/results/b2bua_latency.jsonl" | python3 -c 'import json,sys; s=json.loads(sys.stdin.read())["step"]; s and print("step:", {k: s.get(k) for k in ("rate_achieved", "successful", "failed", "retrans_uac", "rtt_ms", "proxy_cpu_s", "pass")})'
