"""The auction of the house's lot on the embedded EVM (``contracts/LotAuction.sol``;
docs/protocol.md, "The auction of the house's lot").

No real proof is needed to open an auction: the pool is deployed around a verifier that
accepts every proof (:func:`accepting_verifier`, compiled here, never part of the system),
and each epoch is submitted with public inputs that match the contract's state in every
checked field (roots, hashes, events, totals, the exit challenge) and carry the auction
word under test, so ``submitEpoch`` runs its real checks and effects: the award check, the
lotBase update, the next epoch's auction. What the proof itself establishes (the award
cleared into the state) is the circuit's and the engine's to test.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from eth_abi import encode
from eth_utils import keccak

from zkclear import bounds
from zkclear.chain import contracts, scenario
from zkclear.chain import node as chain
from zkclear.chain.client import Client
from zkclear.chain.orders import Actors
from zkclear.chain.solidity import compile_sources
from zkclear.clearing import public
from zkclear.clearing.auction import (
    AuctionError,
    Award,
    auction_word,
    award_word,
    bid_commitment,
    reserve,
)
from zkclear.clearing.params import ParamsError
from zkclear.clearing.scenario import demo_params, demo_plans
from zkclear.clearing.state import Leaf

from .helpers import reverts

CFG = scenario.CFG
N, M = CFG.n_slots, CFG.n_instruments
WINDOW = 60
DAY = 86_400
LOT_MM = 12_345
PROOF = {"pi_a": ["1", "2", "1"], "pi_b": [["1", "2"], ["3", "4"], ["1", "0"]],
         "pi_c": ["1", "2", "1"]}


def accepting_verifier(w3: Any, sender: str) -> str:
    """A stand-in verifier that accepts every proof, with as many public inputs as the
    clearing house's submitEpoch takes (test only: compiled here, not in contracts/)."""
    (fn,) = [i for i in contracts.build()["ClearingHouse"].abi
             if i.get("name") == "submitEpoch"]
    n = int(re.fullmatch(r"uint256\[(\d+)\]", fn["inputs"][1]["type"]).group(1))
    src = ("// SPDX-License-Identifier: GPL-3.0-only\npragma solidity 0.8.28;\n"
           "contract AcceptingVerifier {\n"
           "    function verifyProof(uint256[2] calldata, uint256[2][2] calldata,\n"
           f"        uint256[2] calldata, uint256[{n}] calldata) external pure returns (bool) {{\n"
           "        return true;\n    }\n}\n")
    c, _ = contracts.deploy_contract(
        w3, compile_sources({"AcceptingVerifier.sol": src})["AcceptingVerifier"],
        sender=sender)
    return str(c.address)


@dataclass
class Pool:
    cl: Client
    act: Actors
    window: int
    reserve_bp: int

    @property
    def w3(self) -> Any:
        return self.cl.w3

    def member(self, slot: int) -> str:
        return self.act.members[slot]


def deploy(w3: Any, *, window: int = WINDOW, reserve_bp: int = 5_000,
           timeout: int = DAY) -> Pool:
    actors = Actors.of(w3, N)
    cl, act, _ = scenario.deploy_unproven(
        w3, CFG, demo_params(M, CFG.n_scenarios), demo_plans(CFG)[0].prices,
        verifier=accepting_verifier(w3, actors.deployer), auction_window=window,
        auction_reserve_bp=reserve_bp, withdrawal_timeout=timeout)
    cl.govern([cl.register_member_call(s, act.members[s], 77 + s, scenario.ESCROW)
               for s in (1, 2, 3)], act.signers)
    return Pool(cl, act, window, reserve_bp)


@pytest.fixture(scope="module")
def deployed() -> Pool:
    return deploy(chain.embedded_web3())


@pytest.fixture
def pool(deployed: Pool) -> Iterator[Pool]:
    snap = chain.snapshot(deployed.w3)
    try:
        yield deployed
    finally:
        chain.revert(deployed.w3, snap)


# --- driving epochs without proofs ---------------------------------------------------------


def close(p: Pool) -> Any:
    return p.cl.close_epoch((), 0, sender=p.act.operator)


def price(p: Pool, epoch: int) -> None:
    prices = demo_plans(CFG)[0].prices
    for r in p.act.reporters:
        p.cl.post_prices(epoch, prices, sender=r)


