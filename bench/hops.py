#!/usr/bin/env python3
"""Pairs what the proxy received with what it sent on (see hops.sh) and
prints one JSON line per message kind with the proxy's latency percentiles
in milliseconds. Input: tshark fields time, src port, dst port, Call-ID,
CSeq method, status, method; arguments: label, rate, proxy port."""
import collections
import json
import sys

label, rate, port = sys.argv[1], int(sys.argv[2]), sys.argv[3]
arrived = {}
hops = collections.defaultdict(list)
for line in sys.stdin:
    f = line.rstrip("\n").split("\t")
    if len(f) < 7:
        continue
    t, src, dst, call_id, cseq_method, status, method = f[:7]
    key = (call_id, (method or status) + "/" + cseq_method)
    if dst == port and src != port:
        arrived.setdefault(key, float(t))
    elif src == port and key in arrived:
        hops[key[1]].append((float(t) - arrived.pop(key)) * 1000)


def pct(v, p):
    return round(v[min(len(v) - 1, int(len(v) * p))], 3)


for kind in sorted(hops):
    v = sorted(hops[kind])
    print(json.dumps({"type": "hop", "label": label, "rate": rate, "kind": kind, "n": len(v),
                      "p50_ms": pct(v, 0.5), "p90_ms": pct(v, 0.9), "p99_ms": pct(v, 0.99),
                      "max_ms": round(v[-1], 3)}))
