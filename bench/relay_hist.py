#!/usr/bin/env python3
"""Summarises parley_b2bua_relay_seconds between two scrapes of /metrics
(see b2bua_latency.sh): the difference of the two is what the run relayed.
Arguments: BEFORE AFTER (files holding the scrapes) [LABEL RATE]. Prints a
row per message (INVITE, ACK, BYE, other, 1xx, 2xx, 3xx-6xx: those seen),
one for all requests, all responses and all together, and one JSON line.
With --wire SUMMARY HOPS it prints that summary's INVITE, 1xx and 2xx
beside hops.py's lines for the same run instead.

Percentiles are interpolated linearly within the bucket they fall in, as
Prometheus's histogram_quantile does (the first bucket from 0), so they are
only as good as the buckets: fine near 2 ms (1, 1.5, 2, 3 ms), coarse past
5 ms. The share within 2 ms is exact (2 ms is a bucket bound). The max is
the smallest bound that holds every message: the slowest was at most that,
and over the next smaller bound."""
import json
import math
import re
import sys

SERIES = re.compile(r'^parley_b2bua_relay_seconds_(bucket|count|sum)\{([^}]*)\}\s+(\S+)$')


def parse(path):
    """Returns {message: {"buckets": {le: n}, "count": n, "sum": s}}."""
    out = {}
    with open(path) as f:
        for line in f:
            m = SERIES.match(line.strip())
            if not m:
                continue
            what, labels, value = m.group(1), dict(re.findall(r'(\w+)="([^"]*)"', m.group(2))), float(m.group(3))
            h = out.setdefault(labels["message"], {"buckets": {}, "count": 0.0, "sum": 0.0})
            if what == "bucket":
                h["buckets"][math.inf if labels["le"] == "+Inf" else float(labels["le"])] = value
            else:
                h[what] = value
    return out


def plain(path, name):
    """Returns a histogram or counter without labels, as parse's values,
    from the series named name: {"buckets", "count", "sum"} or a float."""
    h = {"buckets": {}, "count": 0.0, "sum": 0.0}
    with open(path) as f:
        for line in f:
            if not line.startswith(name):
                continue
            key, _, value = line.strip().rpartition(" ")
            if key == name:
                return float(value)
            m = re.match(re.escape(name) + r'_bucket\{le="([^"]+)"\}$', key)
            if m:
                h["buckets"][math.inf if m.group(1) == "+Inf" else float(m.group(1))] = float(value)
            elif key in (name + "_count", name + "_sum"):
                h[key[len(name) + 1:]] = float(value)
    return h


def waits(before, after):
    """The Go runtime's own figures between the scrapes: how long
    goroutines waited, runnable, for a processor (the machine's load, or
    a collector's mark worker holding one of the Ps), and the collector's
    cycles and stop-the-world pauses."""
    out = {}
    lat = diff({"x": plain(after, "go_sched_latencies_seconds")}, {"x": plain(before, "go_sched_latencies_seconds")})["x"]
    n = lat["count"]
    if n > 0:
        out["sched_waits"] = int(n)
        out["sched_wait_mean_us"] = round(lat["sum"] / n * 1e6, 1)
        for le, cum in sorted(lat["buckets"].items()):
            if 5e-4 < le < 0.2:
                out[f"sched_waits_over_{le * 1000:.3g}ms"] = round(1 - cum / n, 5)
    gc = diff({"x": plain(after, "go_sched_pauses_total_gc_seconds")}, {"x": plain(before, "go_sched_pauses_total_gc_seconds")})["x"]
    out["gc_pauses"], out["gc_pause_total_ms"] = int(gc["count"]), round(gc["sum"] * 1000, 3)
    return out


def diff(after, before):
    d = {}
    for kind, a in after.items():
        b = before.get(kind, {"buckets": {}, "count": 0.0, "sum": 0.0})
        d[kind] = {"buckets": {le: n - b["buckets"].get(le, 0.0) for le, n in a["buckets"].items()},
                   "count": a["count"] - b["count"], "sum": a["sum"] - b["sum"]}
    return d


def merged(hs):
    m = {"buckets": {}, "count": 0.0, "sum": 0.0}
    for h in hs:
        for le, n in h["buckets"].items():
            m["buckets"][le] = m["buckets"].get(le, 0.0) + n
        m["count"] += h["count"]
        m["sum"] += h["sum"]
    return m


