"""The clearing engine on hand-computed scenarios (exact numbers), and its refusals.

Pool: N=4 slots (0 = house), M=2 instruments A, B; scenarios: both prices up 10 %,
both down 10 %; initial margin 1.5 x MM; penalty 10 % of MM.
"""

from __future__ import annotations

import pytest

from zkclear.clearing import public
from zkclear.clearing.epoch import EpochError, maintenance_margin, run_epoch
from zkclear.clearing.events import Event, Kind
from zkclear.clearing.params import ParamsError, PoolConfig, RiskParams
from zkclear.clearing.report import Report
from zkclear.clearing.state import Leaf, PoolState
from zkclear.field import P

from .helpers import KEYS, commitment, committed, first_epoch_orders, keys_of, registered, vkh

CFG = PoolConfig(4, 2, 2)
PARAMS = RiskParams.symmetric(2, [1000], im_factor_bp=15_000, penalty_bp=1_000)
PRICES = (100, 200)
NONCES = [11, 22, 33, 44]


def state_with(*leaves: Leaf, prices=PRICES) -> PoolState:
    """A state whose slots 1.. are `leaves`; the house holds the opposite positions."""
    leaves = tuple(Leaf(lf.collateral, lf.positions, vkh(i), lf.status, lf.nonce)
                   for i, lf in enumerate(leaves, 1))
    house_q = [-sum(lf.positions[m] for lf in leaves) for m in range(2)]
    rest = [Leaf(0, (0, 0))] * (CFG.n_slots - 1 - len(leaves))
    return PoolState(CFG, 3, (Leaf(0, tuple(house_q), 0, 1), *leaves, *rest), prices)


def member(c: int, q: tuple[int, int]) -> Leaf:
    return Leaf(c, q, vkh=7, status=1)


def test_hedged_portfolio_needs_less_margin_than_its_legs():
    # long 10 A @100, short 4 B @200: losses -200,000 (up) and +200,000 (down) bp-units
    assert maintenance_margin([10, -4], PRICES, PARAMS) == 20
    assert maintenance_margin([10, 0], PRICES, PARAMS) == 100
    assert maintenance_margin([0, -4], PRICES, PARAMS) == 80
    assert maintenance_margin([0, 0], PRICES, PARAMS) == 0


def test_first_epoch_with_trades_registration_deposits_and_withdrawals():
    """Members 1-3 register and deposit; 1 buys 10 A from 2 and sells 4 B to 3.

    The trade cash figures are given as reported (P&L against the settlement price).
    """
    s0 = PoolState.genesis(CFG, PRICES)
    reports, events = first_epoch_orders()
    r = run_epoch(s0, PARAMS, PRICES, events, reports, view_keys=keys_of(reports))
    s1, s2, s3 = r.slots[1], r.slots[2], r.slots[3]
    # member 1: hedged, cpre 800, MM 20, IM 30; withdrawal of 700 leaves 100 >= 30: granted
    assert (s1.collateral_pre, s1.maintenance_margin, s1.initial_margin) == (800, 20, 30)
    assert s1.withdrawal_granted and r.new.leaves[1].collateral == 100
    # member 2: short 10 A, MM 100, IM 150; 2000 - 1900 = 100 < 150: refused, nothing paid
    assert (s2.collateral_pre, s2.maintenance_margin, s2.initial_margin) == (2000, 100, 150)
    assert s2.withdrawal_refused and r.new.leaves[2].collateral == 2000
    # member 3: paid 800 for 4 B with exactly 800 deposited: cpre 0 < MM 80 -> liquidated,
    # no penalty (no equity), no shortfall (trades may not create one)
    assert (s3.collateral_pre, s3.maintenance_margin, s3.liquidated) == (0, 80, True)
    assert (s3.penalty, s3.shortfall) == (0, 0)
    keys = keys_of(reports)
    assert r.new.leaves[3] == Leaf(0, (0, 0), vkh(3), 1, keys[3].leaf_nonce(1))
    assert r.new.leaves[0].positions == (0, 4) and r.new.leaves[0].collateral == 10_000
    assert r.liquidated_mask == 0b1000 and r.granted_mask == 0b0010
    assert r.total_collateral == 12_800 - 700 == 12_100
    assert [lf.vkh for lf in r.new.leaves] == [0, vkh(1), vkh(2), vkh(3)]
    v = r.public_values()
    assert v["oldRoot"] == s0.root() and v["newRoot"] == r.new.root() and v["epoch"] == 1
    assert v["nEvents"] == len(events) and v["totalCollateral"] == 12_100
    # Packed into 13 signals: epoch | nEvents << 64 | total << 80, the exit sum over the
    # exit data, and rho in fundInfo's top bits; the masks are exit-data words.
    pub = r.public_signals()
    assert pub[2] == 1 + (len(events) << 64) + (12_100 << 80)
    assert 0 < r.rho < 2**100 and pub[8] >> 33 == r.rho and len(pub) == 13
    d = r.exit_data()
    assert d == [lf.hash() for lf in r.new.leaves] + [10_000, 0b1000, 0b0010]
    assert public.exit_masks(d, 4) == (0b1000, 0b0010)
    assert pub[7] == sum(x * pow(r.rho, j, P) for j, x in enumerate(d)) % P
    assert public.unpack(pub) == v


