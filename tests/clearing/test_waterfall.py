"""The default fund, the loss waterfall and Cover-2 on hand-computed pools (exact numbers;
docs/protocol.md, "Default fund, the loss waterfall and Cover-2").

Pool: N=4 (0 = house), M=2 instruments A, B at (100, 200); scenarios: both prices up or
down 10 %; initial margin 1.5 x MM; penalty 10 % of MM; Cover-2 stress 2 x the margin
scenarios (stress_bp 20000). A long or short lot of A at 110 has MM 11 per lot.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from zkclear.clearing import public
from zkclear.clearing.epoch import run_epoch
from zkclear.clearing.events import Event, Kind
from zkclear.clearing.params import ParamsError, PoolConfig, RiskParams
from zkclear.clearing.state import Leaf, PoolState
from zkclear.clearing.waterfall import Layers, cover2, pro_rata

from .helpers import vkh

CFG = PoolConfig(4, 2, 2)
BASE = RiskParams.symmetric(2, [1000], im_factor_bp=15_000, penalty_bp=1_000)
PRICES = (100, 200)


def fund(df_floor: int = 50, df_share_bp: int = 0, stress_bp: int = 20_000,
         skin_cap: int = 30) -> RiskParams:
    return replace(BASE, df_floor=df_floor, df_share_bp=df_share_bp, stress_bp=stress_bp,
                   skin_cap=skin_cap)


def pool(house: Leaf, *members: Leaf, df_scale: int = 0) -> PoolState:
    """Members in slots 1.. (their vkh set); the house's leaf as given."""
    leaves = [replace(lf, vkh=vkh(i), status=1) for i, lf in enumerate(members, 1)]
    leaves += [Leaf(0, (0, 0))] * (CFG.n_slots - 1 - len(leaves))
    st = PoolState(CFG, 3, (replace(house, status=1), *leaves), PRICES, df_scale=df_scale)
    for m in range(2):
        assert sum(lf.positions[m] for lf in st.leaves) == 0
    return st


def test_every_layer_in_turn():
    """Slot 1 (short 100 A, no collateral, 50 in the fund) loses 1,000 when A goes to 110:
    its own contribution 50, the house's skin 30 (of 200), the survivors' fund 100 and
    820 of their 1,000 of gains cover the 1,000."""
    st = pool(Leaf(200, (0, 0)), Leaf(0, (-100, 0), df=50), Leaf(2000, (60, 0), df=50),
              Leaf(1000, (40, 0), df=50))
    r = run_epoch(st, fund(), (110, 200), [], {})
    s1, s2, s3 = r.slots[1], r.slots[2], r.slots[3]
    assert (s1.liquidated, s1.shortfall, s1.figures.own_fund_used) == (True, 1000, 50)
    assert r.layers == Layers(own=50, residual=950, house=30, fund=100, haircut=820,
                              fund_base=100, gains=1000)
    assert r.layers.uncovered == 0
    # pro rata, rounded up: u = 100 * 50 / 100 each; y = 820 * 600 / 1000, 820 * 400 / 1000
    assert (s2.figures.fund_share, s2.figures.haircut) == (50, 492)
    assert (s3.figures.fund_share, s3.figures.haircut) == (50, 328)
    new = r.new.leaves
    assert (new[1].collateral, new[1].df, new[1].positions) == (0, 0, (0, 0))
    assert (new[2].collateral, new[2].df) == (2600 - 492, 0)
    assert (new[3].collateral, new[3].df) == (1400 - 328, 0)
    assert new[0].collateral == 200 - 30 and new[0].positions == (-100, 0)
    assert r.total_collateral == r.old.total_collateral() == 3350
    v = r.public_values()
    assert (v["fundOwn"], v["fundHouse"], v["fundShared"], v["fundHaircut"]) == (50, 30, 100, 820)
    assert (v["fundBase"], v["fundGains"]) == (100, 1000)
    assert public.unpack(r.public_signals()) == v


