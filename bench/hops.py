#!/usr/bin/env python3
"""Pairs what the proxy received with what it sent on (see hops.sh) and
prints one JSON line per message kind with the proxy's latency percentiles
in milliseconds. Input: tshark fields time, src port, dst port, Call-ID,
CSeq method, status, method, and optionally the message header; arguments:
label, rate, proxy port. A message whose header holds X-Bench-Call is named
by that number, so that a B2BUA's two legs pair; any other by its Call-ID."""
import collections
import json
import re
import sys

BENCH_CALL = re.compile(r"(?:^|\\r\\n|\r\n|\n)X-Bench-Call:\s*(\d+)", re.IGNORECASE)


def call_of(call_id, header):
    m = BENCH_CALL.search(header)
    return "x-bench-call:" + m.group(1) if m else call_id


def main():
    label, rate, port = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    arrived = {}
    hops = collections.defaultdict(list)
    for line in sys.stdin:
        f = line.rstrip("\n").split("\t")
        if len(f) < 7:
            continue
        t, src, dst, call_id, cseq_method, status, method = f[:7]
        key = (call_of(call_id, f[7] if len(f) > 7 else ""), (method or status) + "/" + cseq_method)
        if dst == port and src != port:
            arrived.setdefault(key, float(t))
        elif src == port and key in arrived:
            hops[key[1]].append((float(t) - arrived.pop(key)) * 1000)
    for kind in sorted(hops):
        v = sorted(hops[kind])
        print(json.dumps({"type": "hop", "label": label, "rate": rate, "kind": kind, "n": len(v),
                          "p50_ms": pct(v, 0.5), "p90_ms": pct(v, 0.9), "p99_ms": pct(v, 0.99),
                          "max_ms": round(v[-1], 3), "within_ms": within(v)}))


# The bounds of Parley's parley_b2bua_relay_seconds buckets up to 10 ms, in
# ms: the share of hops within each compares the wire with the histogram
# (b2bua_latency.sh WIRE=1) without interpolating either.
BOUNDS_MS = (0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10)


def within(v):
    return {str(b): round(sum(1 for x in v if x <= b) / len(v), 4) for b in BOUNDS_MS}


def pct(v, p):
    return round(v[min(len(v) - 1, int(len(v) * p))], 3)


if __name__ == "__main__":
    main()
