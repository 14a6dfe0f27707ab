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
* ``full_epoch``: one epoch of a full pool sent and measured at the size: the N - 1
  members each deposit once under a standing allowance (the one-off ``approve`` apart),
  the quorum's three price posts (``oracle_posts``) and, from the same state, the same
  three signed by the reporters and submitted in one ``postSignedMarks``
  (``oracle_signed_batch``), ``closeEpoch`` posting the N - 1 signed commitments;
  the deposits both ways, from the same state: each member's own ``deposit`` transaction
  (``direct``), and signed deposits the operator posts with the commitments in
  ``closeEpoch`` (``batched``, docs/protocol.md "Deposits");
* ``gas_per_cleared_trade`` (per size, and for every size at the top level): ``full_epoch``
  (batched deposits and the signed oracle batch; the direct path, members' deposit and
  reporters' post transactions, beside it) plus the costlier ``submitEpoch``,
  divided by the trades cleared in the epoch
  (``--trades``, default 1,000 and 10,000). Trades are matched and netted off-chain, so
  the per-epoch chain cost does not depend on them. Sizes in ``--unproven`` (default
  32x2x4) are measured without their circuit (a stand-in verifier); their submitEpoch is
  the proven size's plus ``EXIT_WORD_GAS`` per extra exit-data word.

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


#: submitEpoch's only per-slot cost outside payouts and events: each exit-data word (N + 1
#: of them) is 32 calldata bytes (~512 gas), 32 bytes of the ExitDataPublished log (256),
#: the canonical check, a Horner step and its share of two keccaks (~150): an estimate,
#: for sizes whose circuit is not built here.
EXIT_WORD_GAS = 920


def gas_per_trade(full: dict[str, Any], submit: int, submit_how: str,
                  trades: Sequence[int]) -> dict[str, Any]:
    """Chain gas of one epoch of a full pool (``full_epoch_gas``) plus submitEpoch, and
    that divided by each trade count: with the deposits posted in closeEpoch and the
    oracle's quorum as one signed batch (the headline), and with each member's own deposit
    transaction and each reporter's own post (``direct_path``)."""
    members = full["members"]

    def path(deposits: int, close: int, oracle: int) -> dict[str, Any]:
        per_epoch = {"member_deposits": deposits, "oracle_posts": oracle,
                     "close_epoch": close, "submit_epoch": submit}
        total = sum(per_epoch.values())
        return {"per_epoch_gas": {**per_epoch, "total": total},
                "per_member_epoch": round((deposits + close) / members),
                "gas_per_trade": {str(t): round(total / t, 1) for t in trades}}

    direct, batched = full["direct"], full["batched"]
    return {
        "members": members, "oracle_quorum": len(full["oracle_posts"]),
        **path(0, batched["close_epoch_with_deposits_and_commits"], full["oracle_signed_batch"]),
        "direct_path": path(direct["deposits"]["all"], direct["close_epoch_with_commits"],
                            sum(full["oracle_posts"])),
        "one_off_per_member": {"standing_approve": full["standing_approve_once"]},
        "submit_epoch_is": submit_how,
        "note": ("every transaction of the epoch counted: each member's deposit (under a "
                 "standing allowance, approved once) -- posted by the operator in "
                 "closeEpoch with its signed report commitment, or (direct_path) its own "
                 "deposit transaction --, the oracle's quorum (signed posts submitted "
                 "in one postSignedMarks; direct_path: each reporter's post), closeEpoch, "
                 "submitEpoch; trades are matched and netted off-chain, so the per-epoch "
                 "total does not depend on them and gas per trade falls as 1/trades "
                 "(deposits are optional: an upper bound)"),
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


#: A standing allowance: approved once per member, never spent down (TestCollateral, like
#: most ERC-20s, does not write an infinite allowance back).
STANDING = 2**256 - 1


def full_epoch_gas(w3: Any, cfg: PoolConfig) -> dict[str, Any]:
    """One epoch of a full pool, every transaction sent and measured at this size: the
    N - 1 members each deposit once (under a standing allowance, approved once per member
    beforehand -- that one-off approve is reported apart), the quorum's price posts (each
    reporter's, and from the same state all three as one signed batch), and
    closeEpoch posting the N - 1 signed commitments (real ciphertext size). The deposits
    both ways from the same state: ``direct``, each member's deposit transaction, then
    closeEpoch with the commitments; ``batched``, closeEpoch posting the members' signed
    deposits and the commitments (per deposit: the difference per member). A stand-in
    verifier (zkclear.chain.scenario.deploy_unproven) spares the circuit of this size, so
    submitEpoch is not part of it (see ``gas_per_cleared_trade``)."""
    from zkclear.clearing.scenario import demo_plans
    from zkclear.privacy.cipher import Ciphertext

    prices = demo_plans(cfg)[0].prices
    cl, act, _ = scenario.deploy_unproven(
        w3, cfg, scenario.demo_params(cfg.n_instruments, cfg.n_scenarios), prices)
    members = list(range(1, cfg.n_slots))
    cl.govern([cl.register_member_call(s, act.members[s], 77 + s, scenario.ESCROW)
               for s in members], act.signers)
    approve = []
    for s in members:
        cl.mint(act.members[s], scenario.MINT, sender=act.deployer)
        approve.append(int(cl.transact(cl.token.functions.approve(cl.house.address, STANDING),
                                       sender=act.members[s])["gasUsed"]))
    # The quorum both ways from the same state: three direct posts, then (restored) the
    # same three posts signed by the reporters and submitted in one postSignedMarks.
    snap = chain.snapshot(w3)
    posts = [int(cl.post_prices(1, prices, sender=r)["gasUsed"]) for r in act.reporters[:3]]
    chain.revert(w3, snap)
    signed_posts = [cl.sign_post_as(r, 1, prices) for r in act.reporters[:3]]
    batch = int(cl.post_signed_marks(1, signed_posts, sender=act.operator)["gasUsed"])
    if cl.mark_hash(1) == 0:
        raise RuntimeError("full_epoch_gas: the signed batch did not finalise epoch 1")
    ct = Ciphertext(tuple(range(1, cfg.n_instruments + 3)), 7).to_bytes()
    signed = [cl.sign_commit_as(act.members[s], 1, s, 1_000 + s, ct) for s in members]
    out: dict[str, Any] = {"members": len(members),
                           "standing_approve_once": int(statistics.median(approve)),
                           "oracle_posts": posts, "oracle_signed_batch": batch,
                           "first_deposits": _deposit_paths(w3, cl, act, members, signed)}
    if chain.is_embedded(w3):
        # No snapshot can be restored past a storage write: the batched close of epoch 1
        # first, then the direct deposits of epoch 2 (parity 0's records), whose close
        # with the commits costs what epoch 1's did.
        _as_after_earlier_deposits(w3, cl, act, members)
        n = len(members)
        intents = [cl.sign_deposit_as(act.members[s], 1, s, 1_000 + s) for s in members]
        both = int(_close_batched(cl, act, signed, intents)["gasUsed"])
        deposits = [int(cl.deposit(1_000 + s, sender=act.members[s], approve=False)["gasUsed"])
                    for s in members]
        close = out["first_deposits"]["direct"]["close_epoch_with_commits"]
        out |= {"direct": {"deposits": {"each_median": int(statistics.median(deposits)),
                                        "all": sum(deposits)},
                           "close_epoch_with_commits": close,
                           "close_epoch_per_member": close // n},
                "batched": {"close_epoch_with_deposits_and_commits": both,
                            "close_epoch_per_member": both // n,
                            "per_posted_deposit": (both - close) // n},
                "steady_state": ("each slot's two deposit records already written (by "
                                 "deposits two epochs back: set in storage) and the house "
                                 "holding tokens, as in any epoch after a pool's first two; "
                                 "the direct deposits are epoch 2's")}
    else:
        out |= out["first_deposits"]
    return out


def _close_batched(cl: Any, act: Any, signed: Sequence[Any], intents: Sequence[Any]) -> Any:
    receipt = cl.close_epoch(signed, sender=act.operator, deposits=intents)
    if cl.skipped_deposits(receipt) or cl.epoch_info(1)["nEvents"] != len(signed) + 2 * len(
            intents):
        raise RuntimeError("full_epoch_gas: closeEpoch did not take every posted deposit")
    return receipt


#: EpochLog's storage slot of ``_depositRecords`` (slot => DepositRecord[2]).
DEPOSIT_RECORDS_SLOT = 3


def _as_after_earlier_deposits(w3: Any, cl: Any, act: Any, members: Sequence[int]) -> None:
    """Storage as if every member had deposited in earlier epochs of both parities (each
    record an old epoch's: epoch 2^64 - 2 + parity, amount 1) and the house held tokens:
    the steady state of a pool's record writes and token balance writes (embedded chain)."""
    from eth_abi import encode as abi_encode
    from eth_utils import keccak

    cl.mint(cl.house.address, 1, sender=act.deployer)
    for s in members:
        base = int.from_bytes(keccak(abi_encode(["uint256", "uint256"],
                                                [s, DEPOSIT_RECORDS_SLOT])), "big")
        for parity in (0, 1):
            epoch = 2**64 - 2 + parity
            chain.set_storage(w3, cl.house.address, base + parity, epoch | 1 << 64)
            if cl.deposit_of(epoch, s) != 1:
                raise RuntimeError("bench: ClearingHouse's storage layout moved "
                                   "(DEPOSIT_RECORDS_SLOT)")


def _deposit_paths(w3: Any, cl: Any, act: Any, members: Sequence[int],
                   signed: Sequence[Any]) -> dict[str, Any]:
    """Epoch 1's deposits and close both ways from the same state (restored after)."""
    n = len(members)
    snap = chain.snapshot(w3)
    deposits = [int(cl.deposit(1_000 + s, sender=act.members[s], approve=False)["gasUsed"])
                for s in members]
    close = int(cl.close_epoch(signed, sender=act.operator)["gasUsed"])
    chain.revert(w3, snap)
    snap = chain.snapshot(w3)
    intents = [cl.sign_deposit_as(act.members[s], 1, s, 1_000 + s) for s in members]
    both = int(_close_batched(cl, act, signed, intents)["gasUsed"])
    chain.revert(w3, snap)
    return {"direct": {"deposits": {"each_median": int(statistics.median(deposits)),
                                    "all": sum(deposits)},
                       "close_epoch_with_commits": close, "close_epoch_per_member": close // n},
            "batched": {"close_epoch_with_deposits_and_commits": both,
                        "close_epoch_per_member": both // n,
                        "per_posted_deposit": (both - close) // n}}


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
    # The exit state is written into storage directly: the embedded chain only.
    live = (liveness_gas(w3, keys, cfg) if chain.is_embedded(w3) else
            {"skipped": "install_exit_state writes storage: embedded chain only"})
    full = full_epoch_gas(w3, cfg)
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
        "full_epoch": full,
        "gas_per_cleared_trade": gas_per_trade(
            full, max(submit_gas["submit_epoch_1"], submit_gas["submit_epoch_2"]),
            "measured: the costlier of the story's two epochs (real proofs)", trades),
        "seconds": {"keys": round(t_keys, 1), "story": round(t_story, 1)},
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="4x2x4", help="comma-separated NxMxK")
    parser.add_argument("--chain", choices=("embedded", "hardhat", "both"), default="embedded")
    parser.add_argument("--unproven", default="32x2x4",
                        help="comma-separated NxMxK measured without their circuit (a "
                             "stand-in verifier): submitEpoch from the proven size of the "
                             "same M, K plus EXIT_WORD_GAS per extra exit-data word; '' for none")
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
                # eth-tester's 10 accounts hold a pool of N <= 8 (N + 1 are needed)
                w3 = chain.embedded_web3(cfg.n_slots + 7 if cfg.n_slots > 8 else None)
                results[kind][label] = measure(w3, cfg, trades)
            else:
                with chain.HardhatNode() as node:
                    results[kind][label] = measure(node.web3(), cfg, trades)
    unproven = parse_sizes(args.unproven) if args.unproven else []
    summary: dict[str, Any] = {}
    for kind in chains:
        for label, r in results[kind].items():
            summary.setdefault(label, r["gas_per_cleared_trade"])
        for cfg in unproven:
            label = f"{cfg.n_slots}x{cfg.n_instruments}x{cfg.n_scenarios}"
            base = [(k, r) for k, r in results[kind].items()
                    if r["pool"]["M"] == cfg.n_instruments and r["pool"]["K"] == cfg.n_scenarios]
            if not base:
                parser.error(f"--unproven {label}: no proven size with M, K = "
                             f"{cfg.n_instruments}, {cfg.n_scenarios} in --sizes")
            src, r = base[0]
            print(f"[gas] {kind} {label} (unproven)", file=sys.stderr, flush=True)
            full = full_epoch_gas(chain.embedded_web3(cfg.n_slots + 7), cfg)
            extra = cfg.n_slots - r["pool"]["N"]
            submit = r["gas_per_cleared_trade"]["per_epoch_gas"]["submit_epoch"]
            results[kind][label] = {"full_epoch": full, "gas_per_cleared_trade": gas_per_trade(
                full, submit + extra * EXIT_WORD_GAS,
                f"estimated: {src}'s measured {submit} + {extra} exit-data words x "
                f"{EXIT_WORD_GAS}", trades)}
            summary.setdefault(label, results[kind][label]["gas_per_cleared_trade"])
    out = {
        "benchmark": "contract_gas",
        "gas_per_cleared_trade": {label: {"per_trade": g["gas_per_trade"],
                                          "per_epoch": g["per_epoch_gas"]["total"],
                                          "per_member_epoch": g["per_member_epoch"],
                                          "direct_path": {
                                              "per_trade": g["direct_path"]["gas_per_trade"],
                                              "per_epoch": g["direct_path"]["per_epoch_gas"][
                                                  "total"],
                                              "per_member_epoch": g["direct_path"][
                                                  "per_member_epoch"]},
                                          "submit_epoch_is": g["submit_epoch_is"]}
                                  for label, g in summary.items()},
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
