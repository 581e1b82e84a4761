#!/usr/bin/env bash
# hops.sh - the proxy's own latency per message, from a packet capture.
#
#   hops.sh LABEL 'START_CMD' RATE [DURATION]
#   e.g. hops.sh parley ./parley.sh 1000 20 ; hops.sh kamailio peers/kamailio.sh 1000 20
#
# Runs one call step of run.sh (UDP, RATE calls/s for DURATION s, default 20)
# while tshark captures the proxy's port on loopback, then pairs every message
# the proxy received with the one it sent on for the same Call-ID, method /
# status and CSeq method, and prints the percentiles of that time per kind
# (INVITE, 180, 200, ACK, BYE, ...). sipp's own response times come in 4 ms
# steps of its clock and include both sipps; this is the proxy alone.
# One JSON line per kind is appended to results/hops.jsonl. Needs tshark.
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
"$HERE/run.sh" --label "$label" --start "$start" --scenario call --transport udp \
  --rate "$rate" --duration "$duration" --results "$tmp/steps.jsonl" >&2 || true
sleep 1
kill "$cap"
wait "$cap" 2>/dev/null || true
mkdir -p "$HERE/results"
tshark -r "$tmp/cap.pcap" -Y sip -T fields -e frame.time_epoch -e udp.srcport -e udp.dstport \
  -e sip.Call-ID -e sip.CSeq.method -e sip.Status-Code -e sip.Method 2>/dev/null |
  python3 "$HERE/hops.py" "$label" "$rate" "$port" | tee -a "$HERE/results/hops.jsonl"
