"""Gas per operation of zkclear's contracts, from real transactions (JSON on stdout).

Run: ``.venv/bin/python bench/bench_contract_gas.py [--sizes 4x2x4,16x4x8]
[--chain embedded|hardhat|both]``.

For each pool size NxMxK (E = 4N event slots) it deploys the whole system with the epoch
circuit's INSECURE development keys (set up on first use: minutes per new size, then
cached in build/), plays the engine's demo story through the chain client -- governance
registers the members, members deposit, commit reports (with a ciphertext of the real
size) and request withdrawals, reporters post prices, the operator closes each epoch and
submits a real epoch proof -- and reports the ``gasUsed`` of every transaction, grouped
by contract function (values in the order sent), plus:

* ``deploy``: deployment gas per contract (Poseidon(1..6) are circomlibjs's bytecode);
* ``poseidon_tx``: a transaction calling each Poseidon contract (21k of it is the base);
* ``verify_proof_tx``: the epoch verifier alone on the epoch-2 proof, so
  ``submitEpoch - verify_proof_tx.execution`` is what the clearing house adds;
* ``submit_epoch``: per epoch, with what it paid out and liquidated;
* ``liveness``: ``closeEpoch`` with 0, 1 and N - 1 member-signed commitments (real
  ciphertext size) and the gas per posted commitment; ``claim``; ``freeze``; ``exit``
  with pending deposits only (no accepted epoch) and against a leaf and the published
  exit data (the last accepted state written into storage as the tests do, until the
  9-signal epoch circuit publishes exit data), with and without a haircut; the
  governance ``execute`` that runs ``exitHouse``;
* ``gas_per_cleared_trade``: everything the chain pays for one epoch of a full pool
  (N - 1 members each depositing once -- ERC-20 ``approve`` + ``deposit`` --, the
  oracle posts that finalise the prices, ``closeEpoch`` posting the N - 1 signed
  commitments and the costlier of the two ``submitEpoch``; medians) divided by
  the trades cleared in the epoch (``--trades``, default 1,000 and 10,000). Trades are
  matched and netted off-chain, so the per-epoch chain cost does not depend on them.

Gas is deterministic and equal on both EVMs (py-evm and hardhat, both Prague); the
script can run on both to show it. Numbers are not asserted anywhere.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from importlib import metadata
from typing import Any

from zkclear.chain import contracts, scenario
from zkclear.chain import node as chain
from zkclear.clearing.params import PoolConfig
from zkclear.prover import _node
from zkclear.verifier.onchain import OnchainVerifier


def parse_sizes(text: str) -> list[PoolConfig]:
    out = []
    for part in text.split(","):
        n, m, k = (int(x) for x in part.lower().split("x"))
        out.append(PoolConfig(n, m, k))
    return out


#: Epochs the story submits (zkclear.chain.scenario.story_end_to_end).
STORY_EPOCHS = 2


def gas_per_trade(cfg: PoolConfig, ops: dict[str, dict[str, Any]], submit: Sequence[int],
                  quorum: int, trades: Sequence[int], close_all: int) -> dict[str, Any]:
    """Chain gas of one epoch of a full pool, and that divided by each trade count."""
    members = cfg.n_slots - 1  # slot 0 is the house

    def med(action: str) -> int:
        return int(ops[action]["median"])

    # Every postPrices the story sent, per epoch: quorum posts each, the last finalises.
    posts = ops["PriceOracle.postPrices"]
    if posts["calls"] != quorum * STORY_EPOCHS:
        raise SystemExit(f"expected {quorum} oracle posts per epoch, the story sent "
                         f"{posts['calls']} in {STORY_EPOCHS} epochs")
    per_epoch = {
        "member_deposits": members * (med("Collateral.approve") + med("ClearingHouse.deposit")),
        "oracle_posts": sum(posts["gas"]) // STORY_EPOCHS,
        "close_epoch_with_commits": close_all,
        "submit_epoch": max(submit),
    }
    total = sum(per_epoch.values())
    return {
        "members": members, "oracle_quorum": quorum,
        "per_epoch_gas": {**per_epoch, "total": total},
        "gas_per_trade": {str(t): round(total / t, 1) for t in trades},
        "note": ("trades are matched and netted off-chain: the chain sees one report "
                 "commitment (posted by the operator in closeEpoch) and at most one deposit "
                 "per member, the oracle's posts, one closeEpoch and one submitEpoch per "
                 "epoch, whatever the number of trades, "
                 "so gas per cleared trade is the per-epoch total divided by the trades "
                 "(1/trades; deposits are optional, so this is an upper bound)"),
    }


def liveness_gas(w3: Any, keys: Any, cfg: PoolConfig) -> dict[str, Any]:
    """Gas of the liveness operations on a fresh pool (every member registered)."""
    from zkclear.clearing.state import Leaf
    from zkclear.privacy.cipher import Ciphertext

    pool = scenario.deploy_pool(w3, keys, cfg)
    cl, act = pool.client, pool.actors
    members = list(range(1, cfg.n_slots))
    cl.govern([cl.register_member_call(s, act.members[s], 77 + s, scenario.ESCROW)
               for s in members], act.signers)
    ct = Ciphertext(tuple(range(1, cfg.n_instruments + 3)), 7).to_bytes()  # real size
    close: dict[str, int] = {}
    for k in (0, 1, len(members)):
        snap = chain.snapshot(w3)
        signed = [cl.sign_commit_as(act.members[s], 1, s, 1_000 + s, ct) for s in members[:k]]
        close[str(k)] = int(cl.close_epoch(signed, sender=act.operator)["gasUsed"])
        chain.revert(w3, snap)
    k = len(members)
    out: dict[str, Any] = {
        "ciphertext_bytes": len(ct),
        "close_epoch_by_commits": close,
        "close_epoch_per_commit": (close[str(k)] - close["0"]) // k,
    }
    snap = chain.snapshot(w3)
    cl.deposit(1_000, sender=act.members[1])
    cl.request_withdrawal(1, sender=act.members[1])
    chain.advance_time(w3, cl.withdrawal_timeout())
    out["freeze"] = int(cl.freeze(sender=act.reporters[0])["gasUsed"])
    out["exit_pending_deposits_only"] = int(
        cl.exit(1, 0, [], 0, 0, 0, [], sender=act.members[1])["gasUsed"])
    out["claim"] = int(cl.claim(sender=act.members[1])["gasUsed"])
    chain.revert(w3, snap)
    for name, house in (("exit_leaf", 100), ("exit_leaf_haircut", -100)):
        snap = chain.snapshot(w3)
        leaves = {s: Leaf(1_000 * s, (5, -5) + (0,) * (cfg.n_instruments - 2), 77 + s, 1,
                          12345, 100 * s) for s in members}
        data = scenario.install_exit_state(pool, leaves, house)
        cl.deposit(500, sender=act.members[1])
        cl.request_withdrawal(1, sender=act.members[1])
        chain.advance_time(w3, cl.withdrawal_timeout())
        cl.freeze(sender=act.reporters[0])
        lf = leaves[1]
        out[name] = int(cl.exit(1, lf.collateral, lf.positions, lf.df, lf.vkh, lf.nonce,
                                data, sender=act.members[1])["gasUsed"])
        if house > 0:  # exitHouse runs inside Governance.execute (its overhead included)
            out["exit_house_governance_execute"] = int(cl.govern(
                [cl.exit_house_call(data)], act.signers)["gasUsed"])
        chain.revert(w3, snap)
    return out


def measure(w3: Any, cfg: PoolConfig, trades: Sequence[int]) -> dict[str, Any]:
    t0 = time.perf_counter()
    keys = scenario.epoch_keys(cfg)
    t_keys = time.perf_counter() - t0
    pool = scenario.deploy_pool(w3, keys, cfg)
    cl = pool.client
    deployer = pool.actors.deployer

    poseidon_tx = {}
    for n, code in contracts.poseidon_code().items():
        c = w3.eth.contract(address=cl.deployment.address(f"Poseidon{n}"), abi=code.abi)
        fn = c.get_function_by_signature(f"poseidon(uint256[{n}])")
        receipt = cl.transact(fn([i + 1 for i in range(n)]), sender=deployer)
        poseidon_tx[str(n)] = int(receipt["gasUsed"])

    cl.gas_log.clear()
    t1 = time.perf_counter()
    submit_gas, proofs = scenario.story_end_to_end(pool)
    t_story = time.perf_counter() - t1

    by_action: dict[str, list[int]] = defaultdict(list)
    for action, gas in cl.gas_log:
        by_action[action].append(gas)
    ops = {a: {"calls": len(g), "gas": g, "median": int(statistics.median(g))}
           for a, g in sorted(by_action.items())}

    abi = contracts.abis()["EpochVerifier"]
    v = OnchainVerifier(w3, w3.eth.contract(address=cl.deployment.address("EpochVerifier"),
                                            abi=abi), "epoch")
    vg = v.gas_of_verify(proofs[1].proof, proofs[1].public, sender=deployer)
    quorum = int(cl.call(cl.oracle.functions.quorum()))
    live = liveness_gas(w3, keys, cfg)
    return {
        "pool": {"N": cfg.n_slots, "M": cfg.n_instruments, "K": cfg.n_scenarios,
                 "E": cfg.max_events},
        "circuit_constraints": keys.compiled.info.n_constraints,
        "deploy": cl.deployment.gas,
        "poseidon_tx": poseidon_tx,
        "operations": ops,
        "submit_epoch": {
            "epoch_1": {"gas_used": submit_gas["submit_epoch_1"],
                        "note": "1 withdrawal refused, none paid, no liquidation"},
            "epoch_2": {"gas_used": submit_gas["submit_epoch_2"],
                        "note": "1 withdrawal credited (claimable), 1 slot liquidated"},
        },
        "verify_proof_tx": {"gas_used": vg.gas_used, "execution": vg.execution,
                            "intrinsic": vg.intrinsic},
        "liveness": live,
        "gas_per_cleared_trade": gas_per_trade(
            cfg, ops, (submit_gas["submit_epoch_1"], submit_gas["submit_epoch_2"]), quorum,
            trades, live["close_epoch_by_commits"][str(cfg.n_slots - 1)]),
        "seconds": {"keys": round(t_keys, 1), "story": round(t_story, 1)},
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="4x2x4", help="comma-separated NxMxK")
    parser.add_argument("--chain", choices=("embedded", "hardhat", "both"), default="embedded")
    parser.add_argument("--trades", default="1000,10000",
                        help="comma-separated trades per epoch for gas_per_cleared_trade")
    args = parser.parse_args(argv)
    trades = [int(t) for t in args.trades.split(",")]
    if not trades or min(trades) < 1:
        parser.error("--trades: positive integers, comma-separated")
    sizes = parse_sizes(args.sizes)
    chains = ("embedded", "hardhat") if args.chain == "both" else (args.chain,)

    results: dict[str, dict[str, Any]] = {}
    for kind in chains:
        results[kind] = {}
        for cfg in sizes:
            label = f"{cfg.n_slots}x{cfg.n_instruments}x{cfg.n_scenarios}"
            print(f"[gas] {kind} {label}", file=sys.stderr, flush=True)
            if kind == "embedded":
                results[kind][label] = measure(chain.embedded_web3(), cfg, trades)
            else:
                with chain.HardhatNode() as node:
                    results[kind][label] = measure(node.web3(), cfg, trades)
    out = {
        "benchmark": "contract_gas",
        "machine": {"python": platform.python_version(),
                    "hardhat": _node.installed_version("hardhat"),
                    "web3": metadata.version("web3"), "py-evm": metadata.version("py-evm"),
                    "solc": _node.installed_version("solc"), "evm_fork": chain.EMBEDDED_FORK},
        "results": results,
    }
    json.dump(out, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
