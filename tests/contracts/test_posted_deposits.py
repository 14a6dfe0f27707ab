"""Deposits the operator posts with closeEpoch (docs/protocol.md, "Deposits"): a member
signs (epoch, slot, amount) under a standing allowance; closeEpoch checks the signature,
pulls the tokens and folds the same DEPOSIT event as deposit() does. What the operator
controls refuses the whole close (named errors); what a member controls after signing
(its allowance, its balance, a direct deposit) is skipped with DepositSkipped. The
per-slot record is rolling (by epoch parity): exits after a freeze still credit every
deposit of the unaccepted epochs, and a proven epoch with posted deposits is accepted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from zkclear.chain import node as chain
from zkclear.chain import scenario
from zkclear.chain.client import (
    PULL_GAS,
    SECP256K1_HALF_N,
    SignedDeposit,
    commit_inner,
    deposit_inner,
    eip191_digest,
)
from zkclear.chain.deposits import check_signed_deposit
from zkclear.chain.orders import CommitRefused
from zkclear.chain.pool import Pool
from zkclear.clearing.epoch import run_epoch
from zkclear.clearing.events import Event, Kind
from zkclear.clearing.witness import epoch_circuit_inputs
from zkclear.prover.prove import prove
from zkclear.roles.exit import exit_slot

from .helpers import reverts

N = scenario.CFG.n_slots
MAX = 2**256 - 1
SKIP_PULL_FAILED, SKIP_ALREADY_DEPOSITED = 1, 2


def register(p: Pool, slots: Sequence[int] = (1, 2, 3)) -> None:
    calls = [p.client.register_member_call(i, p.actors.members[i], 77 + i, scenario.ESCROW)
             for i in slots]
    p.client.govern(calls, p.actors.signers)


def approve_all(p: Pool, slots: Sequence[int] = (0, 1, 2, 3)) -> None:
    for s in slots:
        p.client.approve(MAX, sender=p.actors.members[s])


def sign(p: Pool, slot: int, amount: int, *, epoch: int | None = None,
         signer: str | None = None) -> SignedDeposit:
    e = p.client.open_epoch() if epoch is None else epoch
    return p.client.sign_deposit_as(signer or p.actors.members[slot], e, slot, amount)


def close(p: Pool, deposits: Sequence[SignedDeposit], commits: Sequence = (), mask: int = 0):
    return p.client.close_epoch(commits, mask, sender=p.actors.operator, deposits=deposits)


def test_the_deposit_digest_binds_every_field_and_is_not_a_commit_digest(pool: Pool) -> None:
    cl = pool.client
    digest = cl.deposit_digest(3, 2, 500)
    assert digest == eip191_digest(deposit_inner(cl.deployment.chain_id, cl.house.address,
                                                 3, 2, 500))
    others = {cl.deposit_digest(4, 2, 500), cl.deposit_digest(3, 1, 500),
              cl.deposit_digest(3, 2, 501),
              eip191_digest(deposit_inner(cl.deployment.chain_id + 1, cl.house.address,
                                          3, 2, 500)),
              eip191_digest(deposit_inner(cl.deployment.chain_id, cl.token.address, 3, 2,
                                          500)),
              cl.commit_digest(3, 2, 500, b""),
              eip191_digest(commit_inner(cl.deployment.chain_id, cl.house.address, 3, 2, 500,
                                         b""))}
    assert digest not in others and len(others) == 6
    signed = sign(pool, 2, 500, epoch=3)
    assert int.from_bytes(signed.s, "big") <= SECP256K1_HALF_N and signed.v in (27, 28)
    assert cl.deposit_signer(signed) == pool.actors.members[2]


def test_posted_deposits_are_recorded_as_direct_ones(pool: Pool) -> None:
    cl, m = pool.client, pool.actors.members
    register(pool)
    approve_all(pool)
    cl.deposit(70, sender=m[3])  # a direct deposit of the same epoch, before the close
    balances = {s: cl.balance(m[s]) for s in (0, 1, 2)}
    commit = cl.sign_commit_as(m[1], 1, 1, 11, b"ct")
    receipt = close(pool, [sign(pool, 2, 500), sign(pool, 0, 40), sign(pool, 1, 1_000)],
                    [commit])
    assert cl.skipped_deposits(receipt) == []
    # Registrations, the direct deposit, then the posted deposits in their order, then
    # the commits: the engine reads this order from the EpochEvent logs.
    assert cl.epoch_events(1)[3:] == [Event(Kind.DEPOSIT, 3, 70), Event(Kind.DEPOSIT, 2, 500),
                                      Event(Kind.DEPOSIT, 0, 40), Event(Kind.DEPOSIT, 1, 1_000),
                                      Event(Kind.COMMIT, 1, 11)]
    assert cl.epoch_info(1)["deposits"] == 1_610
    assert [cl.deposit_of(1, s) for s in range(N)] == [40, 1_000, 500, 70]
    assert cl.balance(cl.house.address) == 1_610
    for s, amount in ((0, 40), (1, 1_000), (2, 500)):
        assert cl.balance(m[s]) == balances[s] - amount
    # One deposit per slot and epoch, either way: epoch 2 takes a new one, once.
    cl.deposit(5, sender=m[1], approve=False)
    with reverts("AlreadyDeposited"):
        cl.deposit(5, sender=m[1], approve=False)
    assert (cl.deposit_of(1, 1), cl.deposit_of(2, 1)) == (1_000, 5)


def test_refusals_of_the_whole_close(pool: Pool) -> None:
    """What the operator controls: the close reverts with a named error, nothing moves."""
    cl, m = pool.client, pool.actors.members
    register(pool, (1, 2))  # slot 3 never registered
    approve_all(pool)
    good = sign(pool, 1, 1_000)
    high_s = (2 * SECP256K1_HALF_N + 1) - int.from_bytes(good.s, "big")
    cases = [
        ("WrongSigner", [sign(pool, 1, 1_000, signer=m[2])]),  # another member's key
        ("WrongSigner", [replace(sign(pool, 1, 1_000, epoch=2), epoch=1)]),  # next epoch
        ("WrongSigner", [replace(good, amount=1_001)]),  # another amount
        ("WrongSigner", [replace(good, slot=2)]),  # another slot
        ("InvalidSignature", [replace(good, v=55 - good.v, s=high_s.to_bytes(32, "big"))]),
        ("InvalidSignature", [replace(good, v=29)]),
        ("InvalidSignature", [replace(good, r=b"\0" * 32)]),
        ("SlotOutOfRange", [sign(pool, N, 1_000, signer=m[1])]),
        ("SlotNotActive", [sign(pool, 3, 1_000)]),
        ("AmountOutOfRange", [sign(pool, 1, 0)]),
        ("AmountOutOfRange", [sign(pool, 1, 1 << 120)]),
        ("AlreadyDeposited", [good, sign(pool, 1, 5)]),  # twice in one batch
    ]
    # A commit signature is no deposit signature (another domain tag and fields).
    c = cl.sign_commit_as(m[1], 1, 1, 1_000, b"")
    cases.append(("WrongSigner", [SignedDeposit(1, 1, 1_000, c.v, c.r, c.s)]))
    before = cl.balance(cl.house.address)
    for error, deposits in cases:
        with reverts(error):
            close(pool, deposits)
    with reverts("NotOperator"):
        cl.close_epoch([], deposits=[good], sender=m[1])
    assert cl.balance(cl.house.address) == before and cl.open_epoch() == 1
    close(pool, [good])  # the good one alone is fine
    assert cl.epoch_events(1)[-1] == Event(Kind.DEPOSIT, 1, 1_000)


def test_a_member_cannot_make_the_close_revert(pool: Pool) -> None:
    """What a member controls after signing: its deposit is skipped, the rest closes."""
    cl, m = pool.client, pool.actors.members
    register(pool)
    approve_all(pool)
    signed = [sign(pool, 0, 10), sign(pool, 1, 100), sign(pool, 2, 200), sign(pool, 3, 300)]
    cl.approve(0, sender=m[1])  # slot 1 revokes its allowance after signing
    spent = cl.balance(m[2])  # slot 2 empties its balance
    cl.transact(cl.token.functions.transfer(m[0], spent), sender=m[2])
    cl.deposit(30, sender=m[3], approve=False)  # slot 3 deposits directly first (a race)
    receipt = close(pool, signed)
    assert cl.skipped_deposits(receipt) == [(1, 100, SKIP_PULL_FAILED),
                                            (2, 200, SKIP_PULL_FAILED),
                                            (3, 300, SKIP_ALREADY_DEPOSITED)]
    assert cl.epoch_events(1)[3:] == [Event(Kind.DEPOSIT, 3, 30), Event(Kind.DEPOSIT, 0, 10)]
    assert cl.epoch_info(1)["deposits"] == 40 == cl.balance(cl.house.address)
    assert [cl.deposit_of(1, s) for s in range(N)] == [10, 0, 0, 30]
    assert cl.epoch_info(1)["closed"]
    # The operator's own check refuses such intents before it posts them.
    cl.approve(MAX, sender=m[1])
    late = sign(pool, 1, 100)
    check_signed_deposit(cl, late)
    for bad, why in ((replace(late, epoch=1), "signed for epoch 1"),
                     (sign(pool, 2, 200), "allowance or balance"),
                     (replace(late, amount=0), "out of range")):
        try:
            check_signed_deposit(cl, bad)
            raise AssertionError(f"accepted {bad}")
        except CommitRefused as exc:
            assert why in str(exc)
    try:
        check_signed_deposit(cl, late, taken={1})
        raise AssertionError("accepted a second deposit of slot 1")
    except CommitRefused as exc:
        assert "already deposited" in str(exc)


def test_a_low_gas_limit_reverts_instead_of_skipping(pool: Pool) -> None:
    """A pull always gets PULL_GAS: with less gas left the close reverts, so no gas limit
    (nor a gas estimate) can turn a deposit into a skip."""
    cl, op = pool.client, pool.actors.operator
    register(pool, (1,))
    approve_all(pool, (1,))
    fn = cl.house.functions.closeEpoch([], [sign(pool, 1, 100).as_tuple()], 0)
    with reverts("InsufficientGas"):
        cl.transact(fn, sender=op, gas=110_000)
    receipt = cl.transact(fn, sender=op)
    assert cl.skipped_deposits(receipt) == [] and cl.deposit_of(1, 1) == 100
    # The client gives a close with deposits PULL_GAS more per deposit than estimated.
    assert int(cl.call(cl.house.functions.PULL_GAS())) == PULL_GAS


def test_exit_after_a_freeze_credits_posted_deposits(pool: Pool) -> None:
    cl, m, anyone = pool.client, pool.actors.members, pool.actors.reporters[1]
    register(pool, (1, 2))
    approve_all(pool, (1, 2))
    close(pool, [sign(pool, 1, 1_000), sign(pool, 2, 400)])  # epoch 1: posted
    cl.deposit(30, sender=m[1], approve=False)  # epoch 2: direct
    cl.request_withdrawal(1, sender=m[2])
    chain.advance_time(pool.w3, cl.withdrawal_timeout())
    cl.freeze(sender=anyone)
    for slot, amount in ((1, 1_030), (2, 400)):
        receipt = cl.exit(slot, 0, [], 0, 0, 0, [], sender=anyone)
        (ev,) = cl.logs(receipt, "ClearingHouse", "Exited")
        assert (ev["slot"], ev["amount"]) == (slot, amount)
    assert cl.total_claimable() == cl.balance(cl.house.address) == 1_430


def _prove_and_submit(p: Pool) -> None:
    cl = p.client
    epoch = cl.last_accepted_epoch() + 1
    result = run_epoch(p.state, p.setup.params, cl.final_prices(epoch),
                       cl.epoch_events(epoch), {}, view_keys=scenario.demo_keys(p.setup.config))
    accepted = scenario.submit(p, result, prove(p.keys, epoch_circuit_inputs(result)))
    assert accepted.epoch == epoch and cl.state_root() == result.new.root()
    assert accepted.total_collateral == result.total_collateral


def test_posted_deposits_are_proven_accepted_and_exit_exactly(pool: Pool) -> None:
    """Epochs 1 and 2 with posted deposits are proven and accepted (the record of slot
    2 is rewritten by parity in epoch 3); epoch 3's posted deposit and epoch 4's direct
    one are pending at the freeze: the exit pays the leaf plus exactly those."""
    cl, m, act = pool.client, pool.actors.members, pool.actors
    keys = scenario.demo_keys(pool.setup.config)
    calls = [cl.register_member_call(s, m[s], keys[s].vkh, scenario.escrow_for(pool, s,
                                                                                keys[s].vkh))
             for s in (1, 2)]
    cl.govern(calls, act.signers)
    approve_all(pool, (1, 2))
    prices = pool.setup.genesis_prices
    for epoch, deposits in ((1, {1: 1_000, 2: 400}), (2, {2: 50})):
        scenario.post_prices(pool, epoch, prices)
        close(pool, [sign(pool, s, a) for s, a in deposits.items()])
        _prove_and_submit(pool)
    assert cl.total_collateral() == 1_450
    scenario.post_prices(pool, 3, prices)
    close(pool, [sign(pool, 2, 7)])  # epoch 3 (parity of epoch 1): pending
    cl.deposit(9, sender=m[2], approve=False)  # epoch 4: pending
    assert [cl.deposit_of(e, 2) for e in (1, 2, 3, 4)] == [0, 0, 7, 9]
    cl.request_withdrawal(1, sender=m[1])
    chain.advance_time(pool.w3, cl.withdrawal_timeout())
    res = exit_slot(cl, 2, key=keys[2], sender=act.reporters[1])
    assert res.plan.pending_deposits == 16
    assert res.credited == 450 + 16