def test_what_no_layer_covers_stays_with_the_house():
    """As above, but the house holds half the long side: the survivors gain only 500, so
    320 of the loss stays with the house beyond its skin in the game."""
    st = pool(Leaf(200, (50, 0)), Leaf(0, (-100, 0), df=50), Leaf(2000, (30, 0), df=50),
              Leaf(1000, (20, 0), df=50))
    r = run_epoch(st, fund(), (110, 200), [], {})
    assert r.layers == Layers(own=50, residual=950, house=30, fund=100, haircut=500,
                              fund_base=100, gains=500)
    assert r.layers.uncovered == 320
    assert [s.figures.haircut for s in r.slots[2:]] == [300, 200]  # all their gains
    assert r.new.leaves[0].collateral == 200 + 500 - 30 - 320


def test_the_house_skin_is_capped_by_what_it_has():
    st = pool(Leaf(10, (0, 0)), Leaf(0, (-100, 0), df=50), Leaf(2000, (60, 0), df=50),
              Leaf(1000, (40, 0), df=50))
    r = run_epoch(st, fund(skin_cap=10**6), (110, 200), [], {})
    assert (r.layers.house, r.layers.fund, r.layers.haircut) == (10, 100, 840)
    assert r.new.leaves[0].collateral == 0


def test_a_small_default_is_the_defaulters_own():
    st = pool(Leaf(200, (0, 0)), Leaf(0, (-1, 0), df=50), Leaf(2000, (1, 0), df=50))
    r = run_epoch(st, fund(), (110, 200), [], {})
    assert r.slots[1].liquidated and r.layers == Layers(own=10, fund_base=50, gains=10)
    assert r.new.leaves[1].df == 40 and r.new.leaves[2].collateral == 2010


def test_two_defaults_in_one_epoch_share_the_layers():
    st = pool(Leaf(0, (0, 0)), Leaf(0, (-60, 0), df=50), Leaf(0, (-40, 0), df=50),
              Leaf(5000, (100, 0), df=50))
    r = run_epoch(st, fund(), (110, 200), [], {})
    assert r.liquidated_mask == 0b0110
    assert r.layers == Layers(own=100, residual=900, house=0, fund=50, haircut=850,
                              fund_base=50, gains=1000)
    assert r.new.leaves[3].collateral == 6000 - 850 and r.new.leaves[3].df == 0
    assert r.new.leaves[0].collateral == 0


def test_the_call_moves_collateral_into_the_fund_and_back():
    # dfScale 5000: req = max(50, ceil(ST * 5000 / 10000)) with ST = 2 * MM.
    st = pool(Leaf(0, (-10, 0)), Leaf(1000, (10, 0)), Leaf(500, (0, 0), df=80),
              df_scale=5000)
    r = run_epoch(st, fund(), PRICES, [], {})
    s1, s2 = r.slots[1].figures, r.slots[2].figures
    # slot 1: MM 100, ST 200, req max(50, 100) = 100, called from collateral
    assert (s1.maintenance_margin, s1.stress, s1.required) == (100, 200, 100)
    assert (r.new.leaves[1].collateral, r.new.leaves[1].df) == (900, 100)
    # slot 2: flat (no margin requirement): it contributes nothing, its 80 come back
    assert (s2.maintenance_margin, s2.required) == (0, 0)
    assert (r.new.leaves[2].collateral, r.new.leaves[2].df) == (580, 0)
    assert r.total_collateral == r.old.total_collateral()


def test_the_call_never_liquidates_an_unmet_call_refuses_withdrawals():
    # equity 120 >= MM 100 before the call: the call takes the 20 above MM of the floor's
    # 50; the member stays, and its withdrawal is refused until the call is met.
    st = pool(Leaf(0, (-10, 0)), Leaf(120, (10, 0)))
    r = run_epoch(st, fund(), PRICES, [Event(Kind.WITHDRAW, 1, 1)], {})
    s = r.slots[1].figures
    assert (s.cash_pre, s.equity, s.liquidated) == (120, 100, False)
    assert (s.required, s.df_held, s.call_met) == (50, 20, False)
    assert not s.withdrawal_granted and r.granted_mask == 0
    assert (r.new.leaves[1].collateral, r.new.leaves[1].df) == (100, 20)
    # Cover-2 missed (80 of the member's stress of 200 uncovered, no skin): dfScale 4000
    # next, so req = 80; with 300 deposited the next epoch takes the other 60 and grants.
    assert (r.cover2.requirement, r.new.df_scale) == (80, 4000)
    events = [Event(Kind.DEPOSIT, 1, 300), Event(Kind.WITHDRAW, 1, 10)]
    r2 = run_epoch(r.new, fund(), PRICES, events, {})
    s2 = r2.slots[1].figures
    assert (s2.required, s2.df_held, s2.call_met, s2.withdrawal_granted) == (80, 80, True, True)
    assert (r2.new.leaves[1].collateral, r2.new.leaves[1].df) == (400 - 60 - 10, 80)


