"""Benchmark: portfolio margin of many accounts, vectorised (numpy) vs the engine's loop.

Run: ``.venv/bin/python bench/bench_margin.py [--members 1000] [--instruments 100]
[--scenarios 16] [--runs 3] [--engine-runs 1]``. Prints one JSON object:

- ``vectorised``: :func:`zkclear.clearing.margin.portfolio_margins` (maintenance and
  initial margin of every member in one call; positions given as an int64 numpy array),
  median and best of ``--runs``;
- ``vectorised_from_lists``: the same from a list of Python-int rows (includes the
  conversion to numpy, as a caller holding ``Leaf.positions`` would pay it);
- ``engine``: the engine's per-account :func:`zkclear.clearing.epoch.maintenance_margin`
  and :func:`~zkclear.clearing.epoch.initial_margin` in a Python loop over the members;
- ``equal``: whether both gave the same margins for every member (they must);
- ``speedup``: engine median / vectorised median.

Inputs (seeded): positions uniform in ``[-2^47, 2^47]`` lots, prices in ``[1, 2^47]``
ticks, shocks in ``[-2^15, 2^15]`` bp: near the bounds, so the engine's products are
genuine big integers (~2^110) as at the edges of what the circuit allows. Rates are
accounts per second of wall-clock time; the load average is recorded.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
from collections.abc import Sequence
from importlib import metadata
from typing import Any

import numpy as np
from _timing import timed  # bench/ is sys.path[0] for scripts

from zkclear.clearing.epoch import initial_margin, maintenance_margin
from zkclear.clearing.margin import portfolio_margins
from zkclear.clearing.params import RiskParams


def summary(n: int, secs: list[float]) -> dict[str, Any]:
    med = statistics.median(secs)
    return {"median_s": round(med, 5), "best_s": round(min(secs), 5),
            "runs_s": [round(s, 5) for s in secs],
            "accounts_per_s_median": round(n / med), "accounts_per_s_best": round(n / min(secs))}


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--members", type=int, default=1000)
    ap.add_argument("--instruments", type=int, default=100)
    ap.add_argument("--scenarios", type=int, default=16)
    ap.add_argument("--runs", type=int, default=5, help="runs of the vectorised function")
    ap.add_argument("--engine-runs", type=int, default=3, help="runs of the engine's loop")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args(argv)
    n, m, k = a.members, a.instruments, a.scenarios

    rng = np.random.default_rng(a.seed)
    q = rng.integers(-(2**47), 2**47, size=(n, m), endpoint=True, dtype=np.int64)
    prices = rng.integers(1, 2**47, size=m, endpoint=True).tolist()
    shocks = rng.integers(-(2**15), 2**15, size=(k, m), endpoint=True).tolist()
    params = RiskParams(15_000, 1_000, tuple([2**48 - 1] * m), shocks)
    rows = q.tolist()

    def engine() -> tuple[list[int], list[int]]:
        mm = [maintenance_margin(r, prices, params) for r in rows]
        return mm, [initial_margin(x, params) for x in mm]

    load_before = os.getloadavg()
    got = portfolio_margins(q, prices, params)  # warm-up, and the result compared
    vec = timed(lambda: portfolio_margins(q, prices, params), a.runs)
    vec_lists = timed(lambda: portfolio_margins(rows, prices, params), a.runs)
    eng = timed(engine, a.engine_runs)
    expected = engine()
    equal = (got.maintenance, got.initial) == expected
    out = {
        "benchmark": "portfolio_margin",
        "members": n, "instruments": m, "scenarios": k,
        "vectorised": summary(n, vec),
        "vectorised_from_lists": summary(n, vec_lists),
        "engine": summary(n, eng),
        "speedup": round(statistics.median(eng) / statistics.median(vec), 1),
        "equal": equal,
        "members_with_margin": sum(1 for x in got.maintenance if x),
        "load_avg": [round(x, 2) for x in load_before],
        "python": platform.python_version(), "numpy": metadata.version("numpy"),
        "machine": platform.machine(), "cpus": os.cpu_count(),
    }
    print(json.dumps(out, indent=2))
    return 0 if equal else 1


if __name__ == "__main__":
    raise SystemExit(main())
