"""Benchmark: ``zkclear stress`` on the issue's size, 10,000 paths x 32 members x 8
instruments x 30 epochs.

Run: ``.venv/bin/python bench/bench_stress.py [--paths 10000] [--members 32]
[--instruments 8] [--epochs 30] [--scenarios 16] [--cover 1.0 3.0] [--check 20]
[--df-floor 0] [--df-share-bp 1000] [--stress-bp 15000] [--skin-cap 100000000]``.
Prints one JSON object:

- ``generate_s``: the seeded GARCH(1,1) / Student-t generator (``clearing/stress/generator.py``);
- ``run_s``: the vectorised run (``clearing/stress/run.py``): variation margin, the
  engine's exact ``portfolio_margins`` once per member and epoch over every path still
  holding the member's positions, the default-fund call, liquidations, the waterfall,
  Cover-2, the house's intake;
- ``report_s``, ``html_s``: the JSON document and the HTML page;
- ``check``: the first ``--check`` paths replayed slot by slot through the engine's
  ``clear_slot`` and pool-wide step (``replay_s``, and ``equal``: they must agree; exit 1
  otherwise);
- ``liquidations``, ``margin_calls``, ``unmet_fund_calls`` (member-epochs a survivor's
  fund call was met only in part), ``house_negative_paths``, ``layers_touched`` (paths
  on which each waterfall layer was used), ``cover2_breach_paths``: what the run found (a
  run with few liquidations margins more rows: the slow case);
- ``cash``: int64 or Python ints; ``peak_rss_mb``; the load average before the run.

The pool (seeded): each member holds random positions of up to 500 lots per instrument,
prices 10^4..10^6 ticks, collateral ``--cover`` x its initial margin (uniform), the house
holds the net; the K scenarios move every instrument together by +-3..24 %; the default
fund's parameters are the options (members start with no contribution: the first epoch's
call takes it from their collateral).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
from collections.abc import Sequence

import numpy as np
from _timing import machine  # bench/ is sys.path[0] for scripts

from zkclear.clearing.margin import portfolio_margins
from zkclear.clearing.params import RiskParams
from zkclear.clearing.stress import (
    LAYERS,
    Garch,
    StressError,
    StressPool,
    check_replay,
    generate_paths,
    report,
    run,
)
from zkclear.clearing.stress.html import render
from zkclear.clearing.stress.inputs import Account


def make_pool(members: int, instruments: int, scenarios: int, cover: tuple[float, float],
              seed: int, fund: dict[str, int]) -> StressPool:
    rng = np.random.default_rng(seed)
    shocks = np.linspace(300, 2400, scenarios // 2).round().astype(int).tolist()
    sym = RiskParams.symmetric(instruments, shocks, penalty_bp=1000)
    params = RiskParams(sym.im_factor_bp, sym.penalty_bp, sym.position_limits, sym.shocks,
                        **fund)
    prices = rng.integers(10_000, 1_000_000, instruments).tolist()
    q = rng.integers(-500, 501, (members, instruments))
    im = portfolio_margins(q, prices, params).initial
    coll = [int(x * rng.uniform(*cover)) for x in im]
    accounts = [Account(collateral=10**9, positions=(-q.sum(axis=0)).tolist())]
    accounts += [Account(collateral=c, positions=row)
                 for c, row in zip(coll, q.tolist(), strict=True)]
    names = ["house"] + [f"member {i}" for i in range(1, members + 1)]
    return StressPool.build(params, prices, accounts, names)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sizes = {"paths": 10_000, "members": 32, "instruments": 8, "epochs": 30, "scenarios": 16,
             "check": 20, "seed": 1}  # --check: paths replayed through clear_slot
    for name, default in sizes.items():
        ap.add_argument(f"--{name}", type=int, default=default)
    ap.add_argument("--cover", type=float, nargs=2, default=(1.0, 3.0),
                    help="collateral / initial margin, uniform between these")
    ap.add_argument("--vol", type=float, default=0.02, help="the generator's volatility")
    fund = {"df_floor": 0, "df_share_bp": 1000, "stress_bp": 15_000, "skin_cap": 10**8}
    for name, default in fund.items():
        ap.add_argument(f"--{name.replace('_', '-')}", type=int, default=default)
    a = ap.parse_args(argv)

    pool = make_pool(a.members, a.instruments, a.scenarios, tuple(a.cover), a.seed,
                     {name: getattr(a, name) for name in fund})
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    paths = generate_paths(pool.prices, a.paths, a.epochs, a.seed, Garch(vol=a.vol))
    t1 = time.perf_counter()
    result = run(pool, paths)
    t2 = time.perf_counter()
    doc = report(result)
    t3 = time.perf_counter()
    page = render(doc)
    t4 = time.perf_counter()
    try:
        checked = check_replay(result, min(a.check, a.paths))
        equal = True
    except StressError:
        checked, equal = 0, False
    t5 = time.perf_counter()
    out = {
        "benchmark": "stress",
        "paths": a.paths, "members": a.members, "instruments": a.instruments,
        "epochs": a.epochs, "scenarios": a.scenarios, "cover": list(a.cover), "vol": a.vol,
        "fund": {name: getattr(a, name) for name in fund},
        "generate_s": round(t1 - t0, 3), "run_s": round(t2 - t1, 3),
        "report_s": round(t3 - t2, 3), "html_s": round(t4 - t3, 3),
        "html_bytes": len(page),
        "path_epochs_per_s": round(a.paths * a.epochs / (t2 - t1)),
        "check": {"paths": checked, "replay_s": round(t5 - t4, 3), "equal": equal},
        "liquidations": int((result.liquidation_epoch > 0).sum()),
        "margin_calls": int(result.calls.sum()),
        "unmet_fund_calls": int(result.unmet_calls.sum()),
        "house_negative_paths": int((result.house.min(axis=1) < 0).sum()),
        "layers_touched": {name: int((result.layers[name] > 0).any(axis=1).sum())
                           for name in LAYERS},
        "cover2_breach_paths": int((~result.cover2_met).any(axis=1).sum()),
        "cash": "int64" if result.exact_int64 else "python ints",
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        **machine(load_before),
    }
    print(json.dumps(out, indent=2))
    return 0 if equal else 1


if __name__ == "__main__":
    raise SystemExit(main())
