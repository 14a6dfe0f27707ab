"""The oracle's quorum posted in one transaction (docs/protocol.md, "Oracle", signed
posts): each reporter signs its post off-chain, anyone submits a whole quorum with
``postSignedMarks``, and the round concludes at once from calldata, never storing the
posts.

Every rule of the direct path holds for each signed post (its recovered signer a
reporter, once per batch; the epoch; observedAt; ranges; funding; venues) and the
conclusion is the same (median, breaker, funding index): the same final marks, markHash
and pricesHash as the same posts sent directly, at less gas. The digest binds the domain,
chain, oracle, epoch and every value, and Python computes it as the contract does.
Pools are deployed with a stand-in verifier (no proof is submitted here): ``plain`` (two
futures, quorum 3 of 3), ``perp`` (a future and a perpetual) and ``five`` (five
reporters, quorum 3: the submitter chooses which three).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct

from zkclear.chain import contracts, poseidon_evm, scenario
from zkclear.chain import node as chain
from zkclear.chain.client import (
    SECP256K1_HALF_N,
    Client,
    SignedPost,
    eip191_digest,
    encode_venues,
    prices_inner,
)
from zkclear.chain.commits import split_signature
from zkclear.chain.pool import Actors
from zkclear.clearing.params import PoolConfig
from zkclear.clearing.scenario import demo_params

from .helpers import reverts

K = 4
GENESIS = (1_000, 1_100)
MAX_AGE, BREAKER_DELAY = 3600, 600  # PoolSetup's defaults
Deployed = tuple[Client, Actors, contracts.PoolSetup]


def _deploy(genesis: Sequence[int], **setup: Any) -> Deployed:
    return scenario.deploy_unproven(chain.embedded_web3(), PoolConfig(4, 2, K),
                                    demo_params(2, K), genesis, **setup)


def _rolled_back(deployed: Deployed) -> Iterator[Deployed]:
    snap = chain.snapshot(deployed[0].w3)
    try:
        yield deployed
    finally:
        chain.revert(deployed[0].w3, snap)


@pytest.fixture(scope="module")
def plain_deployed() -> Deployed:
    return _deploy(GENESIS)


@pytest.fixture(scope="module")
def perp_deployed() -> Deployed:
    from zkclear.clearing.instruments import Instrument, Kind
    return _deploy((1_000, 2_000), instruments=(Instrument(), Instrument(Kind.PERPETUAL)),
                   max_funding_bp=100)


@pytest.fixture(scope="module")
def five_deployed() -> Deployed:
    w3 = chain.embedded_web3()
    a = w3.eth.accounts
    return scenario.deploy_unproven(w3, PoolConfig(4, 2, K), demo_params(2, K), GENESIS,
                                    reporters=(a[3], a[4], a[5], a[7], a[8]))


@pytest.fixture
def plain(plain_deployed: Deployed) -> Iterator[Deployed]:
    yield from _rolled_back(plain_deployed)


@pytest.fixture
def perp(perp_deployed: Deployed) -> Iterator[Deployed]:
    yield from _rolled_back(perp_deployed)


@pytest.fixture
def five(five_deployed: Deployed) -> Iterator[Deployed]:
    yield from _rolled_back(five_deployed)


def signed(cl: Client, act: Actors, epoch: int, *posts: Sequence[int],
           funding: Sequence[Sequence[int]] = (), observed_at: int | None = None,
           signers: Sequence[str] | None = None) -> list[SignedPost]:
    """Reporter i's (or ``signers[i]``'s) signed post of ``posts[i]``."""
    who = list(signers) if signers is not None else list(act.reporters)
    return [cl.sign_post_as(who[i], epoch, p, observed_at=observed_at,
                            funding=funding[i] if funding else None)
            for i, p in enumerate(posts)]


def submit(cl: Client, epoch: int, posts: Sequence[SignedPost], sender: str) -> Any:
    """postSignedMarks as sent, whatever epoch the posts were signed for."""
    return cl.transact(cl.oracle.functions.postSignedMarks(
        epoch, [p.as_tuple() for p in posts]), sender=sender)


def sign_key(cl: Client, account: str, inner: bytes) -> bytes:
    """``account``'s EIP-191 signature of ``inner`` (whatever it is the digest of)."""
    key = chain.embedded_private_key(cl.w3, account)
    return bytes(Account.sign_message(encode_defunct(primitive=inner), key).signature)


def state(cl: Client, epoch: int = 1) -> tuple[Any, ...]:
    """What a refused batch must leave unchanged."""
    return (int(cl.call(cl.oracle.functions.lastFinalEpoch())), cl.mark_hash(epoch),
            tuple(cl.call(cl.oracle.functions.rounds(epoch))), cl.pending_prices(epoch))


# --- the digest -------------------------------------------------------------------------


