"""The auction of the house's lot from the members' side, end to end on the embedded EVM:
after an epoch with a liquidation the operator opens the house's leaf to members
(``GET /v1/lot``), which check it against the published exit data without trusting it;
a member's bid is checked against its own margin and the reserve before it is sealed,
saved and committed, then revealed between the deadlines (zkclear.roles.auction).
Members 1-3 deposit 200,000 each (tests/operator/helpers.py)."""

from __future__ import annotations

import json

import pytest

from zkclear.chain import node as chain
from zkclear.chain import scenario
from zkclear.clearing.auction import BidNotMargined, LotMismatch
from zkclear.clearing.trades import TradeReport
from zkclear.roles import auction as bids

from . import helpers as ops

Env = ops.ServiceEnv

#: The options of this module's ``env`` (tests/operator/conftest.py).
SERVICE = {"enrol": True, "auto_close": False, "auction_window": 600}  # steps take seconds
PRICES_1 = (1_010, 1_095)


def _wait_until(env: Env, t: int) -> None:
    wait = t - chain.latest_timestamp(env.pool.w3)
    if wait > 0:
        chain.advance_time(env.pool.w3, wait)


def test_no_lot_before_an_accepted_epoch(env: Env) -> None:
    with pytest.raises(Exception, match="no_accepted_epoch"):
        env.clients[2].lot()


def test_epoch_1_liquidates_slot_1_and_the_house_takes_its_positions(env: Env) -> None:
    """Slot 1 buys 1,333 A at 1,160 from slot 3; settled at 1,010 it is left with 50, far
    below its margin: liquidated, its long goes to the house, whose lot is auctioned in
    epoch 2."""
    for slot, side, other in ((1, 1, 3), (3, -1, 1)):
        env.clients[slot].submit_trades([TradeReport("a", 0, side, 1_333, 1_160, other)])
    env.clients[2].submit_trades([])
    scenario.post_prices(env.pool, 1, PRICES_1)
    assert env.admin("/v1/admin/epochs/1/net").status_code == 200
    for c in env.clients.values():
        c.commit(1)
    assert env.admin("/v1/admin/epochs/1/close").status_code == 200
    r = env.admin("/v1/admin/epochs/1/settle")
    assert r.status_code == 200 and r.json()["phase"] == "accepted", r.text
    state = env.service.state()
    assert state.leaves[1].positions == (0, 0) and state.leaves[0].positions == (1_333, 0)
    assert env.pool.client.auction_of() is not None


def test_the_lot_verifies_against_the_published_exit_data(env: Env, tmp_path) -> None:
    res = bids.member_lot(env.clients[2], tmp_path)
    assert res["epoch"] == 1 and res["positions"] == ["1333", "0"] and res["verified"]
    assert res["auction"]["epoch"] == 2 and res["auction"]["reserve"] > 0
    saved = json.loads((tmp_path / "lots" / "1.json").read_text())
    assert saved["format"] == "zkclear-lot-v1" and saved["positions"] == ["1333", "0"]


@pytest.mark.parametrize("field,value", [("positions", ["1332", "0"]),
                                         ("collateral", "0"), ("vkh", "1"), ("epoch", 9)])
def test_a_tampered_lot_is_refused(env: Env, monkeypatch, field, value) -> None:
    m = env.clients[2]
    doc = {**m.lot(), field: value}
    monkeypatch.setattr(m, "lot", lambda: doc)
    with pytest.raises(LotMismatch):
        bids.verified_lot(m)


def test_bids_are_checked_before_they_are_sent(env: Env) -> None:
    m = env.clients[2]
    auction = env.pool.client.auction_of()
    with pytest.raises(bids.BidError, match="below the reserve") as exc:
        bids.plan_bid(m, -auction.reserve - 1)
    assert exc.value.code == "below_reserve"
    with pytest.raises(BidNotMargined, match="below the initial margin"):
        bids.plan_bid(m, 150_000)  # 200,000 - 150,000 cannot margin 1,333 A
    # Its 200,000 do not cover the lot's initial margin (201,950), and the house's payment
    # is no margin in the award epoch: refused whatever it asks to be paid ...
    with pytest.raises(BidNotMargined, match="does not count"):
        bids.plan_bid(m, -auction.reserve)
    # ... until it deposits more (the open epoch's deposits count).
    env.pool.client.deposit(10_000, sender=env.pool.account(2))
    plan = bids.plan_bid(m, -auction.reserve)
    assert plan["positions_with_lot"] == [1_333, 0]
    assert plan["equity"] >= plan["initial_margin"] > 0


def test_commit_then_reveal_between_the_deadlines(env: Env, tmp_path) -> None:
    cl = env.pool.client
    auction = cl.auction_of()
    two, three = tmp_path / "m2", tmp_path / "m3"
    with pytest.raises(bids.BidError, match="no saved bid"):
        bids.reveal_bid(env.clients[2], two)
    res = bids.commit_bid(env.clients[2], -5_000, two)  # margined (210,000 >= IM 201,950)
    assert (two / "bids" / "2.json").stat().st_mode & 0o777 == 0o600
    assert cl.bid_commitment_of(2, 2).hex() == res["commitment"][2:]
    bids.commit_bid(env.clients[3], -20, three)  # its short offsets the lot
    with pytest.raises(bids.BidError, match="already committed"):
        bids.commit_bid(env.clients[2], -5, two)
    with pytest.raises(bids.BidError, match="too early") as exc:
        bids.reveal_bid(env.clients[2], two)
    assert exc.value.code == "reveal_not_open"
    _wait_until(env, auction.commit_end)
    with pytest.raises(bids.BidError, match="too late to bid"):
        bids.commit_bid(env.clients[1], 0, tmp_path / "m1")
    out = bids.reveal_bid(env.clients[2], two)
    assert out["revealed"] and out["best"] == {"slot": 2, "bid": -5_000}
    assert bids.reveal_bid(env.clients[2], two)["revealed"]  # idempotent
    _wait_until(env, auction.reveal_end)
    with pytest.raises(bids.BidError, match="too late") as exc:
        bids.reveal_bid(env.clients[3], three)
    assert exc.value.code == "reveal_closed"