def test_trade_losses_beyond_the_equity_before_trades_are_refused():
    """The off-market drain (issue 13): slot 3 pays 800 for 4 B with only 50 deposited.
    Its shortfall would be the house's, so the engine refuses the epoch (the circuit has
    no witness for it either)."""
    s0 = PoolState.genesis(CFG, PRICES)
    reports, events = first_epoch_orders(deposit_3=50, withdrawals=False)
    with pytest.raises(EpochError, match="slot 3: trade cash -800 exceeds the equity before "
                                         "trades 50"):
        run_epoch(s0, PARAMS, PRICES, events, reports, view_keys=keys_of(reports))


def test_nonces_are_derived_from_the_view_key_and_zero_without_one():
    s0 = PoolState.genesis(CFG, PRICES)
    events = [*registered((1, 2)), Event(Kind.DEPOSIT, 1, 10), Event(Kind.DEPOSIT, 2, 10)]
    keys = KEYS
    r = run_epoch(s0, PARAMS, PRICES, events, {}, view_keys={1: keys[1]})
    assert r.new.leaves[1].nonce == keys[1].leaf_nonce(1) != 0
    assert r.new.leaves[2].nonce == 0 and r.new.leaves[3].nonce == 0
    assert r.blinded == {1}
    # a key that is not the registered one is refused
    with pytest.raises(EpochError, match="not the one the slot registered"):
        run_epoch(s0, PARAMS, PRICES, events, {}, view_keys={1: keys[2].__class__(1, 12345)})


def test_member_exactly_at_maintenance_margin_is_not_liquidated():
    # short 10 A @100: MM = 100
    r = run_epoch(state_with(member(100, (-10, 0))), PARAMS, PRICES, [], {})
    assert r.slots[1].maintenance_margin == 100 and not r.slots[1].liquidated
    r = run_epoch(state_with(member(99, (-10, 0))), PARAMS, PRICES, [], {})
    assert r.slots[1].liquidated and r.liquidated_mask == 0b10


def test_penalty_is_capped_by_remaining_equity():
    # A moves 100 -> 101: VM -10. MM at 101 = ceil(1,010,000 / 10,000) = 101,
    # uncapped penalty ceil(101 * 1000 / 10000) = 11.
    st = state_with(member(105, (-10, 0)), member(15, (-10, 0)))
    r = run_epoch(st, PARAMS, (101, 200), [], {})
    full, capped = r.slots[1], r.slots[2]
    assert (full.collateral_pre, full.maintenance_margin, full.penalty) == (95, 101, 11)
    assert r.new.leaves[1].collateral == 95 - 11 == 84
    assert (capped.collateral_pre, capped.penalty) == (5, 5)
    assert r.new.leaves[2].collateral == 0
    house = r.new.leaves[0]
    assert house.positions == (0, 0)  # took over both short positions, was long 20
    assert house.collateral == 0 + 20 + 11 + 5  # house VM on +20 A, plus penalties


def test_shortfall_is_absorbed_by_the_house():
    st = state_with(member(0, (-10, 0)))
    r = run_epoch(st, PARAMS, (101, 200), [Event(Kind.DEPOSIT, 0, 500)], {})
    s = r.slots[1]
    assert (s.collateral_pre, s.liquidated, s.penalty, s.shortfall) == (-10, True, 0, 10)
    assert r.new.leaves[1].collateral == 0 and r.new.leaves[1].is_flat
    assert r.new.leaves[0].collateral == 500 + 10 - 10  # deposit + house VM - shortfall
    assert r.total_collateral == 500


