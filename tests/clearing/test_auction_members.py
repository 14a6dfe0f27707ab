"""The members' side of the auction of the house's lot, in the engine: the check of the
operator's opening of the lot against the published exit data (good and tampered), and
the margin check of a bid before it is sent, which must agree with the engine's own
clearing of the award (docs/protocol.md, "The auction of the house's lot").

The pools of test_auction: N=4, M=2 at (100, 200), scenarios +-10 %, IM 150 % of MM,
dfFloor 50; the house holds 100 A long (MM 1,000 at the unchanged price).
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from zkclear.clearing import public
from zkclear.clearing.auction import (
    Award,
    BidNotMargined,
    Lot,
    LotMismatch,
    margin_bid,
    verify_lot,
)
from zkclear.clearing.epoch import run_epoch
from zkclear.clearing.state import Leaf
from zkclear.field import P

from .test_auction import lot_pool
from .test_waterfall import PRICES, fund

HOUSE_VKH = 77


def _after_a_liquidation():
    """Slot 3 (no collateral) wins with -300 but cannot hold the lot: liquidated, the lot
    goes back to the house (an epoch with a liquidation)."""
    old = lot_pool(0)
    old = replace(old, leaves=(replace(old.leaves[0], vkh=HOUSE_VKH), *old.leaves[1:]))
    r = run_epoch(old, fund(), PRICES, [], {}, award=Award(3, -300))
    assert r.slots[3].liquidated and any(r.new.leaves[0].positions)
    return r.new


def _published(state) -> list[int]:
    """The exit data an epoch ending in ``state`` publishes (nobody liquidated or paid)."""
    return public.exit_data(state.exit_leaves(), 0, 0, state.config.n_slots)


def _lot(state) -> Lot:
    house = state.leaves[0]
    return Lot(state.epoch, house.collateral, house.positions, house.vkh)


def test_the_operators_lot_checks_against_the_exit_data():
    state = _after_a_liquidation()
    lot = _lot(state)
    assert lot.positions == (100, 0) and not lot.flat
    assert verify_lot(lot, _published(state), HOUSE_VKH) is lot
    assert verify_lot(lot, _published(state)) is lot  # the vkh check is optional


@pytest.mark.parametrize("change,match", [
    ({"positions": (99, 0)}, "does not hash to the house leaf"),
    ({"positions": (100, 1)}, "does not hash to the house leaf"),
    ({"collateral": 201}, "does not hash"),
    ({"vkh": HOUSE_VKH + 1}, "not the house's registered"),
    ({"positions": (2**70, 0)}, "not a leaf"),
])
def test_a_tampered_lot_is_refused(change, match):
    state = _after_a_liquidation()
    with pytest.raises(LotMismatch, match=match):
        verify_lot(replace(_lot(state), **change), _published(state), HOUSE_VKH)


def test_a_lot_of_another_epoch_or_without_exit_data_is_refused():
    state = _after_a_liquidation()
    before = lot_pool(0)  # the state before the epoch: its exit data is not the lot's
    with pytest.raises(LotMismatch):
        verify_lot(_lot(state), _published(before))
    with pytest.raises(LotMismatch, match="no exit data"):
        verify_lot(_lot(state), [])
    # the collateral word (D[N], after the leaves) must agree too
    data = _published(state)
    n = state.config.n_slots
    with pytest.raises(LotMismatch, match="collateral"):
        verify_lot(_lot(state), [*data[:n], (data[n] + 1) % P, *data[n + 1:]])
    with pytest.raises(LotMismatch, match="not the exit data of any pool size"):
        verify_lot(_lot(state), data[:-1])


def test_a_bid_the_member_cannot_margin_is_refused():
    """Slot 3 with nothing: the lot's MM is 1,000 (IM 1,500); paid 300 it has 300."""
    with pytest.raises(BidNotMargined, match="below the initial margin 1500"):
        margin_bid(0, (0, 0), (100, 0), -300, PRICES, PRICES, fund())
    # with 1,500: paying 300 for the lot leaves 1,200 - 50 (the fund's call) < 1,500
    with pytest.raises(BidNotMargined, match="equity after the bid, 1150"):
        margin_bid(1500, (0, 0), (100, 0), 300, PRICES, PRICES, fund())


def test_a_bid_the_member_can_margin_is_accepted_as_the_engine_clears_it():
    """Slot 3 with 1,800, paid 300: its own equity 1,800 - 50 (the call) = 1,750 >= IM
    1,500 (the payment does not count); the engine clears the award with the same figures
    (and does not liquidate); with 1,500 of its own the same bid is refused."""
    fig = margin_bid(1800, (0, 0), (100, 0), -300, PRICES, PRICES, fund())
    assert (fig.equity, fig.maintenance_margin, fig.initial_margin) == (1750, 1000, 1500)
    assert fig.positions == (100, 0) and not fig.liquidated and fig.collateral_after == 2050
    with pytest.raises(BidNotMargined, match="does not count"):
        margin_bid(1500, (0, 0), (100, 0), -300, PRICES, PRICES, fund())
    r = run_epoch(lot_pool(1800), fund(), PRICES, [], {}, award=Award(3, -300))
    engine = r.slots[3].figures
    assert not engine.liquidated and engine.positions == fig.positions
    assert (engine.equity, engine.initial_margin) == (fig.equity, fig.initial_margin)
    assert r.new.leaves[3].positions == (100, 0)


def test_own_positions_count_and_a_settled_instruments_lot_is_not_margined():
    """Own short 100 A offsets the lot: nothing to margin, any bid the cash covers is
    accepted; out of bounds is refused, not raised as something else."""
    fig = margin_bid(400, (-100, 0), (100, 0), 300, PRICES, PRICES, fund())
    assert fig.positions == (0, 0) and fig.initial_margin == 0 and fig.equity == 100
    with pytest.raises(BidNotMargined, match="cannot be cleared"):
        margin_bid(0, (2**62, 0), (2**62, 0), 0, PRICES, PRICES, fund())
    fig = margin_bid(0, (0, 0), (100, 0), 0, PRICES, PRICES, fund(), live=(False, True))
    assert fig.positions == (0, 0)


def test_the_house_leaf_is_the_one_the_exit_data_opens():
    state = _after_a_liquidation()
    assert Leaf(state.leaves[0].collateral, state.leaves[0].positions, HOUSE_VKH, 1, 0,
                0).hash() == state.exit_leaves()[0]
