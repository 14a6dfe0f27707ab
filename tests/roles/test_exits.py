"""Exits without the operator (issue 12): the liveness drills, the exit tool
(:mod:`zkclear.roles.exit`, ``zkclear member exit``) and its refusals, and a property:
the exits of a random small pool pay out exactly what the contract holds.

Everything runs on the embedded EVM with real epoch proofs (INSECURE development keys).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zkclear import drills
from zkclear.chain import node as chain
from zkclear.chain.client import ContractError
from zkclear.chain.pool import EpochOrders
from zkclear.clearing.trades import TradeReport
from zkclear.cli.main import main
from zkclear.drills.base import DRILL_PRICES, drill_pool
from zkclear.privacy.keyfile import X25519KeyPair
from zkclear.privacy.viewkeys import MemberKey
from zkclear.roles.exit import ExitError, exit_slot, plan_exit

P0, P1 = DRILL_PRICES


# --- the drills ---------------------------------------------------------------------------


@pytest.mark.heavy
@pytest.mark.parametrize("name", ["operator-vanishes", "removed-member-exits",
                                  "refused-payout"])
def test_liveness_drill_passes(name: str) -> None:
    v = drills.run(name)
    assert v.passed, v.summary + "\n" + "\n".join(v.story)
    assert v.ledger.honest_loss() == 0
    if name == "operator-vanishes":
        assert v.facts["paid"] > 0 and v.ledger.honest == {"house", "Bank A", "Bank B",
                                                           "Fund C (leveraged)"}


# --- the exit tool ------------------------------------------------------------------------


def _trade(tid: str, m: int, size: int, price: int, buyer: int,
           seller: int) -> dict[int, list[TradeReport]]:
    return {buyer: [TradeReport(tid, m, 1, size, price, seller)],
            seller: [TradeReport(tid, m, -1, size, price, buyer)]}


COMPLIANCE = X25519KeyPair.generate("compliance")


@pytest.fixture(scope="module")
def accepted() -> Any:
    """Members 1..3, one accepted epoch (positions), slot 2's request in the open epoch."""
    pool = drill_pool({1: "A", 2: "B", 3: "C"}, COMPLIANCE)
    pool.play_epoch(EpochOrders(DRILL_PRICES, _trade("t", 0, 10, P0, 1, 2),
                                deposits={0: 50_000, 1: 20_000, 2: 30_000, 3: 1_000}))
    pool.act(EpochOrders(DRILL_PRICES, deposits={3: 500}, withdrawals={2: 1}))
    return pool


@pytest.fixture
def pool(accepted: Any) -> Iterator[Any]:
    snap = chain.snapshot(accepted.w3)
    yield accepted
    chain.revert(accepted.w3, snap)


def test_exit_refusals(pool: Any) -> None:
    cl, m = pool.client, pool.members
    with pytest.raises(ExitError, match="wrong view key"):
        exit_slot(cl, sender=m[1].account, key=MemberKey.generate(1))
    with pytest.raises(ExitError, match="slot 2's, not slot 1's"):
        exit_slot(cl, 1, sender=m[1].account, key=m[2].key)
    with pytest.raises(ExitError, match="compliance key does not open"):
        exit_slot(cl, 1, sender=m[1].account,
                  compliance_key=X25519KeyPair.generate("compliance"))
    with pytest.raises(ExitError, match="not a member slot"):
        exit_slot(cl, 0, sender=m[1].account, compliance_key=COMPLIANCE)
    with pytest.raises(ExitError, match=r"cannot be frozen yet: FreezeTooEarly"):
        exit_slot(cl, sender=m[1].account, key=m[1].key)
    chain.advance_time(pool.w3, cl.withdrawal_timeout())
    with pytest.raises(ExitError, match="not frozen"):
        exit_slot(cl, sender=m[1].account, key=m[1].key, freeze=False)
    assert not cl.frozen()

    res = exit_slot(cl, sender=m[1].account, key=m[1].key)  # freezes first
    assert res.froze and cl.frozen() and res.plan.blinded and res.plan.epoch == 1
    assert res.credited == pool.state.leaves[1].collateral and res.claimed == res.credited
    with pytest.raises(ExitError, match="slot 1 has already exited"):
        exit_slot(cl, sender=m[1].account, key=m[1].key)
    with pytest.raises(ContractError) as ei:
        cl.exit(*res.plan.exit_args(), sender=m[1].account)
    assert ei.value.root.name == "AlreadyExited"

    # Compliance exits slot 3 from another account: credited to slot 3, claimed by it.
    res3 = exit_slot(cl, 3, sender=pool.actors.reporters[0], compliance_key=COMPLIANCE)
    assert res3.claimed is None and res3.plan.pending_deposits == 500
    assert cl.claimable(m[3].account) == pool.state.leaves[3].collateral + 500