def quantile(h, q):
    """The q-quantile in seconds, linear within its bucket; None if empty."""
    n = h["count"]
    if n <= 0:
        return None
    rank, lower, below = q * n, 0.0, 0.0
    for le in sorted(h["buckets"]):
        cum = h["buckets"][le]
        if cum >= rank:
            if math.isinf(le):
                return lower  # past the last bound: only "over it" is known
            return lower + (le - lower) * (rank - below) / max(cum - below, 1e-12)
        lower, below = le, cum
    return lower


def summary(h):
    n = h["count"]
    les = sorted(h["buckets"])
    top = next((le for le in les if h["buckets"][le] >= n), math.inf) if n else None
    within = h["buckets"].get(0.002, 0.0) / n if n else None
    ms = lambda s: None if s is None else round(s * 1000, 3)
    return {"n": int(n), "p50_ms": ms(quantile(h, 0.5)), "p90_ms": ms(quantile(h, 0.9)), "p99_ms": ms(quantile(h, 0.99)),
            "within_2ms": None if within is None else round(within, 5),
            "max_bucket_ms": None if top is None else ("+Inf" if math.isinf(top) else ms(top)),
            "mean_ms": ms(h["sum"] / n) if n else None,
            "within_ms": {str(round(le * 1000, 3)).removesuffix(".0"): round(h["buckets"][le] / n, 4)
                          for le in les if n and le <= 0.010}}


def wire(summary_path, hops_path):
    """Prints the histogram's INVITE, 1xx and 2xx beside hops.py's pairs
    of the same run: percentiles, and the shares within each bound."""
    with open(summary_path) as f:
        mine = json.loads(f.read().splitlines()[-1])["kinds"]
    with open(hops_path) as f:
        hops = {h["kind"]: h for h in map(json.loads, f) if h.get("type") == "hop"}
    print("in-process / wire (hops.sh):")
    for kind, pair in (("INVITE", "INVITE/INVITE"), ("1xx", "180/INVITE"), ("2xx", "200/INVITE")):
        a, b = mine.get(kind), hops.get(pair)
        if not a or not b:
            continue
        print(f"{kind:<7} n {a['n']}/{b['n']}  p50 {a['p50_ms']}/{b['p50_ms']}  p90 {a['p90_ms']}/{b['p90_ms']}  "
              f"p99 {a['p99_ms']}/{b['p99_ms']}  max <= {a['max_bucket_ms']} / {b['max_ms']} ms")
        print("        share within ms: " + "  ".join(f"{k}: {a['within_ms'].get(k)}/{v}" for k, v in b.get("within_ms", {}).items()))


def main():
    if sys.argv[1] == "--wire":
        wire(sys.argv[2], sys.argv[3])
        return
    before, after = parse(sys.argv[1]), parse(sys.argv[2])
    if not after:
        sys.exit("relay_hist.py: no parley_b2bua_relay_seconds in " + sys.argv[2])
    d = diff(after, before)
    order = ["INVITE", "ACK", "BYE", "other", "1xx", "2xx", "3xx-6xx"]
    rows = {k: summary(d[k]) for k in order if k in d and d[k]["count"] > 0}
    requests = [d[k] for k in order[:4] if k in d]
    rows["requests"] = summary(merged(requests))
    rows["responses"] = summary(merged([d[k] for k in order[4:] if k in d]))
    rows["all"] = summary(merged(d.values()))
    print(f"{'message':<9} {'n':>8} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'<=2ms':>8} {'max <=':>8} {'mean ms':>8}")
    for k, r in rows.items():
        f = lambda v: "-" if v is None else str(v)
        print(f"{k:<9} {r['n']:>8} {f(r['p50_ms']):>8} {f(r['p90_ms']):>8} {f(r['p99_ms']):>8} "
              f"{f(r['within_2ms']):>8} {f(r['max_bucket_ms']):>8} {f(r['mean_ms']):>8}")
    print("(percentiles interpolated within histogram buckets; max is the smallest bucket bound holding all)")
    line = {"type": "b2bua_latency", "kinds": rows}
    w = waits(sys.argv[1], sys.argv[2])
    if w:
        print("runtime: " + ", ".join(f"{k} {v}" for k, v in w.items()))
        line["runtime"] = w
    if len(sys.argv) > 4:
        line["label"], line["rate"] = sys.argv[3], float(sys.argv[4])
    print(json.dumps(line))


if __name__ == "__main__":
    main()
