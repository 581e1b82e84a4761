#!/usr/bin/env bash
# hops.sh - the proxy's (or B2BUA's) own latency per message, from a packet capture.
#
#   hops.sh LABEL 'START_CMD' RATE [DURATION]
#   e.g. hops.sh parley ./parley.sh 1000 20 ; hops.sh kamailio peers/kamailio.sh 1000 20
#   B2BUA: PARLEY_ARGS="--mode b2bua" PARLEY_PASS_X_HEADERS=true hops.sh parley-b2bua ./parley.sh 100
#
# Runs one call step of run.sh (UDP, RATE calls/s for DURATION s, default 20)
# while tshark captures the proxy's port on loopback, then pairs every message
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
# results/hops.jsonl. Needs tshark. PORT (5070) is the proxy's port; run.sh
# takes UAC_PORT, UAS_PORT and REG_PORT from the environment.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
label=$1 start=$2 rate=$3 duration=${4:-20}
port=${PORT:-5070}
command -v tshark >/dev/null || { echo "hops.sh: tshark not found (apt-get install tshark)" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
tshark -i lo -f "udp port $port" -w "$tmp/cap.pcap" -q >/dev/null 2>&1 &
cap=$!
sleep 2
"$HERE/run.sh" --label "$label" --start "$start" --scenario call --transport udp --port "$port" \
  --rate "$rate" --duration "$duration" --results "$tmp/steps.jsonl" >&2 || true
sleep 1
kill "$cap"
wait "$cap" 2>/dev/null || true
mkdir -p "$HERE/results"
tshark -r "$tmp/cap.pcap" -Y sip -T fields -E occurrence=f -e frame.time_epoch -e udp.srcport -e udp.dstport \
  -e sip.Call-ID -e sip.CSeq.method -e sip.Status-Code -e sip.Method -e sip.msg_hdr 2>/dev/null |
  python3 "$HERE/hops.py" "$label" "$rate" "$port" | tee -a "$HERE/results/hops.jsonl"