def test_closing_at_a_loss_beyond_the_collateral_is_refused():
    # Member 1 (short 10 A, 5 in collateral) buys back 10 A at 200 (settlement 100) from
    # member 2: a trade loss of 1000 against an equity of 5 would be the house's shortfall
    # and member 2's gain -- the off-market drain. The trade-cash rule refuses it.
    st = state_with(member(5, (-10, 0)), member(2000, (0, 0)))
    reports = {1: Report((10, 0), -1000, 1), 2: Report((-10, 0), 1000, 2)}
    with pytest.raises(EpochError, match="slot 1: trade cash -1000 exceeds the equity "
                                         "before trades 5"):
        run_epoch(st, PARAMS, PRICES, committed(reports, 4), reports,
                  view_keys=keys_of(reports))
    # Within the equity: closing at 100.5 costs 5, the member ends flat at 0, not liquidated
    # (MM 0), and the house absorbs nothing.
    reports = {1: Report((10, 0), -5, 1), 2: Report((-10, 0), 5, 2)}
    r = run_epoch(st, PARAMS, PRICES, committed(reports, 4), reports,
                  view_keys=keys_of(reports))
    assert r.slots[1].collateral_pre == 0 and not r.slots[1].liquidated
    assert r.new.leaves[0].collateral == 0


REP = Report((1, 0), 0, 1)


@pytest.mark.parametrize(("events", "reports", "match"), [
    ([Event(Kind.COMMIT, 1, 123)], {}, "no report opening it"),
    ([], {1: REP}, "nothing was committed"),
    ([Event(Kind.COMMIT, 1, 5)], {1: REP}, "does not match its on-chain commitment"),
    # the ciphertext of another epoch (its key), or under another slot's key
    ([Event(Kind.COMMIT, 1, commitment(1, 3, REP))], {1: REP}, "does not match its on-chain"),
    ([Event(Kind.COMMIT, 1, commitment(2, 4, REP))], {1: REP}, "does not match its on-chain"),
    ([Event(Kind.DEPOSIT, 3, 10)], {}, "slot 3 is not a member"),
    ([Event(Kind.COMMIT, 0, 5)], {}, "house does not report"),
    ([Event(Kind.WITHDRAW, 1, 1), Event(Kind.WITHDRAW, 1, 2)], {}, "second withdrawal"),
    ([Event(Kind.DEPOSIT, 9, 10)], {}, "unknown slot"),
    ([Event(Kind.DEPOSIT, 1, 0)], {}, "outside"),
])
def test_bad_epoch_input_is_refused_before_proving(events, reports, match):
    st = state_with(member(100, (0, 0)), member(100, (0, 0)))
    with pytest.raises((EpochError, ParamsError), match=match):
        run_epoch(st, PARAMS, PRICES, events, reports, view_keys=keys_of(reports))


def test_reports_need_the_registered_view_key():
    st = state_with(member(100, (0, 0)), member(100, (0, 0)))
    reports = {1: Report((1, 0), -5, 1), 2: Report((-1, 0), 5, 2)}
    events = committed(reports, 4)
    r = run_epoch(st, PARAMS, PRICES, events, reports, view_keys=keys_of(reports))
    assert r.view_keys == keys_of(reports)
    with pytest.raises(EpochError, match="slot 1: no view key given"):
        run_epoch(st, PARAMS, PRICES, events, reports, view_keys={2: KEYS[2]})
    with pytest.raises(EpochError, match="must be slot 1's MemberKey"):
        run_epoch(st, PARAMS, PRICES, events, reports, view_keys={1: KEYS[2], 2: KEYS[2]})
    # A key of slot 1 that is not the one its leaf commits to (Poseidon(K) != vkh).
    other = type(KEYS[1])(1, 12345)
    with pytest.raises(EpochError, match=r"Poseidon\(K\) != vkh"):
        run_epoch(st, PARAMS, PRICES, events, reports, view_keys={1: other, 2: KEYS[2]})
    # A member that re-registers in this epoch reports under its new key.
    new = type(KEYS[1])(1, 777)
    ev = [Event(Kind.REGISTER, 1, new.vkh), *events]
    with pytest.raises(EpochError, match=r"Poseidon\(K\) != vkh"):
        run_epoch(st, PARAMS, PRICES, ev, reports, view_keys=keys_of(reports))