def inputs(p: Pool, epoch: int, word: int, *, liquidated: int = 0,
           exit_data: list[int] | None = None) -> tuple[list[int], list[int]]:
    """Public inputs matching the contract's state for ``epoch`` (closed and priced), with
    the auction word ``word``, laid out by the contract's own PUB_* constants; and D."""
    cl, fns = p.cl, p.cl.house.functions
    info = cl.epoch_info(epoch)
    d = exit_data or public.exit_data([1000 + j for j in range(N + 1)], liquidated, 0, N)
    new_root = 777 + epoch
    rho = public.exit_challenge(epoch, new_root, d)
    total = cl.total_collateral() + info["deposits"]
    values = {
        "OLD_ROOT": cl.state_root(), "NEW_ROOT": new_root,
        "EPOCH_INFO": public.epoch_info(epoch, info["nEvents"], total),
        "PARAMS_HASH": info["paramsHash"], "PRICES_PREV_HASH": cl.prices_hash(epoch - 1),
        "PRICES_HASH": cl.prices_hash(epoch), "EVENTS_ACC": info["eventsAcc"],
        "EXIT_SUM": public.exit_sum(d, rho),
        "FUND_INFO": public.fund_info(cl.df_scale(), 0, 0, rho), "AUCTION": word,
    }
    pub = [0] * int(fns.N_PUBLIC().call())
    for name, v in values.items():
        pub[int(getattr(fns, f"PUB_{name}")().call())] = v
    return pub, d


def submit(p: Pool, epoch: int, word: int, **kw: Any) -> Any:
    pub, d = inputs(p, epoch, word, **kw)
    return p.cl.submit_epoch(PROOF, pub, d, sender=p.act.operator)


def accept(p: Pool, word: int, **kw: Any) -> int:
    """Close the open epoch, price it and submit it with ``word``; returns its number."""
    epoch = p.cl.open_epoch()
    close(p)
    price(p, epoch)
    submit(p, epoch, word, **kw)
    return epoch


def with_lot(p: Pool, lot_mm: int = LOT_MM) -> int:
    """Accept epoch 1 leaving the house a lot (not flat, lotMM): epoch 2's auction opens."""
    t0 = accept(p, auction_word(None, False, lot_mm))
    assert t0 == 1
    return 2


def bids(p: Pool, offers: dict[int, int]) -> dict[int, Any]:
    return {s: p.cl.commit_bid(b, sender=p.member(s)) for s, b in offers.items()}


def at(p: Pool, t: int) -> None:
    """The next transaction runs at time ``t`` (eth-tester mines the travel's block one
    second before it)."""
    chain.advance_time(p.w3, t - chain.latest_timestamp(p.w3))


def to_reveals(p: Pool) -> None:
    a = p.cl.auction_of()
    assert a is not None
    at(p, a.commit_end)


def past_reveals(p: Pool) -> None:
    a = p.cl.auction_of()
    assert a is not None
    at(p, a.reveal_end)


def logs(p: Pool, receipt: Any, event: str) -> list[dict[str, Any]]:
    return p.cl.logs(receipt, "LotAuction", event)


# --- opening -------------------------------------------------------------------------------


def test_no_auction_while_the_house_is_flat(pool: Pool) -> None:
    cl = pool.cl
    assert cl.auction_of() is None and cl.lot_base() == 0
    with reverts("NoAuction"):
        cl.commit_bid(10, sender=pool.member(1))
    accept(pool, auction_word(None, True, 0))
    assert cl.lot_base() == 0 and cl.auction_of(2) is None
    close(pool)  # nothing to wait for
    assert cl.award_of(2) is None