def test_python_digest_is_the_contracts(plain: Deployed) -> None:
    cl, act, _ = plain
    venues = {"alpha": (1_000, 1_100), "beta": (1_010, 1_090), "gamma": (990, 1_300)}
    post = cl.sign_post_as(act.reporters[0], 1, venues=venues, observed_at=12_345)
    assert post.prices == (1_000, 1_100) and post.venues == encode_venues(venues)
    inner = prices_inner(cl.deployment.chain_id, cl.oracle.address, 1, 12_345, post.prices,
                         post.funding, post.venues)
    assert cl.prices_digest(post) == eip191_digest(inner)
    assert cl.post_signer(post) == act.reporters[0]
    for other in (replace(post, epoch=2), replace(post, observed_at=12_346),
                  replace(post, prices=(1_000, 1_101)), replace(post, funding=(0, 1)),
                  replace(post, venues=b"")):
        assert cl.prices_digest(other) != cl.prices_digest(post)
    assert int.from_bytes(post.s, "big") <= SECP256K1_HALF_N and post.v in (27, 28)


def test_the_oracle_fits_eip_170() -> None:
    """With the signed path (and the shared Signatures library in the house)."""
    built = contracts.build()
    for name in ("PriceOracle", "ClearingHouse"):
        assert (len(built[name].deployed_bytecode) - 2) // 2 <= poseidon_evm.CODE_LIMIT, name


# --- the same conclusion as the direct path -----------------------------------------------


def test_a_batch_concludes_as_the_direct_posts_at_less_gas(plain: Deployed) -> None:
    cl, act, _ = plain
    r, op = act.reporters, act.operator
    ts = chain.latest_timestamp(cl.w3) - 10
    venues = {"alpha": (1_004, 1_100), "beta": (1_010, 1_090), "gamma": (990, 1_300)}
    posts = [(1_010, 1_090), (995, 1_120)]
    snap = chain.snapshot(cl.w3)
    direct = [cl.post_prices(1, sender=r[0], venues=venues, observed_at=ts)]
    direct += [cl.post_prices(1, p, sender=r[i + 1], observed_at=ts) for i, p in enumerate(posts)]
    want = (cl.final_prices(1), cl.mark_hash(1), cl.prices_hash(1), cl.posted_venues(1))
    direct_gas = [int(x["gasUsed"]) for x in direct]
    chain.revert(cl.w3, snap)

    batch = [cl.sign_post_as(r[0], 1, venues=venues, observed_at=ts)]
    batch += signed(cl, act, 1, *posts, observed_at=ts, signers=r[1:])
    assert state(cl)[1] == 0
    receipt = cl.post_signed_marks(1, batch, sender=op)  # the operator submits
    assert (cl.final_prices(1), cl.mark_hash(1), cl.prices_hash(1),
            cl.posted_venues(1)) == want
    assert cl.final_prices(1) == (1_004, 1_100)  # medians of (1004, 1010, 995), ...
    assert [e["reporter"] for e in cl.logs(receipt, "PriceOracle", "PricesPosted")] == list(r)
    assert len(cl.logs(receipt, "PriceOracle", "MarksFinalised")) == 1
    assert int(cl.call(cl.oracle.functions.lastFinalEpoch())) == 1
    # One transaction instead of three, no post stored: cheaper than the three together
    # (measured: bench/bench_contract_gas.py, docs/benchmarks.md).
    assert int(receipt["gasUsed"]) < sum(direct_gas)
    with reverts("PricesAlreadyFinal"):  # the same batch again
        submit(cl, 1, batch, op)


def test_the_submitter_picks_within_the_honest_posts(five: Deployed) -> None:
    """Five reporters, quorum 3, one dishonest: whichever three posts the submitter
    includes, the final price lies between the smallest and largest honest post."""
    cl, act, setup = five
    honest = [(990, 1_100), (1_000, 1_100), (1_010, 1_100), (1_020, 1_100)]
    every = signed(cl, act, 1, *honest, (801, 1_100), signers=setup.reporters)
    finals = set()
    for pick in itertools.combinations(range(5), 3):
        snap = chain.snapshot(cl.w3)
        cl.post_signed_marks(1, [every[i] for i in pick], sender=act.operator)
        finals.add(cl.final_prices(1)[0])
        chain.revert(cl.w3, snap)
    assert finals and min(finals) >= 990 and max(finals) <= 1_020


# --- refused batches: a named error, nothing changed -----------------------------------------


