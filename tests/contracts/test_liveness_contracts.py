"""Liveness on the embedded EVM: operator-posted signed commits and suspension, pull
payouts, the forced-withdrawal freeze and exits (docs/protocol.md, "Liveness").

Every refusal asserts its named custom error, decoded by :mod:`zkclear.chain.client`.
Exits against leaves of real accepted epochs (exit data published by ``submitEpoch`` and
bound by the proof) are in tests/roles/test_exits.py and the drills. Here, to reach states that
a short story cannot (a negative house, many random states), the leaf tests write the
last accepted state into the contract's storage (:func:`install_exit_state`:
lastAcceptedEpoch, totalCollateral, lastExitDataHash, with the tokens minted to the
contract) and leave everything else -- deposits, requests, freeze, exit, claim -- to the
real contract.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zkclear.chain import node as chain
from zkclear.chain import scenario
from zkclear.chain.client import (
    SECP256K1_HALF_N,
    SignedCommit,
    commit_inner,
    eip191_digest,
)
from zkclear.chain.pool import Pool
from zkclear.clearing.epoch import run_epoch
from zkclear.clearing.events import Event, Kind
from zkclear.clearing.public import PUBLIC_NAMES
from zkclear.clearing.state import Leaf
from zkclear.clearing.witness import epoch_circuit_inputs
from zkclear.field import P
from zkclear.prover.prove import prove

from .helpers import reverts

N, M = scenario.CFG.n_slots, scenario.CFG.n_instruments
SECP256K1_N = 2 * SECP256K1_HALF_N + 1
DAY = 86_400




def register(p: Pool, slots: Sequence[int] = (1, 2, 3)) -> None:
    calls = [p.client.register_member_call(i, p.actors.members[i], 77 + i, scenario.ESCROW)
             for i in slots]
    p.client.govern(calls, p.actors.signers)


def sign(p: Pool, slot: int, commitment: int, ct: bytes = b"ct", *, epoch: int | None = None,
         signer: str | None = None) -> SignedCommit:
    e = p.client.open_epoch() if epoch is None else epoch
    return p.client.sign_commit_as(signer or p.actors.members[slot], e, slot, commitment, ct)


def close(p: Pool, commits: Sequence[SignedCommit] = (), mask: int = 0):
    return p.client.close_epoch(commits, mask, sender=p.actors.operator)


# --- signed commits ---------------------------------------------------------------------


def test_commit_digest_binds_every_field_and_signatures_recover(pool: Pool) -> None:
    # (That it is the contract's digest: closeEpoch accepts these signatures, below.)
    cl = pool.client
    ct = bytes(range(167))
    digest = cl.commit_digest(3, 2, 12345, ct)
    inner = commit_inner(cl.deployment.chain_id, cl.house.address, 3, 2, 12345, ct)
    assert digest == eip191_digest(inner)
    for other in (cl.commit_digest(4, 2, 12345, ct), cl.commit_digest(3, 1, 12345, ct),
                  cl.commit_digest(3, 2, 12346, ct), cl.commit_digest(3, 2, 12345, ct + b"!")):
        assert other != digest
    key = Account.create()
    signed = cl.sign_commit(key.key, 3, 2, 12345, ct)
    assert Account.recover_message(encode_defunct(primitive=inner),
                                   signature=signed.signature) == key.address
    assert int.from_bytes(signed.s, "big") <= SECP256K1_HALF_N and signed.v in (27, 28)
    again = SignedCommit.from_signature(2, 12345, ct, signed.r + signed.s + bytes([signed.v - 27]))
    assert again == signed


def test_signed_commits_are_posted_at_close(pool: Pool) -> None:
    cl, m = pool.client, pool.actors.members
    register(pool)
    cl.deposit(1_000, sender=m[2])
    commits = [sign(pool, 1, 11, b"one"), sign(pool, 3, P - 1, b"three")]
    receipt = close(pool, commits, mask=0b100)
    posted = cl.logs(receipt, "ClearingHouse", "ReportCommitted")
    assert [(e["epoch"], e["slot"], e["commitment"], e["ciphertext"]) for e in posted] == [
        (1, 1, 11, b"one"), (1, 3, P - 1, b"three")]
    (ex,) = cl.logs(receipt, "ClearingHouse", "ReportExcluded")
    assert (ex["epoch"], ex["slot"]) == (1, 2)
    assert cl.epoch_events(1)[3:] == [Event(Kind.DEPOSIT, 2, 1_000), Event(Kind.COMMIT, 1, 11),
                                      Event(Kind.COMMIT, 3, P - 1)]
    info = cl.epoch_info(1)
    assert info["closed"] and info["excludedMask"] == 0b100 and cl.open_epoch() == 2


def _high_s(c: SignedCommit) -> SignedCommit:
    s = SECP256K1_N - int.from_bytes(c.s, "big")
    return SignedCommit(c.slot, c.commitment, c.ciphertext, 55 - c.v, c.r, s.to_bytes(32, "big"))


def test_commit_refusals(pool: Pool) -> None:
    cl, m = pool.client, pool.actors.members
    register(pool, (1, 2))  # slot 3 never registered
    good = sign(pool, 1, 11)
    forged = sign(pool, 1, 11, signer=m[2])  # signed by another member's key
    cases = [
        ("WrongSigner", [forged]),
        ("WrongSigner", [sign(pool, 1, 11, epoch=2)]),  # a signature for another epoch
        ("WrongSigner", [SignedCommit(1, 12, b"ct", good.v, good.r, good.s)]),  # other C
        ("WrongSigner", [SignedCommit(1, 11, b"cu", good.v, good.r, good.s)]),  # other text
        ("WrongSigner", [SignedCommit(2, 11, b"ct", good.v, good.r, good.s)]),  # other slot
        ("InvalidSignature", [_high_s(good)]),  # the malleable twin
        ("InvalidSignature", [SignedCommit(1, 11, b"ct", 29, good.r, good.s)]),
        ("InvalidSignature", [SignedCommit(1, 11, b"ct", 27, b"\0" * 32, good.s)]),
        ("HouseCannotCommit", [sign(pool, 0, 11)]),
        ("SlotOutOfRange", [sign(pool, 4, 11, signer=m[1])]),
        ("SlotNotActive", [sign(pool, 3, 11)]),
        ("AlreadyCommitted", [good, sign(pool, 1, 12)]),
        ("InvalidCommitment", [sign(pool, 1, 0)]),
        ("InvalidCommitment", [sign(pool, 1, P)]),
    ]
    for error, commits in cases:
        with reverts(error):
            close(pool, commits)
    for mask in (0b1, 1 << N, 0b10):  # the house, no such slot, a slot that committed
        with reverts("InvalidExcludedMask"):
            close(pool, [good], mask)
    with reverts("NotOperator"):
        cl.close_epoch([good], sender=m[1])
    close(pool, [good])  # the good one alone is fine
    assert cl.epoch_events(1)[-1] == Event(Kind.COMMIT, 1, 11)


def test_a_removed_member_cannot_be_committed_for_but_may_request(pool: Pool) -> None:
    cl, m = pool.client, pool.actors.members
    register(pool, (1, 2))
    cl.govern([cl.remove_member_call(2)], pool.actors.signers)
    assert cl.account_of_slot(2) == m[2]
    with reverts("NotMember"):
        cl.deposit(5, sender=m[2], approve=False)
    cl.request_withdrawal(7, sender=m[2])  # still its slot's money
    with reverts("SlotNotActive"):
        close(pool, [sign(pool, 2, 11)])
    with reverts("AccountAlreadyMember"):  # one account, one slot, for good
        cl.govern([cl.register_member_call(3, m[2], 5, scenario.ESCROW)], pool.actors.signers)
    assert cl.epoch_events(1)[-1] == Event(Kind.WITHDRAW, 2, 7)


# --- an accepted epoch: pull payouts, suspension ------------------------------------------


@pytest.fixture(scope="module")
def accepted(keys):
    """Epoch 1 proven and accepted: slots 1-3 registered, slot 1 deposits 1,000 and asks
    for 400 back (granted), slot 3 is excluded (suspended in epoch 2)."""
    p = scenario.deploy_pool(chain.embedded_web3(), keys)
    cl, m = p.client, p.actors.members
    register(p)
    cl.deposit(1_000, sender=m[1])
    cl.request_withdrawal(400, sender=m[1])
    scenario.post_prices(p, 1, p.setup.genesis_prices)
    receipt = close(p, mask=0b1000)
    result = run_epoch(p.state, p.setup.params, cl.final_prices(1), cl.epoch_events(1), {},
                       view_keys={})
    proof = prove(p.keys, epoch_circuit_inputs(result))
    accepted = scenario.submit(p, result, proof)
    return p, receipt, accepted


@pytest.fixture
def epoch2(accepted):
    p, receipt, acc = accepted
    snap, state = chain.snapshot(p.w3), p.state
    yield p, receipt, acc
    chain.revert(p.w3, snap)
    p.state = state


def test_granted_withdrawals_are_credited_and_claimed(epoch2) -> None:
    p, _, acc = epoch2
    cl, m = p.client, p.actors.members
    assert acc.paid == ((1, m[1], 400),)
    assert cl.claimable(m[1]) == cl.total_claimable() == 400
    assert cl.balance(cl.house.address) == 1_000  # 600 collateral + 400 credited
    with reverts("NothingToClaim"):
        cl.claim(sender=m[2])
    cl.transact(cl.token.functions.setBlocked(m[1], True), sender=p.actors.deployer)
    with reverts("TransferFailed"):  # the token refuses: only this claim fails
        cl.claim(sender=m[1])
    assert cl.claimable(m[1]) == 400
    cl.transact(cl.token.functions.setBlocked(m[1], False), sender=p.actors.deployer)
    before = cl.balance(m[1])
    receipt = cl.claim(sender=m[1])
    (ev,) = cl.logs(receipt, "ClearingHouse", "Claimed")
    assert (ev["account"], ev["amount"]) == (m[1], 400)
    assert cl.balance(m[1]) == before + 400 and cl.total_claimable() == 0
    with reverts("NothingToClaim"):
        cl.claim(sender=m[1])


def test_an_excluded_slot_is_suspended_in_the_next_epoch(epoch2) -> None:
    p, receipt, _ = epoch2
    cl, m = p.client, p.actors.members
    (ex,) = cl.logs(receipt, "ClearingHouse", "ReportExcluded")
    assert (ex["epoch"], ex["slot"]) == (1, 3)
    cl.deposit(50, sender=m[3])  # deposits and requests stay open to it
    cl.request_withdrawal(5, sender=m[3])
    with reverts("SlotSuspended") as ei:
        close(p, [sign(p, 2, 11), sign(p, 3, 12)])
    assert ei.value.args_dict == {"epoch": 2, "slot": 3}
    close(p, [sign(p, 2, 11)])


def test_a_served_request_cannot_freeze(epoch2) -> None:
    p, _, _ = epoch2
    chain.advance_time(p.w3, 2 * DAY)
    with reverts("NothingToForce"):  # epoch 1's request was answered (granted)
        p.client.freeze(sender=p.actors.owners[1])


def test_exit_after_an_accepted_epoch_needs_its_exit_data(epoch2) -> None:
    """On this branch submitEpoch does not publish exit data yet (the 9-signal circuit):
    the stored hash is zero, so no leaf opens against any data -- nothing is paid."""
    p, _, _ = epoch2
    cl, m = p.client, p.actors.members
    cl.request_withdrawal(100, sender=m[2])
    chain.advance_time(p.w3, DAY)
    cl.freeze(sender=m[3])
    data = [0] * (N + 3)  # N leaves, the house's collateral, the two mask words
    with reverts("ExitDataMismatch"):
        cl.exit(1, 600, [0] * M, 0, 78, 0, data, sender=m[1])
    with reverts("ExitDataMismatch"):
        cl.govern([cl.exit_house_call(data)], p.actors.signers)


# --- freeze ---------------------------------------------------------------------------------


def test_withdrawal_timeout_is_governed(pool: Pool) -> None:
    cl = pool.client
    assert cl.withdrawal_timeout() == DAY == pool.setup.withdrawal_timeout
    receipt = cl.govern([cl.set_withdrawal_timeout_call(3_600)], pool.actors.signers)
    assert cl.logs(receipt, "ClearingHouse", "WithdrawalTimeoutSet")[0]["timeout"] == 3_600
    assert cl.withdrawal_timeout() == 3_600
    for bad in (59, 365 * DAY + 1):
        with reverts("InvalidWithdrawalTimeout"):
            cl.govern([cl.set_withdrawal_timeout_call(bad)], pool.actors.signers)
    with reverts("NotGovernance"):
        cl.transact(cl.house.functions.setWithdrawalTimeout(100), sender=pool.actors.owners[0])


def test_freeze_only_after_an_unserved_request_times_out(pool: Pool) -> None:
    cl, m, anyone = pool.client, pool.actors.members, pool.actors.reporters[2]
    register(pool)
    with reverts("NothingToForce"):
        cl.freeze(sender=anyone)
    cl.deposit(1_000, sender=m[1])
    cl.request_withdrawal(300, sender=m[1])
    asked = cl.epoch_info(1)["firstRequestAt"]
    assert asked > 0
    cl.request_withdrawal(5, sender=m[2])  # a later request does not restart the clock
    assert cl.epoch_info(1)["firstRequestAt"] == asked
    with reverts("FreezeTooEarly") as ei:
        cl.freeze(sender=anyone)
    assert ei.value.args_dict == {"epoch": 1, "deadline": asked + DAY}
    close(pool)  # closing is not serving: epoch 1 still has no accepted proof
    chain.advance_time(pool.w3, asked + DAY - chain.latest_timestamp(pool.w3))
    with reverts("NotFrozen"):
        cl.exit(1, 0, [0] * M, 0, 0, 0, [], sender=anyone)
    receipt = cl.freeze(sender=anyone)
    (ev,) = cl.logs(receipt, "ClearingHouse", "Frozen")
    assert (ev["epoch"], ev["requestedAt"]) == (1, asked) and cl.frozen()
    with reverts("PoolFrozen"):
        cl.freeze(sender=anyone)
    with reverts("PoolFrozen"):
        cl.deposit(5, sender=m[3])
    with reverts("PoolFrozen"):
        cl.request_withdrawal(5, sender=m[3])
    with reverts("PoolFrozen"):
        close(pool)
    proof = {"pi_a": ["1", "2", "1"], "pi_b": [["0", "0"], ["0", "0"], ["1", "0"]],
             "pi_c": ["1", "2", "1"]}
    with reverts("PoolFrozen"):
        cl.submit_epoch(proof, [0] * len(PUBLIC_NAMES), [0] * (N + 1), sender=pool.actors.operator)


# --- exits ------------------------------------------------------------------------------------


def freeze_now(p: Pool, requester: int = 1) -> None:
    p.client.request_withdrawal(1, sender=p.actors.members[requester])
    chain.advance_time(p.w3, p.client.withdrawal_timeout())
    p.client.freeze(sender=p.actors.reporters[0])


def test_genesis_exit_pays_pending_deposits(pool: Pool) -> None:
    """No epoch was ever accepted: every member exits with its deposits, once."""
    cl, m, anyone = pool.client, pool.actors.members, pool.actors.reporters[1]
    register(pool, (1, 2))
    cl.deposit(1_000, sender=m[1])
    cl.deposit(250, sender=m[0])  # the house's insurance top-up
    close(pool)
    cl.deposit(30, sender=m[1])  # epoch 2: a second unaccepted epoch
    cl.govern([cl.remove_member_call(2)], pool.actors.signers)
    freeze_now(pool, requester=2)  # a removed member's request counts
    held = cl.balance(cl.house.address)
    assert held == 1_280
    receipt = cl.exit(1, 0, [], 0, 0, 0, [], sender=anyone)  # anyone may exit a slot
    (ev,) = cl.logs(receipt, "ClearingHouse", "Exited")
    assert (ev["slot"], ev["account"], ev["amount"], ev["haircutApplied"]) == (1, m[1], 1_030,
                                                                              False)
    assert cl.exited(1) and cl.claimable(m[1]) == 1_030
    with reverts("AlreadyExited"):
        cl.exit(1, 0, [], 0, 0, 0, [], sender=m[1])
    cl.exit(2, 0, [], 0, 0, 0, [], sender=m[2])  # removed: exits with nothing pending
    assert cl.claimable(m[2]) == 0
    with reverts("NotRegistered"):
        cl.exit(3, 0, [], 0, 0, 0, [], sender=anyone)
    with reverts("HouseCannotExit"):
        cl.exit(0, 0, [], 0, 0, 0, [], sender=anyone)
    with reverts("SlotOutOfRange"):
        cl.exit(N, 0, [], 0, 0, 0, [], sender=anyone)
    with reverts("NotGovernance"):
        cl.transact(cl.house.functions.exitHouse([]), sender=m[0])
    cl.govern([cl.exit_house_call([])], pool.actors.signers)
    assert cl.claimable(m[0]) == 250
    with reverts("AlreadyExited"):
        cl.govern([cl.exit_house_call([])], pool.actors.signers)
    assert cl.total_claimable() == held
    for s in (0, 1):
        before = cl.balance(m[s])
        cl.claim(sender=m[s])  # claims work while frozen
        assert cl.balance(m[s]) == before + (250, 1_030)[s]
    assert cl.balance(cl.house.address) == cl.total_claimable() == 0


# --- exits against leaves (last accepted state written into storage; see the docstring) ---


def leaf(c: int, q: Sequence[int] = (0, 0), slot: int = 1, nonce: int = 99,
         df: int = 0) -> Leaf:
    return Leaf(c, tuple(q), 77 + slot, 1, nonce, df)


def do_exit(p: Pool, slot: int, lf: Leaf, data: Sequence[int]):
    return p.client.exit(slot, lf.collateral, lf.positions, lf.df, lf.vkh, lf.nonce, data,
                         sender=p.actors.reporters[1])


def test_exit_with_a_leaf_and_its_refusals(pool: Pool) -> None:
    cl, m = pool.client, pool.actors.members
    register(pool)
    leaves = {1: leaf(700, (5, -3), 1, df=50), 2: leaf(300, (-5, 3), 2, nonce=P - 1),
              3: leaf(0, slot=3)}
    data = scenario.install_exit_state(pool, leaves, house_c=100)
    cl.deposit(40, sender=m[2])  # pending in epoch 2
    freeze_now(pool)
    lf = leaves[1]
    bad_data = [*data[:N], (data[N] + 1) % P, *data[N + 1:]]
    cases = [
        ("ExitDataMismatch", lambda: do_exit(pool, 1, lf, bad_data)),
        ("WrongExitDataLength", lambda: do_exit(pool, 1, lf, data[:N])),
        ("LeafMismatch", lambda: do_exit(pool, 1, Leaf(701, lf.positions, lf.vkh, 1, 99), data)),
        ("LeafMismatch", lambda: do_exit(pool, 1, Leaf(700, lf.positions, lf.vkh, 1, 98), data)),
        ("LeafMismatch", lambda: do_exit(pool, 2, lf, data)),  # another slot's leaf
        ("LeafMismatch", lambda: do_exit(pool, 1, replace(lf, df=lf.df + 1), data)),
        ("NegativeCollateral", lambda: cl.exit(1, -1, [5, -3], 50, lf.vkh, 99, data,
                                               sender=m[1])),
        ("WrongPositionCount", lambda: cl.exit(1, 700, [5], 50, lf.vkh, 99, data, sender=m[1])),
        ("ExitValueOutOfRange", lambda: cl.exit(1, 700, [1 << 48, 0], 50, lf.vkh, 99, data,
                                                sender=m[1])),
        ("ExitValueOutOfRange", lambda: cl.exit(1, 1 << 120, [5, -3], 50, lf.vkh, 99, data,
                                                sender=m[1])),
        ("ExitValueOutOfRange", lambda: cl.exit(1, 700, [5, -3], 1 << 120, lf.vkh, 99, data,
                                                sender=m[1])),
        ("NotAFieldElement", lambda: cl.exit(1, 700, [5, -3], 50, lf.vkh, P, data,
                                             sender=m[1])),
    ]
    for error, call in cases:
        with reverts(error):
            call()
    receipt = do_exit(pool, 1, lf, data)
    (ev,) = cl.logs(receipt, "ClearingHouse", "Exited")
    assert (ev["amount"], ev["haircutApplied"]) == (700 + 50, False)  # c + df
    with reverts("AlreadyExited"):  # a replay
        do_exit(pool, 1, lf, data)
    do_exit(pool, 2, leaves[2], data)
    assert cl.claimable(m[2]) == 340  # its leaf and its pending deposit
    do_exit(pool, 3, leaves[3], data)
    cl.govern([cl.exit_house_call(data)], pool.actors.signers)
    assert cl.claimable(m[0]) == 100
    assert cl.total_claimable() == cl.balance(cl.house.address) == 1_190


def test_a_negative_house_means_a_published_pro_rata_haircut(pool: Pool) -> None:
    cl, m = pool.client, pool.actors.members
    register(pool)
    leaves = {1: leaf(700, slot=1), 2: leaf(301, slot=2), 3: leaf(0, slot=3)}
    data = scenario.install_exit_state(pool, leaves, house_c=-101)  # T = 900, members hold 1,001
    freeze_now(pool)
    amounts = []
    for s in (1, 2, 3):
        (ev,) = cl.logs(do_exit(pool, s, leaves[s], data), "ClearingHouse", "Exited")
        assert ev["haircutApplied"]
        amounts.append(ev["amount"])
    assert amounts == [700 * 900 // 1_001, 301 * 900 // 1_001, 0]
    cl.govern([cl.exit_house_call(data)], pool.actors.signers)
    assert cl.claimable(m[0]) == 0
    assert cl.total_claimable() == sum(amounts) <= cl.balance(cl.house.address) == 900


@pytest.fixture(scope="module")
def registered(keys) -> Pool:
    """A pool with slots 1-3 registered (vkh 77 + slot)."""
    p = scenario.deploy_pool(chain.embedded_web3(), keys)
    register(p)
    return p


@settings(max_examples=10, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cs_=st.lists(st.integers(0, 10**9), min_size=N - 1, max_size=N - 1),
       house=st.integers(-(10**9), 10**9),
       qs=st.lists(st.integers(-(10**6), 10**6), min_size=M, max_size=M),
       deposits=st.lists(st.integers(0, 10**6), min_size=N, max_size=N))
def test_random_exits_never_pay_more_than_the_balance(registered: Pool, cs_, house, qs,
                                                      deposits) -> None:
    """Random leaves (a house possibly under water), random pending deposits: every
    slot exits, the house through governance; the credits sum to at most the tokens
    held, every claim is paid, and nothing is left credited."""
    p = registered
    house = max(house, -sum(cs_))  # the total collateral is never negative
    snap = chain.snapshot(p.w3)
    try:
        cl, m = p.client, p.actors.members
        leaves = {s: leaf(c, qs if s == 1 else [-q for q in qs] if s == 2 else (0, 0), s)
                  for s, c in zip((1, 2, 3), cs_, strict=True)}
        data = scenario.install_exit_state(p, leaves, house)

        def send(fn, sender: str):  # an explicit gas limit: py-evm's estimate is slow
            return cl.transact(fn, sender=sender, gas=2_000_000)
        h = cl.house.functions
        for s, d in enumerate(deposits):
            if d:
                send(cl.token.functions.approve(cl.house.address, d), m[s])
                send(h.deposit(d), m[s])
        send(h.requestWithdrawal(1), m[1])
        chain.advance_time(p.w3, DAY)
        send(h.freeze(), m[2])
        held = cl.balance(cl.house.address)
        for s, lf in leaves.items():
            send(h.exit(s, lf.collateral, list(lf.positions), lf.df, lf.vkh, lf.nonce, data),
                 m[3])
        cl.govern([cl.exit_house_call(data)], p.actors.signers)
        credited = cl.total_claimable()
        assert credited <= held
        if house >= 0:  # no haircut: exactly everything
            assert credited == held
        for s in range(N):
            if cl.claimable(m[s]):
                send(h.claim(), m[s])
        assert cl.total_claimable() == 0
        assert cl.balance(cl.house.address) == held - credited
    finally:
        chain.revert(p.w3, snap)
