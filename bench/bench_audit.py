"""Audit time for one member over many epochs: the audit's own work per epoch (check the
published ciphertext against its commitment, decrypt it with the member key, re-derive the
slot with the engine's per-slot function), on a synthetic history.

    .venv/bin/python bench/bench_audit.py [--epochs 1000] [--instruments 2] [--scenarios 4]

Chain reads are not included: ``zkclear audit`` reads the whole history with one
``eth_getLogs`` plus two view calls per epoch (final prices, epoch info), whose cost is the
node's; the figures here are what the auditor's machine spends. One JSON object on stdout.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Sequence
from typing import Any

from bench_prove import machine

from zkclear.audit.core import derive_slot
from zkclear.clearing.params import RiskParams
from zkclear.clearing.report import Report
from zkclear.privacy.cipher import decrypt_report, encrypt_report
from zkclear.privacy.viewkeys import MemberKey


def history(epochs: int, m: int, rng: random.Random) -> list[dict[str, Any]]:
    """A member trading a little every epoch, prices wandering, occasional deposits."""
    key = MemberKey.generate(1)
    prices = [1_000 + 100 * j for j in range(m)]
    out = []
    for e in range(1, epochs + 1):
        prev = list(prices)
        prices = [max(1, p + rng.randrange(-5, 6)) for p in prices]
        delta = tuple(rng.randrange(-3, 4) for _ in range(m))
        rep = Report.new(delta, sum(-d * rng.randrange(-2, 3) for d in delta))
        ct = encrypt_report(key, e, rep)
        out.append({"epoch": e, "key": key, "ct": ct.to_bytes(), "c": ct.commitment(),
                    "prices": tuple(prices), "prev": tuple(prev),
                    "deposit": 10_000 if e % 50 == 1 else 0})
    return out


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=1000)
    parser.add_argument("--instruments", type=int, default=2)
    parser.add_argument("--scenarios", type=int, default=4)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    m, k = args.instruments, args.scenarios
    params = RiskParams.symmetric(m, [500 * (j + 1) for j in range(k // 2)] or [500],
                                  im_factor_bp=15_000, penalty_bp=1_000, position_limit=10**9)
    hist = history(args.epochs, m, random.Random(args.seed))

    collateral, positions = 0, (0,) * m
    t_decrypt = t_derive = 0.0
    liquidations = 0
    t_all = time.perf_counter()
    for h in hist:
        t0 = time.perf_counter()
        rep = decrypt_report(h["key"], h["epoch"], h["ct"], m, slot=1, commitment=h["c"])
        t1 = time.perf_counter()
        f = derive_slot(1, collateral, positions, rep, h["deposit"], 0, h["prices"],
                        h["prev"], params)
        t_derive += time.perf_counter() - t1
        t_decrypt += t1 - t0
        collateral, positions = f.collateral_after, f.positions_after
        liquidations += f.liquidated
    total = time.perf_counter() - t_all
    print(__import__("json").dumps({
        "benchmark": "audit", "date": time.strftime("%Y-%m-%d"), "machine": machine(),
        "epochs": args.epochs, "instruments": m, "scenarios": k,
        "seconds_total": round(total, 3),
        "ms_per_epoch": round(1000 * total / args.epochs, 3),
        "decrypt_and_check_s": round(t_decrypt, 3), "derive_s": round(t_derive, 3),
        "liquidations_seen": liquidations,
        "note": "auditor-side work only; chain reads (one getLogs + 2 view calls per epoch) "
                "excluded",
    }, indent=2))


if __name__ == "__main__":
    main()