def test_a_haircut_counts_against_the_withdrawal():
    st = pool(Leaf(0, (0, 0)), Leaf(0, (-100, 0), df=50), Leaf(1700, (100, 0), df=50))
    events = [Event(Kind.WITHDRAW, 2, 1000)]
    r = run_epoch(st, fund(skin_cap=0), (110, 200), events, {})
    # e = 2700, IM = ceil(1100 * 1.5) = 1650; haircut 950 - 50 = 900:
    # 2700 - 900 - 1000 = 800 < 1650: refused (without the haircut it would be granted)
    assert r.slots[2].figures.haircut == 900 and not r.slots[2].withdrawal_granted


@pytest.mark.parametrize(("house_c", "met"), [(50, True), (49, False)])
def test_cover2_exactly_met_and_missed_by_one(house_c, met):
    """Two survivors short of their stress loss by 30 and 40 (C2 = 70); the fund holds
    2 x 10 after returning the excess (the flat member contributes nothing); the house's
    layer is its collateral."""
    st = pool(Leaf(house_c, (0, 0)), Leaf(120, (10, 0), df=50), Leaf(110, (-10, 0), df=50),
              Leaf(0, (0, 0), df=50))
    r = run_epoch(st, fund(df_floor=10, skin_cap=1000), PRICES, [], {})
    unc = [max(0, s.figures.stress - s.after.collateral - s.after.df) for s in r.slots[1:]]
    assert unc == [30, 40, 0]
    assert r.cover2.requirement == 70 and r.cover2.resources == 20 + house_c
    assert r.cover2.met is met and r.public_values()["cover2Met"] == int(met)
    # dfScale next: the share of the survivors' stress (400) that covers 70 - skin.
    assert r.new.df_scale == -(-(70 - house_c) * 10_000 // 400) == r.cover2.scale_next


def test_cover2_scale_is_the_next_epochs_call():
    st = pool(Leaf(0, (0, 0)), Leaf(120, (10, 0), df=50), Leaf(110, (-10, 0), df=50))
    r = run_epoch(st, fund(df_floor=10, skin_cap=0), PRICES, [], {})
    assert not r.cover2.met and r.new.df_scale == 70 * 10_000 // 400 == 1750
    r2 = run_epoch(r.new, fund(df_floor=10, skin_cap=0), PRICES, [], {})
    # req = max(10, ceil(200 * 1750 / 10000)) = 35 for both
    assert [s.figures.required for s in r2.slots[1:3]] == [35, 35]


def test_cover2_helpers_on_their_own():
    params = fund(skin_cap=5)
    c = cover2([7, 3, 9, 0], 4, 100, 20, params)
    assert (c.requirement, c.resources, c.met) == (16, 9, False)
    assert c.scale_next == -(-(16 - 5) * 10_000 // 20)
    assert cover2([0, 0], 0, -5, 0, params).scale_next == 0
    assert cover2([10**40, 10**40], 0, 0, 1, params).scale_next == (1 << 16) - 1
    assert pro_rata(10, 3, 0) == 0 and pro_rata(10, 3, 7) == 5


def test_fund_parameters_are_bounded():
    for kw in ({"df_floor": -1}, {"df_floor": 1 << 112}, {"df_share_bp": 1 << 16},
               {"stress_bp": 9_999}, {"skin_cap": 1 << 112}):
        with pytest.raises(ParamsError):
            replace(BASE, **kw)
    assert fund().hash() != BASE.hash()  # the fund parameters are in paramsHash
