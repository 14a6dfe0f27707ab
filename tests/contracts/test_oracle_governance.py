"""The oracle's published rule and governance hygiene on the embedded EVM (issue 13).

Oracle (docs/protocol.md, "Oracle"): three reporters, quorum three, the median of the
three posts; posts only for the epoch the clearing house is working on, in order; a
median beyond the band waits ``breakerDelay`` and is then released; venues in the event.
Governance: confirmations of removed owners stop counting, proposals expire and can be
cancelled by the owners' threshold. The deposit path checks before it approves.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from zkclear.chain import contracts, scenario
from zkclear.chain import node as chain
from zkclear.chain.client import (
    decode_venues,
    encode_venues,
    median,
    venue_medians,
)
from zkclear.chain.pool import Pool

from .helpers import reverts

BREAKER_DELAY = 600  # PoolSetup's default
MAX_AGE = 3600




def post_all(pool: Pool, epoch: int, *posts: tuple[int, ...]) -> None:
    for reporter, prices in zip(pool.actors.reporters, posts, strict=False):
        pool.client.post_prices(epoch, prices, sender=reporter)


# --- the median ------------------------------------------------------------------------------


@pytest.mark.parametrize("order", [(0, 1, 2), (1, 0, 2), (1, 2, 0)])
@pytest.mark.parametrize("bad", [801, 1_199, 1])
def test_one_reporter_cannot_move_the_price(pool: Pool, order, bad: int) -> None:
    """One reporter posting 801 (or 1199, or 1: beyond the band) against honest 1000s,
    first, second or last: the final price is the honest one."""
    cl, r = pool.client, pool.actors.reporters
    posts = {0: (bad, 1_100), 1: (1_000, 1_100), 2: (1_000, 1_100)}
    for i in order:
        cl.post_prices(1, posts[i], sender=r[i])
    assert cl.final_prices(1) == (1_000, 1_100)
    assert cl.pending_prices(1) == ((), 0)  # no breaker: the median is in the band


def test_the_median_lies_between_the_honest_posts(pool: Pool) -> None:
    """Honest reporters that differ: the dishonest one picks at most between them."""
    post_all(pool, 1, (990, 1_100), (801, 1_100), (1_010, 1_100))
    assert pool.client.final_prices(1) == (990, 1_100)


def test_ties_and_a_dishonest_majority(pool: Pool) -> None:
    """Equal posts are interchangeable (the median is a value, not a post); two of three
    reporters are a majority of the quorum and do set the price (the stated limit)."""
    post_all(pool, 1, (1_000, 1_050), (801, 1_050), (801, 1_100))
    assert pool.client.final_prices(1) == (801, 1_050)


def test_a_reporter_posting_twice_is_refused(pool: Pool) -> None:
    cl, r = pool.client, pool.actors.reporters
    cl.post_prices(1, (801, 1_100), sender=r[0])
    with reverts("AlreadyPosted") as ei:
        cl.post_prices(1, (802, 1_100), sender=r[0])
    assert ei.value.args_dict == {"epoch": 1, "reporter": r[0]}


def test_an_even_quorum_is_refused(pool: Pool) -> None:
    with reverts("EvenQuorum") as ei:
        contracts.deploy_system(pool.w3, replace(pool.setup, quorum=2),
                                pool.client.deployment.address("EpochVerifier"),
                                sender=pool.actors.deployer)
    assert ei.value.action == "deploy PriceOracle"
    with reverts("EvenQuorum"):
        pool.client.govern([pool.client.set_quorum_call(2)], pool.actors.signers)
    pool.client.govern([pool.client.set_quorum_call(1)], pool.actors.signers)  # 1 is odd


# --- epochs ----------------------------------------------------------------------------------


def test_posts_only_for_the_epoch_the_house_is_working_on(pool: Pool) -> None:
    cl, r, op = pool.client, pool.actors.reporters, pool.actors.operator
    with reverts("PricesAlreadyFinal"):  # past: genesis
        cl.post_prices(0, (1_000, 1_100), sender=r[0])
    with reverts("PriceEpochInFuture") as ei:  # future: epoch 2 is not open
        cl.post_prices(2, (1_000, 1_100), sender=r[0])
    assert ei.value.args_dict == {"epoch": 2, "openEpoch": 1}
    cl.post_prices(1, (1_000, 1_100), sender=r[0])  # the open epoch
    cl.close_epoch(sender=op)
    assert cl.open_epoch() == 2
    with reverts("PriceEpochOutOfOrder") as ei:  # open, but epoch 1 is not priced yet
        cl.post_prices(2, (1_000, 1_100), sender=r[0])
    assert ei.value.args_dict == {"epoch": 2, "next": 1}
    cl.post_prices(1, (1_000, 1_100), sender=r[1])
    cl.post_prices(1, (1_000, 1_100), sender=r[2])
    assert cl.final_prices(1) == (1_000, 1_100)  # a closed epoch may still be priced
    cl.post_prices(2, (1_010, 1_100), sender=r[0])  # now the open epoch 2
    with reverts("PriceEpochInFuture"):
        cl.post_prices(3, (1_010, 1_100), sender=r[1])


def test_the_oracle_is_bound_once_to_its_house(pool: Pool) -> None:
    cl, act = pool.client, pool.actors
    assert cl.call(cl.oracle.functions.clearingHouse()) == cl.house.address
    with reverts("AlreadyBound"):
        cl.transact(cl.oracle.functions.bindClearingHouse(cl.house.address),
                    sender=act.deployer)
    compiled = contracts.build()
    pos = [cl.deployment.address(f"Poseidon{n}") for n in contracts.POSEIDON_ARITIES]
    fresh, _ = contracts.deploy_contract(
        pool.w3, compiled["PriceOracle"],
        *contracts.oracle_args(replace(pool.setup, genesis_prices=(1_000, 1_100)),
                               cl.governance.address, pos), sender=act.deployer)
    with reverts("ClearingHouseNotBound"):
        cl.transact(fresh.functions.postPrices(1, chain.latest_timestamp(pool.w3),
                                               [1_000, 1_100], b""), sender=act.reporters[0])
    with reverts("NotBinder"):
        cl.transact(fresh.functions.bindClearingHouse(cl.house.address),
                    sender=act.reporters[0])
    with reverts("WrongClearingHouse"):  # that house reads its prices elsewhere
        cl.transact(fresh.functions.bindClearingHouse(cl.house.address),
                    sender=act.deployer)
    with reverts("WrongClearingHouse"):  # not a contract
        cl.transact(fresh.functions.bindClearingHouse(act.house), sender=act.deployer)


# --- staleness -------------------------------------------------------------------------------


def test_a_median_of_stale_observations_is_never_final(pool: Pool) -> None:
    """The oldest observation of a round counts: once older than maxAge, the round
    expires and the next post starts a new one."""
    cl, r = pool.client, pool.actors.reporters
    now = chain.latest_timestamp(pool.w3)
    cl.post_prices(1, (1_000, 1_100), sender=r[0], observed_at=now - 3_000)
    cl.post_prices(1, (1_000, 1_100), sender=r[1])
    chain.advance_time(pool.w3, 601)  # r[0]'s observation is now 3601 s old
    receipt = cl.post_prices(1, (1_000, 1_100), sender=r[2])
    assert cl.logs(receipt, "PriceOracle", "RoundExpired") and cl.prices_hash(1) == 0
    post_all(pool, 1, (1_020, 1_100), (1_030, 1_100))
    assert cl.final_prices(1) == (1_020, 1_100)


# --- the circuit breaker ----------------------------------------------------------------------


def test_a_real_crash_clears_after_the_breaker_delay(pool: Pool) -> None:
    cl, r = pool.client, pool.actors.reporters
    crash = (600, 1_100)  # -40 %, band 20 %
    post_all(pool, 1, crash, (590, 1_100))
    receipt = cl.post_prices(1, (610, 1_100), sender=r[2])
    (ev,) = cl.logs(receipt, "PriceOracle", "BreakerTripped")
    tripped = chain.latest_timestamp(pool.w3)
    assert tuple(ev["prices"]) == crash and ev["releaseAt"] == tripped + BREAKER_DELAY
    assert cl.prices_hash(1) == 0
    assert cl.pending_prices(1) == (crash, tripped + BREAKER_DELAY)  # members see it coming
    with reverts("BreakerPending"):
        cl.post_prices(1, (1_000, 1_100), sender=r[0])
    with reverts("BreakerDelayNotOver"):
        cl.release_prices(1, sender=pool.actors.members[1])
    chain.advance_time(pool.w3, BREAKER_DELAY)
    cl.release_prices(1, sender=pool.actors.members[1])  # anyone may
    assert cl.final_prices(1) == crash
    with reverts("PricesAlreadyFinal"):
        cl.release_prices(1, sender=pool.actors.members[1])
    # The crash price is the next epoch's reference: a further -10 % is in the band.
    cl.close_epoch(sender=pool.actors.operator)
    post_all(pool, 2, (540, 1_100), (540, 1_100), (545, 1_100))
    assert cl.final_prices(2) == (540, 1_100)


def test_a_single_out_of_band_post_trips_nothing(pool: Pool) -> None:
    cl = pool.client
    post_all(pool, 1, (600, 1_100), (1_000, 1_100), (1_000, 1_100))
    assert cl.final_prices(1) == (1_000, 1_100) and cl.pending_prices(1) == ((), 0)
    with reverts("BreakerNotTripped"):
        cl.release_prices(2, sender=pool.actors.members[1])


def test_a_held_crash_goes_stale(pool: Pool) -> None:
    cl, r = pool.client, pool.actors.reporters
    post_all(pool, 1, (600, 1_100), (600, 1_100), (600, 1_100))
    chain.advance_time(pool.w3, MAX_AGE + 1)
    with reverts("StalePrice"):
        cl.release_prices(1, sender=r[0])
    receipt = cl.post_prices(1, (620, 1_100), sender=r[0])  # a fresh round
    assert cl.logs(receipt, "PriceOracle", "RoundExpired")
    assert cl.pending_prices(1) == ((), 0)


# --- venues ----------------------------------------------------------------------------------


def test_venue_median_rule() -> None:
    assert median([3, 1, 2]) == 2 and median([1, 4]) == 2 and median([5]) == 5
    assert venue_medians({"a": (1, 10), "b": (3, 30), "c": (2, 20), "d": (9, 11)}) == (2, 15)
    v = {"binance": (1_000, 1_100), "kraken": (1_010, 1_090)}
    assert decode_venues(encode_venues(v)) == v and decode_venues(b"") == {}


def test_reporters_post_the_median_of_their_venues(pool: Pool) -> None:
    cl, r = pool.client, pool.actors.reporters
    venues = {"alpha": (1_000, 1_100), "beta": (1_010, 1_090), "gamma": (990, 1_300)}
    receipt = cl.post_prices(1, sender=r[0], venues=venues)
    (ev,) = cl.logs(receipt, "PriceOracle", "PricesPosted")
    assert tuple(ev["prices"]) == (1_000, 1_100)
    assert decode_venues(bytes(ev["venues"])) == venues  # the venues, for auditors
    cl.post_prices(1, sender=r[1], venues={"alpha": (1_000, 1_100), "beta": (1_010, 1_100)})
    (mine, other) = cl.posted_venues(1)
    assert other["prices"] == (1_005, 1_100) and other["reporter"] == r[1]
    assert mine["venues"] == venues
    with reverts("VenueMedianMismatch") as ei:  # the posted price must be their median
        cl.transact(cl.oracle.functions.postPrices(
            1, chain.latest_timestamp(pool.w3), [1_001, 1_100], encode_venues(venues)),
            sender=r[2])
    assert ei.value.args_dict == {"instrument": 0, "price": 1_001, "venueMedian": 1_000}
    cl.post_prices(1, (1_000, 1_100), sender=r[2])  # plain prices still work
    assert cl.final_prices(1) == (1_000, 1_100)


# --- governance ------------------------------------------------------------------------------


def test_a_removed_owners_confirmation_stops_counting(pool: Pool) -> None:
    cl, (o0, o1, o2) = pool.client, pool.actors.owners
    pid = cl.propose([cl.set_expiry_call(7 * 86_400)], sender=o0)
    cl.confirm(pid, sender=o2)  # queued: o0 + o2
    assert cl.proposal_eta(pid) != 0 and cl.confirmations(pid) == 2
    cl.govern([cl.remove_owner_call(o2)], (o0, o1))  # moves the clock past pid's eta too
    assert cl.confirmations(pid) == 1
    with reverts("NotApproved") as ei:
        cl.execute(pid, sender=o0)
    assert ei.value.args_dict == {"id": pid, "confirmations": 1, "threshold": 2}
    with reverts("NotOwner"):
        cl.confirm(pid, sender=o2)
    # Added again, o2 starts afresh: its old confirmation does not come back.
    cl.govern([cl.add_owner_call(o2)], (o0, o1))
    assert cl.confirmations(pid) == 1
    assert not cl.call(cl.governance.functions.confirmedBy(pid, o2))
    cl.confirm(pid, sender=o2)
    cl.execute(pid, sender=o1)
    assert int(cl.call(cl.governance.functions.expiry())) == 7 * 86_400


def test_proposals_expire(pool: Pool) -> None:
    cl, (o0, o1, _) = pool.client, pool.actors.owners
    expiry = int(cl.call(cl.governance.functions.expiry()))
    pid = cl.propose([cl.set_quorum_call(1)], sender=o0)
    chain.advance_time(pool.w3, expiry + 1)
    with reverts("ProposalExpired"):  # never queued in time
        cl.confirm(pid, sender=o1)
    pid = cl.propose([cl.set_quorum_call(1)], sender=o0)
    cl.confirm(pid, sender=o1)
    eta = cl.proposal_eta(pid)
    assert int(cl.call(cl.governance.functions.expiresAt(pid))) == eta + expiry
    chain.advance_time(pool.w3, eta + expiry + 1 - chain.latest_timestamp(pool.w3))
    with reverts("ProposalExpired") as ei:  # queued, but not executed in time
        cl.execute(pid, sender=o0)
    assert ei.value.args_dict["expiredAt"] == eta + expiry
    for bad in (60, 366 * 86_400):
        with reverts("InvalidExpiry"):
            cl.govern([cl.set_expiry_call(bad)], (o0, o1))


def test_the_owners_threshold_cancels_a_proposal(pool: Pool) -> None:
    cl, (o0, o1, o2) = pool.client, pool.actors.owners
    pid = cl.propose([cl.set_quorum_call(1)], sender=o0)
    cl.confirm(pid, sender=o1)  # queued
    with reverts("NotOwner"):
        cl.cancel(pid, sender=pool.actors.reporters[0])
    cl.cancel(pid, sender=o2)
    with reverts("AlreadyVotedCancel"):
        cl.cancel(pid, sender=o2)
    receipt = cl.cancel(pid, sender=o0)
    assert cl.logs(receipt, "Governance", "Cancelled")
    chain.advance_time(pool.w3, scenario.DELAY)
    with reverts("ProposalIsCancelled"):
        cl.execute(pid, sender=o0)
    with reverts("ProposalIsCancelled"):
        cl.confirm(pid, sender=o2)
    with reverts("ProposalIsCancelled"):
        cl.cancel(pid, sender=o1)
    assert int(cl.call(cl.oracle.functions.quorum())) == 3
    done = cl.propose([cl.set_quorum_call(1)], sender=o0)
    cl.confirm(done, sender=o1)
    chain.advance_time(pool.w3, scenario.DELAY)
    cl.execute(done, sender=o0)
    with reverts("AlreadyExecuted"):
        cl.cancel(done, sender=o0)


# --- deposits ---------------------------------------------------------------------------------


def test_a_refused_deposit_leaves_no_allowance(pool: Pool) -> None:
    cl, m = pool.client, pool.actors.members
    cl.govern([cl.register_member_call(1, m[1], 78, scenario.ESCROW)], pool.actors.signers)
    for amount in (2**120, 0):
        with reverts("AmountOutOfRange") as ei:
            cl.deposit(amount, sender=m[1])
        assert ei.value.args_dict == {"amount": amount}
        assert cl.allowance(m[1]) == 0
    with reverts("NotMember"):
        cl.deposit(5, sender=m[2])  # not registered
    assert cl.allowance(m[2]) == 0
    cl.deposit(1_000, sender=m[1])
    with reverts("AlreadyDeposited"):  # refused by the contract after approving
        cl.deposit(7, sender=m[1])
    assert cl.allowance(m[1]) == 0 and cl.balance(cl.house.address) == 1_000