def test_the_planned_leaf_is_the_published_one(pool: Any) -> None:
    plan = plan_exit(pool.client, key=pool.members[2].key)
    lf = pool.state.leaves[2]
    assert (plan.leaf.collateral, plan.leaf.positions, plan.leaf.nonce) == (
        lf.collateral, lf.positions, lf.nonce)
    assert plan.exit_data[2] == lf.hash() and not plan.haircut


def test_posted_deposits_are_proven_accepted_and_credited_by_an_exit() -> None:
    """The pool driver's epoch with deposits the members signed and the operator posted
    in closeEpoch is proven and accepted; after a freeze, an exit credits the slot's leaf
    plus its posted and direct deposits of the unaccepted epochs, exactly."""
    pool = drill_pool({1: "A", 2: "B"}, COMPLIANCE)
    cl, m = pool.client, pool.members
    out = pool.play_epoch(EpochOrders(DRILL_PRICES, _trade("t", 0, 10, P0, 1, 2),
                                      deposits={0: 50_000, 1: 20_000},
                                      posted_deposits={2: 30_000}))
    assert out.accepted.epoch == 1 and cl.state_root() == pool.state.root()
    assert (cl.deposit_of(1, 1), cl.deposit_of(1, 2)) == (20_000, 30_000)
    assert cl.total_collateral() == pool.state.total_collateral() == 100_000
    assert pool.state.leaves[2].positions[0] == -10  # slot 2's trade went through
    # epoch 2 (closed, never accepted): a posted deposit; epoch 3: a direct one
    pool.act(EpochOrders(DRILL_PRICES, withdrawals={1: 1}, posted_deposits={2: 500}))
    assert pool.close() == 2 and cl.deposit_of(2, 2) == 500 and pool.deposits == {}
    cl.deposit(7, sender=m[2].account)
    chain.advance_time(pool.w3, cl.withdrawal_timeout())
    res = exit_slot(cl, sender=m[2].account, key=m[2].key)
    assert res.froze and res.plan.leaf is not None and res.plan.pending_deposits == 507
    assert res.credited == pool.state.leaves[2].collateral + pool.state.leaves[2].df + 507


def test_exit_before_any_accepted_epoch_pays_pending_deposits() -> None:
    pool = drill_pool({1: "A", 2: "B"})
    cl, m = pool.client, pool.members
    cl.deposit(700, sender=m[1].account)
    cl.request_withdrawal(5, sender=m[2].account)
    chain.advance_time(pool.w3, cl.withdrawal_timeout())
    res = exit_slot(cl, sender=m[1].account, key=m[1].key)
    assert res.plan.leaf is None and res.plan.epoch == 0
    assert res.credited == 700 and res.claimed == 700
    assert exit_slot(cl, sender=m[2].account, key=m[2].key).credited == 0


def test_cli_exit_needs_a_slot_with_the_compliance_key(
        tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "d.json").write_text("{}")  # the parser refuses a file that does not exist
    (tmp_path / "c.json").write_text("{}")
    assert main(["member", "exit", "--rpc-url", "http://127.0.0.1:1", "--deployment",
                 str(tmp_path / "d.json"), "--compliance-key", str(tmp_path / "c.json"),
                 "--json"]) == 2
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["ok"] is False and out["error"] == "--compliance-key needs --slot"


