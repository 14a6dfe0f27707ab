"""The auction of the house's lot in the engine, on hand-computed pools (exact numbers;
docs/protocol.md, "The auction of the house's lot").

The pools of test_waterfall: N=4, M=2 at (100, 200), scenarios +-10 %, so a lot of A has
MM 10 at the unchanged price; penalty 10 % of MM; dfFloor 50, skinCap 30. The house holds
a lot of 100 A long (from an earlier default); prices do not move, so there is no
variation margin and every number below is the auction's.
"""

from __future__ import annotations

import pytest

from zkclear.clearing import public
from zkclear.clearing.auction import AuctionError, Award, unpack_auction
from zkclear.clearing.epoch import EpochError, run_epoch
from zkclear.clearing.state import Leaf
from zkclear.clearing.waterfall import Layers

from .test_waterfall import PRICES, fund, pool


def lot_pool(winner_collateral: int = 0):
    """House 200 and 100 A long; slot 1 short 60 (5,000), slot 2 short 40 (3,000), both
    with 50 in the fund; slot 3 a flat member with ``winner_collateral``."""
    return pool(Leaf(200, (100, 0)), Leaf(5000, (-60, 0), df=50), Leaf(3000, (-40, 0), df=50),
                Leaf(winner_collateral, (0, 0)))


def test_a_lot_sold_below_the_mark_is_a_loss_through_the_waterfall():
    """Slot 1 takes the lot and is paid 300: it ends long 40 A with 5,300; the house's 300
    is covered by its skin (30), the survivors' contributions (100), the rest (170) by the
    house beyond its skin."""
    r = run_epoch(lot_pool(), fund(), PRICES, [], {}, award=Award(1, -300))
    s1 = r.slots[1]
    assert not s1.liquidated and s1.maintenance_margin == 400
    assert r.new.leaves[1].positions == (40, 0) and r.new.leaves[1].collateral == 5300
    assert r.layers == Layers(own=0, residual=300, house=30, fund=100, haircut=0,
                              fund_base=100, gains=0)
    assert [r.new.leaves[i].df for i in (1, 2)] == [0, 0]
    house = r.new.leaves[0]
    assert (house.collateral, house.positions) == (0, (0, 0))
    assert r.house_flat and r.lot_mm == 0 and r.lot_sold
    assert r.total_collateral == r.old.total_collateral() == 8300


def test_a_lot_sold_above_the_mark_pays_the_house():
    r = run_epoch(lot_pool(), fund(), PRICES, [], {}, award=Award(2, 100))
    assert r.new.leaves[2].positions == (60, 0) and r.new.leaves[2].collateral == 2900
    assert r.new.leaves[0].collateral == 300 and r.new.leaves[0].positions == (0, 0)
    assert r.layers.residual == 0 and r.house_flat


def test_a_winner_without_the_margin_to_hold_the_lot_is_paid_nothing():
    """Slot 3 has nothing and bids -300 to be paid for the lot: with the lot its MM is
    1,000 > 300, so it is liquidated and unwinds the bid: no payment, no penalty, no
    shortfall; the lot goes back to the house, whose cash does not move."""
    r = run_epoch(lot_pool(0), fund(), PRICES, [], {}, award=Award(3, -300))
    s3 = r.slots[3]
    assert s3.liquidated and s3.maintenance_margin == 1000
    assert (s3.penalty, s3.shortfall, r.new.leaves[3].collateral) == (0, 0, 0)
    assert r.new.leaves[0].positions == (100, 0) and r.new.leaves[0].collateral == 200
    assert r.layers == Layers(fund_base=100) and not r.lot_sold
    assert r.lot_mm == 1000 and not r.house_flat
    assert [r.new.leaves[i].collateral for i in (1, 2)] == [5000, 3000]


def test_a_bid_beyond_the_winners_means_costs_only_the_winner():
    """Slot 3 (100) bids 5,000: liquidated, the bid unwound; it pays its penalty (10 % of
    MM 1,000, capped at its 100) like any defaulter, and nobody else pays anything."""
    r = run_epoch(lot_pool(100), fund(), PRICES, [], {}, award=Award(3, 5000))
    s3 = r.slots[3]
    assert s3.liquidated and (s3.penalty, s3.shortfall) == (100, 0)
    assert r.new.leaves[3].collateral == 0
    assert r.new.leaves[0].collateral == 300 and r.new.leaves[0].positions == (100, 0)
    assert r.layers.residual == 0
    assert [r.new.leaves[i].collateral for i in (1, 2)] == [5000, 3000]


def test_the_auction_word_carries_the_award_and_the_next_reserve():
    r = run_epoch(lot_pool(0), fund(), PRICES, [], {}, award=Award(3, -300))
    v = r.public_values()
    assert (v["awarded"], v["bidNeg"], v["winner"], v["bidAbs"]) == (1, 1, 3, 300)
    assert (v["houseFlat"], v["lotMM"]) == (0, 1000)
    word = r.public_signals()[public.PUBLIC_NAMES.index("auction")]
    assert unpack_auction(word) == (Award(3, -300), False, 1000)
    assert public.unpack(r.public_signals()) == v
    none = run_epoch(lot_pool(), fund(), PRICES, [], {})
    assert unpack_auction(none.public_signals()[-1]) == (None, False, 0)


def test_awards_outside_the_rules_are_refused():
    with pytest.raises(EpochError, match="winner must be a member"):
        run_epoch(pool(Leaf(200, (0, 0))), fund(), PRICES, [], {}, award=Award(3, 1))
    with pytest.raises(AuctionError, match="member slot"):
        Award(0, 1)
    with pytest.raises(AuctionError, match="2\\^112"):
        Award(1, -(1 << 112))


def test_the_houses_payment_is_not_margin_in_the_award_epoch():
    """Slot 3 with 800 of its own bids -300: with the payment it would hold 1,100 against
    the lot's MM 1,000, but the payment does not count until the award epoch is over, so
    it is liquidated and unwound: it pays its penalty (100) and is paid nothing."""
    r = run_epoch(lot_pool(800), fund(), PRICES, [], {}, award=Award(3, -300))
    s3 = r.slots[3]
    assert s3.liquidated and (s3.penalty, s3.shortfall) == (100, 0)
    assert r.new.leaves[3].collateral == 700 and r.new.leaves[0].positions == (100, 0)
    assert not r.lot_sold and r.layers.residual == 0
    # With 1,100 of its own it keeps the lot and is paid: 1,100 - 50 (its call) + 300.
    r = run_epoch(lot_pool(1100), fund(), PRICES, [], {}, award=Award(3, -300))
    assert r.lot_sold and r.new.leaves[3].collateral == 1350