def test_reports_that_do_not_net_are_refused():
    st = state_with(member(100, (0, 0)), member(100, (0, 0)))
    reports = {1: Report((3, 0), -300, 1), 2: Report((-2, 0), 300, 2)}
    with pytest.raises(EpochError, match="instrument 0: position changes sum to 1"):
        run_epoch(st, PARAMS, PRICES, committed(reports, 4), reports,
                  view_keys=keys_of(reports))


def test_position_limit_and_price_bounds():
    params = RiskParams.symmetric(2, [1000], position_limit=5)
    st = state_with(member(10**6, (0, 0)), member(10**6, (0, 0)))
    reports = {1: Report((6, 0), -600, 1), 2: Report((-6, 0), 600, 2)}
    with pytest.raises(EpochError, match="exceeds the limit 5"):
        run_epoch(st, params, PRICES, committed(reports, 4), reports,
                  view_keys=keys_of(reports))
    with pytest.raises(ParamsError, match=r"prices\[1\] = 0"):
        run_epoch(st, PARAMS, (100, 0), [], {})
    with pytest.raises(ParamsError, match="shocks"):
        RiskParams(15_000, 1000, (10, 10), ((1 << 16, 0),))


def test_a_lowered_position_limit_binds_increases_only():
    """Governance lowers the limit to 5 while members hold 10 and -10: they may trade
    down (the epoch stays provable), not up."""
    params = RiskParams.symmetric(2, [1000], position_limit=5)
    st = state_with(member(10**6, (10, 0)), member(10**6, (-10, 0)))
    down = {1: Report((-3, 0), 0, 1), 2: Report((3, 0), 0, 2)}
    r = run_epoch(st, params, PRICES, committed(down, 4), down, view_keys=keys_of(down))
    assert r.new.leaves[1].positions == (7, 0) and r.new.leaves[2].positions == (-7, 0)
    up = {1: Report((1, 0), 0, 1), 2: Report((-1, 0), 0, 2)}
    with pytest.raises(EpochError, match="exceeds the limit 5"):
        run_epoch(st, params, PRICES, committed(up, 4), up, view_keys=keys_of(up))
    # nothing traded: the held positions above the limit are simply kept
    r = run_epoch(st, params, PRICES, [], {})
    assert r.new.leaves[1].positions == (10, 0)


def test_state_round_trips_through_json(tmp_path):
    st = state_with(member(-5, (3, -2)))
    st.save(tmp_path / "s.json")
    back = PoolState.load(tmp_path / "s.json")
    assert back == st and back.root() == st.root()


@pytest.mark.parametrize(("n", "m", "k"), [(4, 2, 2), (4, 2, 4), (16, 4, 8), (32, 8, 16)])
def test_demo_story_liquidates_hedges_and_refuses(n, m, k):
    from zkclear.clearing.scenario import run_story

    e1, e2 = run_story(PoolConfig(n, m, k))
    assert e1.slots[3].withdrawal_refused and e1.liquidated_mask == 0
    assert e2.liquidated_mask == 0b100 and e2.granted_mask == 0b10
    hedged = e1.slots[1]
    legs = sum(maintenance_margin([q if j == i else 0 for j, q in enumerate(
        hedged.after.positions)], e1.prices, e1.params) for i in range(m))
    assert 0 < hedged.maintenance_margin < legs


@pytest.mark.parametrize(("events", "match"), [
    ([Event(Kind.DEPOSIT, 1, 5), Event(Kind.DEPOSIT, 1, 7)], "a second deposit in one epoch"),
    ([Event(Kind.WITHDRAW, 1, 5), Event(Kind.WITHDRAW, 1, 7)], "a second withdrawal request"),
    ([Event(Kind.REGISTER, 1, 0)], "a view-key commitment cannot be 0"),
    ([Event(Kind.REGISTER, 1, 9), Event(Kind.REGISTER, 1, 9)], "registered twice"),
])
def test_one_event_of_each_kind_per_slot_and_epoch(events, match):
    """As the contract allows (AlreadyDeposited, AlreadyRequested, AlreadyRegistered,
    InvalidViewKeyCommitment): the circuit takes the events as one entry per slot and
    kind, so a second one, or a zero value, has no witness and the engine refuses it."""
    with pytest.raises(ParamsError, match=match):
        run_epoch(state_with(member(10**6, (0, 0))), PARAMS, PRICES, events, {})
