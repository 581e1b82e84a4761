#!/usr/bin/env bash
# burst.sh - issue 20 item 7: the memory a burst of failing INVITEs leaves
# behind, on loopback. Starts PARLEY_BIN (default bin/parley) on
# 127.0.0.1:PORT, registers "bob" at a contact where nothing listens
# (127.0.0.1:9), then sends BURST_N INVITEs to an unknown user and BURST_N
# to bob at BURST_RATE/s (sipp, each phase bounded by -m and -timeout),
# samples the proxy's VmRSS and PSS every second during the load and for
# SETTLE_S (40) seconds after it, and prints one summary line:
#   label peak_rss_kb peak_pss_kb rss_after_kb pss_after_kb rejected_503
# Env: BURST_N (100000) BURST_RATE (5000) PORT (5960) ADMIN_PORT (5961)
# SIPP_PORT (PORT+2; sipp's REGISTER there, its INVITEs at SIPP_PORT+1)
# SETTLE_S (40) LABEL (parley) PARLEY_ARGS (extra serve flags) BURST_ADMIN
# (1; 0 turns admin off, as bench/parley.sh runs it, and the 503 count is
# then n/a).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
bin=${PARLEY_BIN:-$here/../bin/parley}
n=${BURST_N:-100000} rate=${BURST_RATE:-5000} port=${PORT:-5960} aport=${ADMIN_PORT:-5961}
sport=${SIPP_PORT:-$((port + 2))}
settle=${SETTLE_S:-40} label=${LABEL:-parley}
admin_listen=127.0.0.1:$aport
[ "${BURST_ADMIN:-1}" = 0 ] && admin_listen='""'
command -v sipp >/dev/null || { echo "sipp not found (apt-get install sip-tester)" >&2; exit 2; }
dir=$(mktemp -d)
cat >"$dir/parley.yaml" <<YAML
domains: [127.0.0.1]
storage:
  engine: memory
admin:
  listen: $admin_listen
security:
  trusted: [127.0.0.0/8]
YAML
# shellcheck disable=SC2086
"$bin" serve --config "$dir/parley.yaml" --data-dir "$dir/data" --listen "udp:127.0.0.1:$port" \
  --log-level error ${PARLEY_ARGS:-} >"$dir/parley.log" 2>&1 &
pid=$!
cleanup() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
sleep 1
kill -0 "$pid" || { cat "$dir/parley.log" >&2; exit 1; }
sample() {  # rss_kb pss_kb
  local rss pss
  rss=$(awk '/^VmRSS/{print $2}' /proc/$pid/status)
  pss=$(awk '/^Pss:/{print $2}' /proc/$pid/smaps_rollup)
  echo "$rss $pss"
}
printf 'SEQUENTIAL\nbob;127.0.0.1:9;udp\n' >"$dir/reg.csv"
sipp 127.0.0.1:$port -sf "$here/scenarios/register.xml" -inf "$dir/reg.csv" -m 1 -p "$sport" \
  -i 127.0.0.1 -nostdin -timeout 10s >/dev/null 2>&1 || { echo "REGISTER failed" >&2; exit 1; }
( while kill -0 "$pid" 2>/dev/null; do echo "$(date +%s) $(sample)"; sleep 1; done ) >"$dir/samples" &
sampler=$!
bound=$(( n / rate * 3 + 30 ))
for user in nobody bob; do
  sipp 127.0.0.1:$port -sf "$here/scenarios/invite_fail.xml" -s "$user" -m "$n" -r "$rate" -l "$n" \
    -p $((sport + 1)) -i 127.0.0.1 -nostdin -timeout "${bound}s" -recv_timeout 40000 -buff_size 4194304 \
    >/dev/null 2>&1 || true
done
loaded=$(date +%s)
sleep "$settle"
after=$(sample)
kill "$sampler" 2>/dev/null || true
peak=$(awk -v t="$loaded" '$1<=t{if($2>r)r=$2; if($3>p)p=$3} END{print r+0, p+0}' "$dir/samples")
rej=$(curl -s "127.0.0.1:$aport/metrics" 2>/dev/null | awk '/^parley_transactions_rejected_total/{print $2}' || true)
echo "$label $peak $after ${rej:-n/a}"
