"""Where ``submitEpoch``'s gas goes, traced opcode by opcode (JSON on stdout).

Run: ``.venv/bin/python bench/bench_submit_gas.py [--size 4x2x4]``.

Deploys the pool with the size's development keys on the embedded chain (py-evm), plays
the demo story with real epoch proofs (``zkclear.chain.scenario.story_end_to_end``) and
traces each mined ``submitEpoch`` and ``closeEpoch`` (bench/_gastrace.py): gas per
contract (the verifier and its pairing precompile, the oracle, the auction, ExitLeaves,
the token) and per opcode kind (storage reads and writes, logs, hashing, the calls' own
overhead), plus the intrinsic part (21,000 base and calldata, less the refund).
``outside_verifier`` is what the clearing house adds to the verifier's own frame: the
figure issue #17 wants within 40k. Gas is deterministic; nothing here is asserted.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from _gastrace import breakdown, trace_gas
from eth_utils import function_abi_to_4byte_selector

from zkclear.chain import node as chain
from zkclear.chain import scenario
from zkclear.clearing.params import PoolConfig

WATCHED = ("submitEpoch", "closeEpoch")


def selectors(pool: Any) -> dict[bytes, str]:
    """The watched functions' selectors, from the house's ABI."""
    return {bytes(function_abi_to_4byte_selector(fn)): fn["name"]
            for fn in pool.client.house.abi
            if fn.get("type") == "function" and fn["name"] in WATCHED}


def traced(pool: Any, play: Any) -> dict[str, Any]:
    """Run ``play()`` with the watched transactions of ``pool``'s client traced; their
    breakdowns by ``<function>_<n>`` (n counts the mined ones, in order)."""
    w3, cl = pool.w3, pool.client
    names = {addr.lower(): name for name, addr in cl.deployment.addresses.items()}
    mined: list[tuple[Any, int]] = []  # (trace, gasUsed) of each mined watched transaction
    transact = cl.transact

    def send(fn: Any, **kw: Any) -> Any:
        # estimate_gas and eth_call run the message too; the mined execution is the
        # last one traced when the receipt is back.
        receipt = transact(fn, **kw)
        if traces and traces[-1].selector == fn.fn_name:
            mined.append((traces.pop(), int(receipt["gasUsed"])))
        return receipt

    cl.transact = send
    try:
        with trace_gas(w3, names, selectors(pool)) as traces:
            play()
    finally:
        del cl.transact
    out: dict[str, Any] = {}
    count: dict[str, int] = {}
    for t, g in mined:
        count[t.selector] = count.get(t.selector, 0) + 1
        b = breakdown(t, g, top=40 if t.selector == "submitEpoch" else 15)
        if t.selector == "submitEpoch":
            verifier = b["by_contract"].get("EpochVerifier", 0) + sum(
                v for k, v in b["by_contract"].items() if k in ("ecAdd", "ecMul", "ecPairing"))
            b["verifier_frame"] = verifier
            b["outside_verifier"] = g - verifier
        out[f"{t.selector}_{count[t.selector]}"] = b
    return out


def story(cfg: PoolConfig) -> dict[str, Any]:
    """The demo story's two epochs: the first of a pool's life (fresh storage words), the
    second with a granted withdrawal and a liquidation (a credit, the house's lot)."""
    pool = scenario.deploy_pool(chain.embedded_web3(), scenario.epoch_keys(cfg), cfg)
    return traced(pool, lambda: scenario.story_end_to_end(pool))


def steady() -> dict[str, Any]:
    """Three quiet epochs of a drill pool (N=4): deposits and a trade, then a trade per
    epoch, no withdrawal, no liquidation. Epoch 3's submitEpoch is the steady state: every
    word it writes was written before."""
    from zkclear.chain.pool import EpochOrders
    from zkclear.clearing.trades import TradeReport
    from zkclear.drills.base import DRILL_PRICES, drill_pool

    pool = drill_pool({1: "A", 2: "B", 3: "C"})
    p0 = DRILL_PRICES[0]

    def trade(tid: str, size: int) -> dict[int, list[Any]]:
        return {1: [TradeReport(tid, 0, 1, size, p0, 2)], 2: [TradeReport(tid, 0, -1, size, p0, 1)]}

    def play() -> None:
        pool.play_epoch(EpochOrders(DRILL_PRICES, trade("t1", 10),
                                    deposits={0: 50_000, 1: 100_000, 2: 100_000, 3: 100_000}))
        pool.play_epoch(EpochOrders(DRILL_PRICES, trade("t2", 5)))
        pool.play_epoch(EpochOrders(DRILL_PRICES, trade("t3", 3)))
    return traced(pool, play)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="4x2x4", help="NxMxK")
    args = parser.parse_args(argv)
    n, m, k = (int(x) for x in args.size.lower().split("x"))
    cfg = PoolConfig(n, m, k)
    json.dump({"benchmark": "submit_gas", "size": args.size, "results": story(cfg),
               "steady": steady()}, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
