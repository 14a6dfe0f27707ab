"""Benchmark: trades per second for matching both sides' reports, then netting.

Run: ``.venv/bin/python bench/bench_matching.py [--runs 5] [--sizes 100000 1000000]
[--reference-max 100000]``. Prints one JSON object with, per size (trades; twice as
many reports):

- ``columnar``: :func:`match_columnar` on the reports as int64 columns (grouped by
  member), then :func:`net_columnar` on the accepted columns: ``match``, ``net`` and
  ``match_and_net`` (median and best seconds over ``runs``, trades per second);
- ``objects``: :func:`match_trades` on ``{slot: [TradeReport, ...]}`` (the operator's
  path), then :func:`net` on the ``MatchedTrade`` list;
- ``reference``: :func:`match_trades_reference` (the plain-Python specification) on the
  same reports, up to ``--reference-max`` trades, and the ``speedup`` of both fast paths
  over it (match only, median against median).

Trades as in bench_netting.py: random buyer != seller among N-1 slots, 1..2^40-1 lots,
1..2^48-1 ticks; every trade is accepted. Each variant runs once untimed first (on
small machines, touching fresh memory the first time costs more than the work).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

import numpy as np
from _timing import machine  # bench/ is sys.path[0] for scripts
from bench_netting import random_trades, summary

from zkclear.clearing.matching import match_columnar
from zkclear.clearing.trades import (
    BUY,
    SELL,
    TradeReport,
    match_trades,
    match_trades_reference,
    net,
    net_columnar,
)


def report_columns(cols: tuple[np.ndarray, ...]) -> list[np.ndarray]:
    """Both sides' reports of the trades ``cols`` as columns, grouped by member."""
    b, s, m, q, p = cols
    n = len(b)
    tid, one = np.arange(n), np.ones(n, np.int64)
    order = np.argsort(np.concatenate((b, s)), kind="stable")
    return [np.concatenate(pair)[order] for pair in ((b, s), (tid, tid), (m, m), (one, -one),
                                                     (q, q), (p, p), (s, b))]


def report_objects(cols: tuple[np.ndarray, ...], n_slots: int) -> dict[int, list[TradeReport]]:
    b, s, m, q, p = (c.tolist() for c in cols)
    subs: dict[int, list[TradeReport]] = {i: [] for i in range(1, n_slots)}
    for k in range(len(b)):
        subs[b[k]].append(TradeReport(k, m[k], BUY, q[k], p[k], s[k]))
        subs[s[k]].append(TradeReport(k, m[k], SELL, q[k], p[k], b[k]))
    return subs


def two_steps(match, net_of, n: int, runs: int) -> dict:
    """Time ``match()`` then ``net_of(its result)``, ``runs`` times after one warm-up."""
    net_of(match())
    match_s, net_s = [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        r = match()
        t1 = time.perf_counter()
        net_of(r)
        t2 = time.perf_counter()
        match_s.append(t1 - t0)
        net_s.append(t2 - t1)
    total = [x + y for x, y in zip(match_s, net_s, strict=True)]
    return {"match": summary(n, match_s), "net": summary(n, net_s),
            "match_and_net": summary(n, total)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10**5, 10**6])
    ap.add_argument("--reference-max", type=int, default=10**5,
                    help="largest size the (slow) reference matcher runs at")
    ap.add_argument("--slots", type=int, default=1000)
    ap.add_argument("--instruments", type=int, default=100)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args(argv)
    load = os.getloadavg()
    n_slots, n_inst = a.slots, a.instruments
    kw = {"n_slots": n_slots, "n_instruments": n_inst, "members": range(1, n_slots)}
    results = []
    for n in a.sizes:
        trades = random_trades(n, n_slots, n_inst, a.seed)
        cols = report_columns(trades)
        subs = report_objects(trades, n_slots)
        out: dict = {"trades": n, "reports": 2 * n}
        out["columnar"] = two_steps(
            lambda c=cols: match_columnar(*c, **kw),
            lambda r: net_columnar(*r.columns(), n_slots=n_slots, n_instruments=n_inst),
            n, a.runs)
        out["objects"] = two_steps(lambda s=subs: match_trades(s, **kw),
                                   lambda r: net(r.accepted, n_slots, n_inst), n, a.runs)
        fast = match_trades(subs, **kw)
        assert len(fast.accepted) == n and not fast.rejected
        if n <= a.reference_max:
            ref_runs = max(1, a.runs // 2)
            ref_s = []
            for _ in range(ref_runs):
                t0 = time.perf_counter()
                ref = match_trades_reference(subs, **kw)
                ref_s.append(time.perf_counter() - t0)
            assert ref.accepted == fast.accepted and ref.rejected == fast.rejected
            med = statistics.median(ref_s)
            out["reference"] = {"match": summary(n, ref_s), "speedup": {
                v: round(med / out[v]["match"]["median_s"], 1) for v in ("columnar", "objects")}}
        results.append(out)
    print(json.dumps({"benchmark": "matching", "n_slots": n_slots, "n_instruments": n_inst,
                      "runs": a.runs, "sizes": results, **machine(load)}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
