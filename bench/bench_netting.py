"""Benchmark: trades per second for netting (clearing/trades.py).

Run: ``.venv/bin/python bench/bench_netting.py [--runs 5] [--slots 1000] [--instruments 100]``.
Prints one JSON object:

- ``columnar``: :func:`net_columnar` on already-matched trades held in numpy arrays, at
  10^4, 10^5 and 10^6 trades (median and best over ``runs``), result as Python ints;
- ``match_and_net``: :func:`match_trades` on both members' reports of 10^5 trades
  (TradeReport objects, 2 x 10^5 reports) followed by :func:`net`;
- ``trade_cash_s``: :meth:`NettingResult.trade_cash` (settlement-relative ``tradeCash``
  from the netted result, N x M Python-int products; independent of the trade count).
- ``rules``: :func:`apply_rules` (price band and rule R, then the netting) on the 10^5
  matched trades priced within 1 % of settlement, against :func:`net` alone: ``ample``
  (every slot's equity is large: one round), ``zero_equity`` (every slot's equity is 0:
  each slot with a net loss is refused, and so on, over several rounds).

Trades: random buyer != seller among slots 1..N-1, random instrument, sizes
1..2^40 - 1 lots (so netted positions stay inside 2^48), prices 1..2^48 - 1 ticks (every
cash limb is exercised). Rates are trades per second of wall-clock time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from importlib import metadata

import numpy as np

from zkclear.clearing.trades import (
    BUY,
    SELL,
    MatchedTrade,
    TradeReport,
    apply_rules,
    match_trades,
    net,
    net_columnar,
)

COLUMNAR_SIZES = (10**4, 10**5, 10**6)
MATCH_SIZE = 10**5


from _timing import timed  # noqa: E402  (bench/ is sys.path[0] for scripts)


def random_trades(n: int, n_slots: int, n_instruments: int, seed: int):
    rng = np.random.default_rng(seed)
    buyer = rng.integers(1, n_slots, n)
    # a seller uniformly among the other trading slots
    seller = (buyer - 1 + rng.integers(1, n_slots - 1, n)) % (n_slots - 1) + 1
    assert not (buyer == seller).any()
    instrument = rng.integers(0, n_instruments, n)
    size = rng.integers(1, 2**40, n)
    price = rng.integers(1, 2**48, n)
    return buyer, seller, instrument, size, price


def summary(n: int, secs: list[float]) -> dict:
    med = statistics.median(secs)
    return {
        "trades": n,
        "median_s": round(med, 6),
        "best_s": round(min(secs), 6),
        "trades_per_s_median": round(n / med),
        "trades_per_s_best": round(n / min(secs)),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--slots", type=int, default=1000)
    ap.add_argument("--instruments", type=int, default=100)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args(argv)
    n_slots, n_inst = a.slots, a.instruments

    columnar = []
    for n in COLUMNAR_SIZES:
        cols = random_trades(n, n_slots, n_inst, a.seed)
        net_columnar(*cols, n_slots=n_slots, n_instruments=n_inst)  # warm-up
        secs = timed(lambda c=cols: net_columnar(*c, n_slots=n_slots, n_instruments=n_inst),
                     a.runs)
        columnar.append(summary(n, secs))
    result = net_columnar(*cols, n_slots=n_slots, n_instruments=n_inst)
    prices = np.random.default_rng(a.seed).integers(1, 2**48, n_inst).tolist()
    trade_cash_s = statistics.median(timed(lambda: result.trade_cash(prices), a.runs))

    b, s, m, q, p = (c.tolist() for c in random_trades(MATCH_SIZE, n_slots, n_inst, a.seed))
    subs: dict[int, list[TradeReport]] = {i: [] for i in range(1, n_slots)}
    for k in range(MATCH_SIZE):
        subs[b[k]].append(TradeReport(k, m[k], BUY, q[k], p[k], s[k]))
        subs[s[k]].append(TradeReport(k, m[k], SELL, q[k], p[k], b[k]))
    members = range(1, n_slots)
    match_s, net_s = [], []
    for _ in range(max(1, a.runs // 2)):
        t0 = time.perf_counter()
        r = match_trades(subs, n_slots=n_slots, n_instruments=n_inst, members=members)
        t1 = time.perf_counter()
        net(r.accepted, n_slots, n_inst)
        t2 = time.perf_counter()
        assert len(r.accepted) == MATCH_SIZE and not r.rejected
        match_s.append(t1 - t0)
        net_s.append(t2 - t1)
    total = [x + y for x, y in zip(match_s, net_s, strict=True)]
    match_and_net = summary(MATCH_SIZE, total) | {
        "reports": 2 * MATCH_SIZE,
        "match_median_s": round(statistics.median(match_s), 6),
        "net_median_s": round(statistics.median(net_s), 6),
    }

    settle = np.random.default_rng(a.seed + 1).integers(1_000, 2**47, n_inst).tolist()
    rng = np.random.default_rng(a.seed + 2)
    near = [settle[m[k]] + int(rng.integers(-settle[m[k]] // 100, settle[m[k]] // 100 + 1))
            for k in range(MATCH_SIZE)]
    matched = [MatchedTrade(k, m[k], b[k], s[k], q[k], near[k]) for k in range(MATCH_SIZE)]
    rules = {"trades": MATCH_SIZE,
             "net_only_s": round(statistics.median(
                 timed(lambda: net(matched, n_slots, n_inst), a.runs)), 6)}
    for name, e0 in (("ample", 2**110), ("zero_equity", 0)):
        equity = dict.fromkeys(range(n_slots), e0)
        res = apply_rules(matched, settle, n_slots=n_slots, n_instruments=n_inst,
                          band_bp=2_000, equity=equity)
        secs = timed(lambda eq=equity: apply_rules(matched, settle, n_slots=n_slots,
                                                   n_instruments=n_inst, band_bp=2_000,
                                                   equity=eq), a.runs)
        rules[name] = {"median_s": round(statistics.median(secs), 6), "rounds": res.rounds,
                       "slots_refused": len(res.equity_rejected),
                       "trades_kept": len(res.match.accepted)}

    print(json.dumps({
        "benchmark": "netting",
        "n_slots": n_slots,
        "n_instruments": n_inst,
        "runs": a.runs,
        "columnar": columnar,
        "match_and_net": match_and_net,
        "trade_cash_s": round(trade_cash_s, 6),
        "rules": rules,
        "python": sys.version.split()[0],
        "numpy": metadata.version("numpy"),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
    }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