def test_member_exit_cli_on_a_node(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """``zkclear member exit`` as a user runs it, on hardhat: a member with its view-key
    file (freezing the pool first), compliance for another slot from a third account."""
    with chain.HardhatNode() as node:
        pool = drill_pool({1: "A", 2: "B"}, COMPLIANCE, node.web3())
        pool.play_epoch(EpochOrders(DRILL_PRICES, _trade("t", 1, 7, P1, 2, 1),
                                    deposits={0: 9_000, 1: 4_000, 2: 6_000}))
        pool.act(EpochOrders(DRILL_PRICES, deposits={2: 300}, withdrawals={1: 1}))
        pool.deployment.save(tmp_path / "deployment.json")
        pool.members[1].key.save(tmp_path / "vk1.json")
        COMPLIANCE.save(tmp_path / "compliance.json")
        base = ["member", "exit", "--rpc-url", node.url, "--deployment",
                str(tmp_path / "deployment.json"), "--json"]

        def run(*argv: str) -> tuple[int, dict[str, Any]]:
            code = main([*base, *argv])
            return code, json.loads(capsys.readouterr().out)

        mine = ["--view-key", str(tmp_path / "vk1.json"), "--from", pool.account(1)]
        code, out = run(*mine)
        assert code == 2 and "cannot be frozen yet: FreezeTooEarly" in out["error"]
        chain.advance_time(pool.w3, pool.client.withdrawal_timeout())
        code, out = run(*mine)
        assert code == 0 and out["froze"] and out["credited"] == out["claimed"] == \
            pool.state.leaves[1].collateral
        code, out = run(*mine)
        assert code == 2 and out["error"] == "slot 1 has already exited"
        code, out = run("--compliance-key", str(tmp_path / "compliance.json"), "--slot", "2",
                        "--from", pool.actors.reporters[0])
        assert code == 0 and out["claimed"] is None
        assert out["credited"] == pool.state.leaves[2].collateral + 300


# --- property: the exits pay out what the contract holds ------------------------------


@pytest.fixture(scope="module")
def registered() -> Any:
    return drill_pool({1: "A", 2: "B", 3: "C"})


@pytest.mark.heavy
@settings(max_examples=3, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(deposits=st.lists(st.integers(1, 50_000), min_size=3, max_size=3),
       house=st.integers(1, 20_000), size=st.integers(0, 40), move=st.integers(-15, 15),
       late=st.lists(st.integers(0, 3_000), min_size=4, max_size=4))
def test_exits_of_a_random_pool_pay_out_what_it_holds(registered: Any, deposits: list[int],
                                                       house: int, size: int, move: int,
                                                       late: list[int]) -> None:
    """Two accepted epochs (a random trade and price move), random pending deposits and a
    request; every member exits with the tool, the house through governance: the credits
    are everything the pool held (up to the rounding of a haircut), and all are paid."""
    pool = registered
    genesis, snap = pool.state, chain.snapshot(pool.w3)
    try:
        cl = pool.client
        trades = _trade("t", 0, size, P0, 1, 2) if size else {}
        pool.play_epoch(EpochOrders(DRILL_PRICES, trades, deposits={
            0: house, 1: deposits[0], 2: deposits[1], 3: deposits[2]}))
        pool.play_epoch(EpochOrders((P0 * (100 + move) // 100, P1), withdrawals={3: 1}))
        pool.act(EpochOrders(DRILL_PRICES, deposits={s: v for s, v in enumerate(late) if v},
                             withdrawals={1: 1}))
        held = cl.balance(cl.house.address)
        chain.advance_time(pool.w3, cl.withdrawal_timeout())
        haircut = False
        for slot in (1, 2, 3):
            m = pool.members[slot]
            res = exit_slot(cl, sender=m.account, key=m.key, claim=False)
            assert res.credited == res.plan.amount
            haircut |= res.plan.haircut
        d = list(plan_exit(cl, key=pool.members[1].key).exit_data)
        cl.govern([cl.exit_house_call(d)], pool.actors.signers)
        credited = cl.total_claimable()
        assert held - 3 <= credited <= held and (haircut or credited == held)
        for s in range(4):
            if cl.claimable(pool.account(s)):
                cl.claim(sender=pool.account(s))
        assert cl.balance(cl.house.address) == held - credited
    finally:
        chain.revert(pool.w3, snap)
        pool.state, pool.signed = genesis, {}
