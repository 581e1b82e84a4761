#!/usr/bin/env bash
# hops.sh - the proxy's (or B2BUA's) own latency per message, from a packet capture.
#
#   hops.sh LABEL 'START_CMD' RATE [DURATION]
#   e.g. hops.sh parley ./parley.sh 1000 20 ; hops.sh kamailio peers/kamailio.sh 1000 20
#   B2BUA: PARLEY_ARGS="--mode b2bua" PARLEY_PASS_X_HEADERS=true hops.sh parley-b2bua ./parley.sh 100
#
# Runs one call step of run.sh (UDP, RATE calls/s for DURATION s, default 20)
# while dumpcap captures the proxy's port on loopback, then pairs every message
# the proxy received with the one it sent on for the same call, method /
# status and CSeq method, and prints the percentiles of that time per kind
# (INVITE, 180, 200, ACK, BYE, ...). A call is named by the X-Bench-Call
# header the sipp scenarios carry (the UAC numbers its INVITE and BYE, the
# UAS echoes the number in its responses), else by its Call-ID: a B2BUA gives
# its B leg a Call-ID, tags and Via of its own, so only the header pairs the
# A leg's INVITE in with the B leg's INVITE out, and the B leg's responses in
# with the A leg's out (it must pass X- headers: b2bua.pass_x_headers). The
# B2BUA's own ACK carries no header, so its ACKs are not paired. sipp's own
# response times come in 4 ms steps of its clock and include both sipps; this
# is the proxy alone. One JSON line per kind is appended to
# results/hops.jsonl. Needs tshark (dumpcap comes with it). PORT (5070) is the
# proxy's port; run.sh takes UAC_PORT, UAS_PORT and REG_PORT from the
# environment.
#
# The capture: dumpcap alone, the kernel's BPF filter on the proxy's port,
# its memory-mapped ring of CAPTURE_BUFFER_MB (64) MiB, packets written to
# a pcapng file and nothing dissected until the run is over; then tshark
# reads the file. On the 2 cores the proxy and both sipps share, "tshark -i lo
# -w" cost 4.5 times dumpcap's CPU for the same 70 000 packets, started
# capturing 11-20 s late under load (a fixed sleep missed the run's start)
# and dropped packets; see docs/PERFORMANCE.md, issue 16's record path
# section. The run starts once dumpcap says it is capturing; its count of
# packets dropped is printed at the end. TARGET=HOST:PORT (with TARGET_PID)
# measures a proxy already running instead of starting one (START_CMD is
# then ignored): b2bua_latency.sh WIRE=1 does, to scrape its /metrics
# before and after the same run.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
label=$1 start=$2 rate=$3 duration=${4:-20}
port=${PORT:-5070}
for tool in tshark dumpcap; do
  command -v $tool >/dev/null || { echo "hops.sh: $tool not found (apt-get install tshark)" >&2; exit 2; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
dumpcap -i lo -f "udp port $port" -B "${CAPTURE_BUFFER_MB:-64}" -w "$tmp/cap.pcapng" >/dev/null 2>"$tmp/dumpcap.err" &
cap=$!
for _ in $(seq 300); do
  grep -q "Capturing on" "$tmp/dumpcap.err" 2>/dev/null && break
  kill -0 "$cap" 2>/dev/null || { cat "$tmp/dumpcap.err" >&2; echo "hops.sh: dumpcap did not start" >&2; exit 2; }
  sleep 0.1
done
sleep 0.5
proxy=(--start "$start" --port "$port")
if [ -n "${TARGET:-}" ]; then
  proxy=(--target "$TARGET")
  [ -z "${TARGET_PID:-}" ] || proxy+=(--pid "$TARGET_PID")
fi
"$HERE/run.sh" --label "$label" "${proxy[@]}" --scenario call --transport udp \
  --rate "$rate" --duration "$duration" --results "$tmp/steps.jsonl" >&2 || true
sleep 1
kill -INT "$cap"
wait "$cap" 2>/dev/null || true
tr '\r' '\n' <"$tmp/dumpcap.err" | grep -E "captured|dropped" | sed 's/^/hops.sh: dumpcap: /' >&2 || true
mkdir -p "$HERE/results"
tshark -r "$tmp/cap.pcapng" -Y sip -T fields -E occurrence=f -e frame.time_epoch -e udp.srcport -e udp.dstport \
  -e sip.Call-ID -e sip.CSeq.method -e sip.Status-Code -e sip.Method -e sip.msg_hdr 2>/dev/null |
  python3 "$HERE/hops.py" "$label" "$rate" "$port" | tee -a "$HERE/results/hops.jsonl"