def test_an_accepted_lot_opens_the_next_epochs_auction(pool: Pool) -> None:
    cl = pool.cl
    epoch = cl.open_epoch()
    close(pool)
    price(pool, epoch)
    pub, d = inputs(pool, epoch, auction_word(None, False, LOT_MM))
    receipt = cl.transact(cl.house.functions.submitEpoch(
        ((1, 2), ((1, 2), (3, 4)), (1, 2)), pub, d), sender=pool.act.operator,
        gas=3_000_000)
    t0 = int(pool.w3.eth.get_block(receipt["blockNumber"])["timestamp"])
    want = reserve(LOT_MM, pool.reserve_bp)
    assert want == -(-LOT_MM * pool.reserve_bp // 10_000) == 6_173
    (opened,) = logs(pool, receipt, "AuctionOpened")
    assert opened == {"epoch": 2, "reserve": want, "commitEnd": t0 + WINDOW,
                      "revealEnd": t0 + 2 * WINDOW}
    assert logs(pool, receipt, "LotBaseSet") == [{"epoch": 1, "lotBase": LOT_MM}]
    a = cl.auction_of()
    assert a is not None and (a.epoch, a.commit_end, a.reveal_end, a.reserve, a.best,
                              a.revealed) == (2, t0 + WINDOW, t0 + 2 * WINDOW, want, None, ())
    assert cl.lot_base() == LOT_MM and cl.auction_of(1) is None


# --- bidding -------------------------------------------------------------------------------


def test_three_bidders_highest_wins_and_a_tie_goes_to_the_earlier_reveal(pool: Pool) -> None:
    cl = pool.cl
    epoch = with_lot(pool)
    sealed = bids(pool, {1: 500, 2: 700, 3: 700})
    for s, sb in sealed.items():
        assert (sb.epoch, sb.slot) == (epoch, s)
        assert cl.bid_commitment_of(epoch, s) == sb.commitment == bid_commitment(
            cl.house.address, epoch, s, sb.bid, sb.salt)
    with reverts("RevealNotOpen"):
        cl.reveal_bid(sealed[1], sender=pool.member(1))
    to_reveals(pool)
    with reverts("AuctionRunning"):
        close(pool)
    for s in (3, 1, 2):  # 3 reveals 700 before 2 does
        r = cl.reveal_bid(sealed[s], sender=pool.member(s))
        assert logs(pool, r, "BidRevealed") == [{"epoch": epoch, "slot": s,
                                                  "bid": sealed[s].bid}]
    a = cl.auction_of()
    assert a is not None and a.best == Award(3, 700) and a.revealed == (1, 2, 3)
    with reverts("BidAlreadyRevealed"):
        cl.reveal_bid(sealed[2], sender=pool.member(2))
    with reverts("AuctionRunning") as ei:
        close(pool)
    assert ei.value.root.args_dict == {"epoch": epoch, "revealEnd": a.reveal_end}
    past_reveals(pool)
    receipt = close(pool)
    assert logs(pool, receipt, "LotAwarded") == [{"epoch": epoch, "slot": 3, "bid": 700}]
    assert cl.award_of(epoch) == Award(3, 700)
    assert cl.award_word(epoch) == award_word(Award(3, 700)) == 1 + 4 * 3 + (700 << 10)


def test_negative_bids_down_to_the_reserve(pool: Pool) -> None:
    cl = pool.cl
    epoch = with_lot(pool)
    floor = reserve(LOT_MM, pool.reserve_bp)
    sealed = bids(pool, {1: -floor - 1, 2: -floor, 3: -floor + 1})
    to_reveals(pool)
    with reverts("BidBelowReserve") as ei:
        cl.reveal_bid(sealed[1], sender=pool.member(1))
    assert ei.value.root.args_dict == {"bid": -floor - 1, "reserve": floor}
    cl.reveal_bid(sealed[2], sender=pool.member(2))
    assert cl.auction_of().best == Award(2, -floor)  # type: ignore[union-attr]
    cl.reveal_bid(sealed[3], sender=pool.member(3))
    past_reveals(pool)
    close(pool)
    assert cl.award_of(epoch) == Award(3, -floor + 1)
    assert cl.award_word(epoch) & 2  # neg


def test_refused_commits(pool: Pool) -> None:
    cl = pool.cl
    with_lot(pool)
    with reverts("NotMember"):
        cl.commit_bid(1, sender=pool.act.reporters[0])
    with reverts("HouseCannotBid"):
        cl.commit_bid(1, sender=pool.act.house)
    with reverts("InvalidBidCommitment"):
        cl.commit_bid_hash(bytes(32), sender=pool.member(1))
    cl.commit_bid(1, sender=pool.member(1))
    with reverts("BidAlreadyCommitted"):
        cl.commit_bid(2, sender=pool.member(1))
    with pytest.raises(AuctionError):  # refused before anything is sent
        cl.commit_bid(1 << bounds.FUND_BITS, sender=pool.member(2))
    to_reveals(pool)
    with reverts("CommitClosed"):
        cl.commit_bid(3, sender=pool.member(2))
    cl.govern([cl.remove_member_call(3)], pool.act.signers)
    with reverts("NotMember"):
        cl.reveal_bid(1, bytes(32), sender=pool.member(3))


def test_refused_reveals(pool: Pool) -> None:
    cl = pool.cl
    epoch = with_lot(pool)
    sb = cl.commit_bid(40, sender=pool.member(1))
    limit = 1 << bounds.FUND_BITS
    salt = bytes(range(32))
    raw = keccak(encode(["address", "uint256", "uint256", "int256", "bytes32"],
                        [cl.house.address, epoch, 2, limit, salt]))
    cl.commit_bid_hash(raw, sender=pool.member(2))
    to_reveals(pool)
    with reverts("NoBidCommitment"):
        cl.reveal_bid(40, sb.salt, sender=pool.member(3))
    with reverts("BidMismatch"):
        cl.reveal_bid(41, sb.salt, sender=pool.member(1))
    with reverts("BidMismatch"):
        cl.reveal_bid(40, bytes(32), sender=pool.member(1))
    with reverts("BidOutOfRange"):
        cl.transact(cl.auction.functions.revealBid(limit, salt), sender=pool.member(2))
    past_reveals(pool)
    with reverts("RevealClosed"):
        cl.reveal_bid(sb, sender=pool.member(1))
    receipt = close(pool)  # nothing was revealed
    assert logs(pool, receipt, "LotUnsold") == [{"epoch": epoch}]
    assert cl.award_word(epoch) == 0


def test_only_the_clearing_house_calls_the_hooks(pool: Pool) -> None:
    fns, anyone = pool.cl.auction.functions, pool.member(1)
    for fn in (fns.closeAuction(2), fns.acceptEpoch(1, 0, 0, 2)):
        with reverts("NotClearingHouse"):
            pool.cl.transact(fn, sender=anyone)


# --- close and the next epoch ---------------------------------------------------------------


def test_an_unsold_lot_is_auctioned_again_with_both_bounds(pool: Pool) -> None:
    cl = pool.cl
    epoch = with_lot(pool)
    bids(pool, {1: 5, 2: 6})
    past_reveals(pool)
    receipt = close(pool)
    assert logs(pool, receipt, "LotUnsold") == [{"epoch": epoch}]
    price(pool, epoch)
    submit(pool, epoch, auction_word(None, False, 1_000))
    assert cl.lot_base() == LOT_MM + 1_000
    a = cl.auction_of()
    assert a is not None and a.epoch == 3
    assert a.reserve == reserve(LOT_MM + 1_000, pool.reserve_bp)


def award_epoch(p: Pool, winner: int, bid: int) -> int:
    """Epoch 2 awarded to ``winner`` at ``bid`` and closed; returns 2."""
    epoch = with_lot(p)
    (sb,) = bids(p, {winner: bid}).values()
    to_reveals(p)
    p.cl.reveal_bid(sb, sender=p.member(winner))
    past_reveals(p)
    close(p)
    price(p, epoch)
    return epoch


def test_the_proof_must_carry_the_recorded_award(pool: Pool) -> None:
    cl = pool.cl
    epoch = award_epoch(pool, 2, -300)
    good = auction_word(Award(2, -300), False, 0)
    for wrong in (auction_word(None, False, 0), auction_word(Award(1, -300), False, 0),
                  auction_word(Award(2, 300), False, 0), good + 1):
        with reverts("AuctionMismatch") as ei:
            submit(pool, epoch, wrong)
        assert ei.value.root.args_dict == {"given": wrong & ((1 << 122) - 1),
                                           "expected": award_word(Award(2, -300))}
    submit(pool, epoch, good + (1 << 122))  # the house is flat after the award
    assert cl.lot_base() == 0 and cl.auction_of(3) is None


def test_a_sold_lot_leaves_only_the_new_bound(pool: Pool) -> None:
    epoch = award_epoch(pool, 2, 50)
    submit(pool, epoch, auction_word(Award(2, 50), False, 700))
    assert pool.cl.lot_base() == 700


def test_a_liquidated_winner_returns_the_lot_counted_once(pool: Pool) -> None:
    """The winner's own margin (its positions with the lot) is in the proof's lotMM: the
    next reserve base is lotMM alone, not the old base plus it (the lot twice)."""
    epoch = award_epoch(pool, 2, 50)
    submit(pool, epoch, auction_word(Award(2, 50), False, 700), liquidated=1 << 2)
    assert pool.cl.lot_base() == 700


def test_a_later_close_waits_for_the_auction_not_longer(pool: Pool) -> None:
    """closeEpoch(e + 1) is refused exactly until the reveal deadline; commits end at
    the commit deadline, reveals at the reveal deadline."""
    cl = pool.cl
    with_lot(pool)
    a = cl.auction_of()
    assert a is not None
    at(pool, a.commit_end - 1)
    sb = cl.commit_bid(9, sender=pool.member(1))
    at(pool, a.reveal_end - 1)
    with reverts("AuctionRunning"):
        close(pool)
    receipt = cl.reveal_bid(sb, sender=pool.member(1))
    assert pool.w3.eth.get_block(receipt["blockNumber"])["timestamp"] == a.reveal_end - 1
    receipt = close(pool)  # the next block
    assert pool.w3.eth.get_block(receipt["blockNumber"])["timestamp"] == a.reveal_end
    assert cl.award_of(2) == Award(1, 9)


# --- freeze during an auction ----------------------------------------------------------------


def test_freeze_and_exit_during_an_auction(pool: Pool) -> None:
    cl, m = pool.cl, pool.member
    cl.mint(m(1), 1_000, sender=pool.act.deployer)
    cl.deposit(1_000, sender=m(1))
    leaf = Leaf(1_000, (0,) * M, 78, 1)
    leaves = [Leaf(0, (0,) * M).hash()] * N + [0]
    leaves[1] = leaf.hash()
    d = public.exit_data(leaves, 0, 0, N)
    t0 = accept(pool, auction_word(None, False, LOT_MM), exit_data=d)
    assert t0 == 1 and cl.auction_of(2) is not None
    sb = cl.commit_bid(10, sender=m(2))
    cl.request_withdrawal(500, sender=m(1))
    chain.advance_time(pool.w3, cl.withdrawal_timeout())
    cl.freeze(sender=pool.act.reporters[0])
    assert cl.frozen()
    with reverts("PoolFrozen"):
        cl.reveal_bid(sb, sender=m(2))
    with reverts("PoolFrozen"):
        cl.commit_bid(5, sender=m(3))
    cl.exit(1, leaf.collateral, leaf.positions, leaf.df, leaf.vkh, leaf.nonce, d,
            sender=pool.act.reporters[0])
    assert cl.claimable(m(1)) == 1_000


# --- parameters ------------------------------------------------------------------------------


def test_auction_params_are_governed_and_bounded(pool: Pool) -> None:
    cl, signers = pool.cl, pool.act.signers
    assert cl.auction_params() == (pool.reserve_bp, WINDOW)
    receipt = cl.govern([cl.set_auction_params_call(0, DAY // 4)], signers)
    assert logs(pool, receipt, "AuctionParamsSet") == [{"reserveBp": 0, "window": DAY // 4}]
    assert cl.auction_params() == (0, DAY // 4)
    for bp, window in ((10_001, 60), (0, 0), (0, DAY + 1)):
        with reverts("InvalidAuctionParams"):
            cl.govern([cl.set_auction_params_call(bp, window)], signers)
    with reverts("AuctionWindowTooLong") as ei:  # 4 * window > withdrawalTimeout
        cl.govern([cl.set_auction_params_call(10_000, DAY // 4 + 1)], signers)
    assert ei.value.root.args_dict == {"window": DAY // 4 + 1, "withdrawalTimeout": DAY}
    with reverts("NotGovernance"):
        cl.transact(cl.auction.functions.setAuctionParams(1, 60), sender=signers[0])
    assert cl.auction_params() == (0, DAY // 4)


def test_the_withdrawal_timeout_keeps_four_auction_windows(pool: Pool) -> None:
    cl, signers = pool.cl, pool.act.signers
    with reverts("AuctionWindowTooLong") as ei:
        cl.govern([cl.set_withdrawal_timeout_call(4 * WINDOW - 1)], signers)
    assert ei.value.root.args_dict == {"window": WINDOW, "withdrawalTimeout": 4 * WINDOW - 1}
    cl.govern([cl.set_withdrawal_timeout_call(4 * WINDOW)], signers)
    assert cl.withdrawal_timeout() == 4 * WINDOW
    with reverts("AuctionWindowTooLong"):
        cl.govern([cl.set_auction_params_call(0, WINDOW + 1)], signers)


def test_the_deployment_checks_the_auction_params() -> None:
    params, prices = demo_params(M, CFG.n_scenarios), demo_plans(CFG)[0].prices
    acct = "0x" + "11" * 20
    base: dict[str, Any] = {"owners": (acct,), "threshold": 1, "reporters": (acct,),
                            "quorum": 1, "operator": acct, "house_account": acct}
    setup = contracts.PoolSetup(CFG, params, prices, **base)
    assert (setup.auction_reserve_bp, setup.auction_window) == (10_000, 600)
    for bad in ({"auction_reserve_bp": 10_001}, {"auction_window": 0},
                {"auction_window": DAY + 1}, {"withdrawal_timeout": 2_399}):
        with pytest.raises(ParamsError):
            contracts.PoolSetup(CFG, params, prices, **base, **bad)