def test_refused_batches_change_nothing(plain: Deployed) -> None:
    cl, act, _ = plain
    r, op, stranger = act.reporters, act.operator, act.owners[1]
    now = chain.latest_timestamp(cl.w3)
    good = signed(cl, act, 1, GENESIS, GENESIS, GENESIS)
    before = state(cl)

    def refused(error: str, posts: Sequence[SignedPost], epoch: int = 1) -> Any:
        with reverts(error) as ei:
            submit(cl, epoch, posts, op)
        assert state(cl) == before
        return ei.value.args_dict

    # Signers: a non-reporter; a reporter twice; a post altered after signing.
    (theirs,) = signed(cl, act, 1, GENESIS, signers=[stranger])
    assert refused("NotReporter", [good[0], theirs, good[2]]) == {"caller": stranger}
    assert refused("AlreadyPosted", [good[0], good[1], good[0]]) == {"epoch": 1,
                                                                     "reporter": r[0]}
    altered = replace(good[1], prices=(1_001, 1_100))
    assert refused("NotReporter", [good[0], altered, good[2]])["caller"] not in r
    # Malleable high-s (the same signature's twin: valid for ecrecover) and a bad v.
    s = int.from_bytes(good[1].s, "big")
    twin = replace(good[1], s=(2 * SECP256K1_HALF_N + 1 - s).to_bytes(32, "big"),
                   v=55 - good[1].v)
    assert refused("InvalidPostSignature", [good[0], twin, good[2]]) == {"post": 1}
    assert refused("InvalidPostSignature", [good[0], good[1], replace(good[2], v=29)]) == {
        "post": 2}
    # Not a quorum: fewer, or more.
    assert refused("NotQuorum", good[:2]) == {"posts": 2, "quorum": 3}
    refused("NotQuorum", [*good, good[0]])
    # Epochs: past, not yet open; signed for another epoch than submitted.
    refused("PricesAlreadyFinal", signed(cl, act, 0, GENESIS, GENESIS, GENESIS), 0)
    assert refused("PriceEpochInFuture", signed(cl, act, 2, GENESIS, GENESIS, GENESIS),
                   2) == {"epoch": 2, "openEpoch": 1}
    refused("NotReporter", signed(cl, act, 2, GENESIS, GENESIS, GENESIS))
    # observedAt: older than maxAge; in the future.
    stale = signed(cl, act, 1, GENESIS, observed_at=now - MAX_AGE - 5)
    refused("StalePrice", [stale[0], *good[1:]])
    ahead = signed(cl, act, 1, GENESIS, observed_at=now + 1_000, signers=[r[2]])
    refused("PriceFromFuture", [*good[:2], ahead[0]])
    # Ranges and counts, as a direct post: a zero mark, a wrong count, bad venues.
    refused("ZeroPrice", [*good[:2], *signed(cl, act, 1, (0, 1_100), signers=[r[2]])])
    refused("WrongPriceCount", [*signed(cl, act, 1, (1_000,)), *good[1:]])
    blob = encode_venues({"a": (1_000, 1_100), "b": (1_010, 1_100)})  # median 1005
    inner = cl.prices_inner(1, now, GENESIS, (0, 0), blob)
    bad_venues = SignedPost(1, now, GENESIS, (0, 0), blob,
                            *split_signature(sign_key(cl, r[0], inner)))
    assert refused("VenueMedianMismatch", [bad_venues, *good[1:]])["venueMedian"] == 1_005
    # A signature for another chain or another oracle recovers a stranger.
    for chain_id, oracle in ((cl.deployment.chain_id + 1, cl.oracle.address),
                             (cl.deployment.chain_id, cl.house.address)):
        inner = prices_inner(chain_id, oracle, 1, good[0].observed_at, GENESIS, (0, 0), b"")
        elsewhere = replace(good[0], **dict(zip("vrs", split_signature(
            sign_key(cl, r[0], inner)), strict=True)))
        refused("NotReporter", [elsewhere, *good[1:]])
    # The good batch still goes through.
    cl.post_signed_marks(1, good, sender=r[2])  # a reporter may submit too
    assert cl.final_prices(1) == GENESIS


def test_a_batch_is_useless_for_the_next_epoch(plain: Deployed) -> None:
    cl, act, _ = plain
    batch = signed(cl, act, 1, GENESIS, GENESIS, GENESIS)
    cl.post_signed_marks(1, batch, sender=act.operator)
    cl.close_epoch([], sender=act.operator)
    assert cl.open_epoch() == 2
    before = state(cl, 2)
    with reverts("NotReporter"):
        submit(cl, 2, batch, act.operator)
    with reverts("PricesAlreadyFinal"):
        submit(cl, 1, batch, act.operator)
    assert state(cl, 2) == before
    cl.post_signed_marks(2, signed(cl, act, 2, GENESIS, GENESIS, GENESIS), sender=act.operator)
    assert cl.final_prices(2) == GENESIS


# --- rounds: direct posts, expiry, the breaker --------------------------------------------


def test_a_round_with_direct_posts_is_finished_directly(plain: Deployed) -> None:
    """A batch only into a fresh round: one direct post and the batch is refused; the
    reporters finish the round directly (nobody's batch can keep them from it)."""
    cl, act, _ = plain
    r = act.reporters
    batch = signed(cl, act, 1, GENESIS, GENESIS, GENESIS)
    cl.post_prices(1, (1_010, 1_100), sender=r[0])
    before = state(cl)
    with reverts("RoundHasPosts") as ei:
        cl.post_signed_marks(1, batch, sender=act.operator)
    assert ei.value.args_dict == {"epoch": 1, "posts": 1} and state(cl) == before
    cl.post_prices(1, (1_020, 1_100), sender=r[1])
    cl.post_prices(1, (1_030, 1_100), sender=r[2])
    assert cl.final_prices(1) == (1_020, 1_100)


def test_a_batch_starts_a_new_round_after_an_expired_one(plain: Deployed) -> None:
    cl, act, _ = plain
    now = chain.latest_timestamp(cl.w3)
    cl.post_prices(1, GENESIS, sender=act.reporters[0], observed_at=now - 3_000)
    chain.advance_time(cl.w3, 601)  # that observation is now older than maxAge
    receipt = cl.post_signed_marks(1, signed(cl, act, 1, (1_020, 1_100), (1_030, 1_100),
                                             (1_010, 1_100)), sender=act.operator)
    assert cl.logs(receipt, "PriceOracle", "RoundExpired")
    assert cl.final_prices(1) == (1_020, 1_100)


def test_a_batch_trips_the_breaker_like_direct_posts(plain: Deployed) -> None:
    cl, act, _ = plain
    r, op = act.reporters, act.operator
    crash = (600, 1_100)  # -40 %, band 20 %
    receipt = cl.post_signed_marks(1, signed(cl, act, 1, crash, (590, 1_100), (610, 1_100)),
                                   sender=op)
    (ev,) = cl.logs(receipt, "PriceOracle", "BreakerTripped")
    tripped = chain.latest_timestamp(cl.w3)
    assert tuple(ev["prices"]) == crash and ev["releaseAt"] == tripped + BREAKER_DELAY
    assert cl.pending_prices(1) == (crash, tripped + BREAKER_DELAY) and cl.prices_hash(1) == 0
    with reverts("BreakerPending"):
        cl.post_prices(1, GENESIS, sender=r[0])
    with reverts("BreakerPending"):
        cl.post_signed_marks(1, signed(cl, act, 1, GENESIS, GENESIS, GENESIS), sender=op)
    with reverts("BreakerDelayNotOver"):
        cl.release_prices(1, sender=op)
    chain.advance_time(cl.w3, BREAKER_DELAY)
    cl.release_prices(1, sender=op)
    assert cl.final_prices(1) == crash


def test_a_held_batch_goes_stale_and_a_new_round_starts(plain: Deployed) -> None:
    cl, act, _ = plain
    crash = (600, 1_100)
    cl.post_signed_marks(1, signed(cl, act, 1, crash, crash, crash), sender=act.operator)
    chain.advance_time(cl.w3, MAX_AGE + 1)
    with reverts("StalePrice"):
        cl.release_prices(1, sender=act.operator)
    receipt = cl.post_signed_marks(1, signed(cl, act, 1, (620, 1_100), (620, 1_100),
                                             (620, 1_100)), sender=act.operator)
    assert cl.logs(receipt, "PriceOracle", "RoundExpired")
    assert cl.logs(receipt, "PriceOracle", "BreakerTripped")  # still beyond the band


# --- perpetuals -----------------------------------------------------------------------------


def test_a_batch_carries_the_funding(perp: Deployed) -> None:
    cl, act, _ = perp
    e1, funding = (1_010, 2_000), [(0, 20), (0, -5), (0, 3)]
    snap = chain.snapshot(cl.w3)
    for i, f in enumerate(funding):
        cl.post_prices(1, e1, sender=act.reporters[i], funding=f)
    want = (cl.funding_index(1), cl.mark_hash(1), cl.prices_hash(1))
    chain.revert(cl.w3, snap)
    batch = signed(cl, act, 1, e1, e1, e1, funding=funding)
    with reverts("FundingBeyondClamp"):  # 100 bp of 2000 is 20
        submit(cl, 1, [*batch[:2], *signed(cl, act, 1, e1, funding=[(0, 21)],
                                            signers=[act.reporters[2]])], act.operator)
    with reverts("FundingNotPerpetual"):
        submit(cl, 1, [*batch[:2], *signed(cl, act, 1, e1, funding=[(1, 0)],
                                            signers=[act.reporters[2]])], act.operator)
    cl.post_signed_marks(1, batch, sender=act.operator)
    assert (cl.funding_index(1), cl.mark_hash(1), cl.prices_hash(1)) == want
    assert cl.funding_index(1) == (0, 3)
    assert [p["funding"] for p in cl.posted_venues(1)] == funding
