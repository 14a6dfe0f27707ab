"""Matcher rules (clearing/trades.py apply_rules): the price band and rule R.

Rule R (docs/protocol.md, "Trades and netting"): per slot, with e0 the equity before trade
cash and tc the settlement-relative trade cash, e0 + tc >= min(e0, 0). The drain of
issue 13: slot 1 buys one lot from slot 3 at P + X; slot 1's trade cash is -X, and if X
exceeds slot 1's equity the house would absorb the difference while slot 3 withdraws X.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zkclear.clearing.epoch import run_epoch
from zkclear.clearing.events import Event, Kind
from zkclear.clearing.params import PoolConfig, RiskParams
from zkclear.clearing.state import PoolState
from zkclear.clearing.trades import (
    BUY,
    SELL,
    MatchedTrade,
    Reason,
    TradeError,
    TradeReport,
    apply_rules,
    deposits_from_events,
    equity_before_trades,
    match_trades,
    net_reference,
    reports_from_netting,
)

from .helpers import committed, keys_of, registered

N, M = 4, 2
PX = (1_000, 2_000)


def subs_of(*deals):
    """Both sides' reports of each ``(id, buyer, seller, instrument, size, price)``."""
    out: dict[int, list[TradeReport]] = {}
    for tid, b, s, m, size, px in deals:
        out.setdefault(b, []).append(TradeReport(tid, m, BUY, size, px, s))
        out.setdefault(s, []).append(TradeReport(tid, m, SELL, size, px, b))
    return out


def rules(deals, *, band_bp=None, equity=None, prices=PX, n_slots=N):
    r = match_trades(subs_of(*deals), n_slots=n_slots, n_instruments=len(prices),
                     members=range(1, n_slots))
    assert not r.rejected
    return apply_rules(r, prices, n_slots=n_slots, n_instruments=len(prices),
                       band_bp=band_bp, equity=equity)


def reasons(res):
    return {(rj.member, rj.trade_id): rj.reason for rj in res.match.rejected}


def kept_ids(res):
    return [t.trade_id for t in res.match.accepted]


# --------------------------------------------------------------------------- band


def test_band_edges_both_sides_rejected_nothing_else():
    deals = [("at", 1, 2, 0, 3, 1_000), ("hi", 1, 2, 0, 3, 1_010), ("lo", 2, 3, 0, 3, 990),
             ("hi+", 1, 3, 0, 3, 1_011), ("lo-", 3, 1, 0, 3, 989), ("b", 2, 3, 1, 1, 2_020)]
    res = rules(deals, band_bp=100)
    assert kept_ids(res) == ["at", "hi", "lo", "b"]
    assert reasons(res) == {(1, "hi+"): Reason.OFF_MARKET, (3, "hi+"): Reason.OFF_MARKET,
                            (3, "lo-"): Reason.OFF_MARKET, (1, "lo-"): Reason.OFF_MARKET}
    assert res.band_rejected == 2 and res.equity_rejected == frozenset() and res.rounds == 1
    msg = next(rj.message for rj in res.match.rejected if rj.member == 1)
    assert "price 1011 is outside the band of ±100 bp around the settlement price 1000" in msg
    # the rejection carries the report as that member sent it
    side = {rj.member: rj.report.side for rj in res.match.rejected if rj.trade_id == "hi+"}
    assert side == {1: BUY, 3: SELL}
    # the netting is of the kept trades only
    assert (res.netting.delta, res.netting.notional_cash) == net_reference(
        res.match.accepted, N, M)


def test_band_floor_of_fractional_deviation_and_zero_band():
    # P = 1005, 100 bp = 10.05 ticks: 10 ticks off is inside, 11 is outside
    res = rules([("in", 1, 2, 0, 1, 1_015), ("out", 1, 2, 0, 1, 1_016)], band_bp=100,
                prices=(1_005, 2_000))
    assert kept_ids(res) == ["in"]
    res = rules([("eq", 1, 2, 0, 1, 1_000), ("ne", 1, 2, 0, 1, 1_001)], band_bp=0)
    assert kept_ids(res) == ["eq"]
    res = rules([("far", 1, 2, 0, 1, 2**48 - 1)], band_bp=None)
    assert kept_ids(res) == ["far"]


@pytest.mark.parametrize("band", [-1, 2**16, True, 1.5, "100"])
def test_band_must_be_a_small_int(band):
    with pytest.raises(TradeError, match="band_bp"):
        rules([("a", 1, 2, 0, 1, 1_000)], band_bp=band)


# --------------------------------------------------------------------------- rule R


def test_drain_rejected_when_the_loss_exceeds_the_buyers_equity():
    x = 640_000
    res = rules([("drain", 1, 3, 0, 1, 1_000 + x), ("ok", 2, 3, 1, 1, 2_000)],
                equity={1: 40_000, 2: 0, 3: 40_000})
    assert kept_ids(res) == ["ok"]
    assert reasons(res) == {(1, "drain"): Reason.INSUFFICIENT_EQUITY,
                            (3, "drain"): Reason.COUNTERPARTY_REJECTED}
    msg = next(rj.message for rj in res.match.rejected if rj.member == 1)
    assert "trade cash -640000" in msg and "equity before trades 40000" in msg
    assert res.equity_rejected == frozenset({1}) and res.rounds == 2
    assert res.netting.trade_cash(PX) == [0, 0, 0, 0]


@pytest.mark.parametrize("x", [1, 39_999, 40_000])
def test_drain_within_the_equity_is_accepted(x):
    res = rules([("t", 1, 3, 0, 1, 1_000 + x)], equity={1: 40_000, 3: 0})
    assert kept_ids(res) == ["t"] and not res.match.rejected
    assert res.netting.trade_cash(PX) == [0, -x, 0, x]


@pytest.mark.parametrize("deals, loser", [
    ([("t", 1, 3, 0, 2, 1_000 + 60)], 1),  # buyer pays above the price
    ([("t", 3, 1, 0, 2, 1_000 - 60)], 1),  # seller sells below it
    ([("a", 1, 3, 0, 1, 1_060), ("b", 3, 1, 1, 1, 1_940)], 1),  # both legs, two instruments
    ([(f"s{k}", 1, 3, k % 2, 1, PX[k % 2] + 2) for k in range(60)], 1),  # 60 small trades
    ([(f"s{k}", 3, 2, 1, 1, 1_998) for k in range(30)]
     + [(f"u{k}", 1, 2, 0, 1, 998) for k in range(30)], 2),  # the seller loses, two buyers
])
def test_off_market_in_every_direction(deals, loser):
    e0 = 100
    res = rules(deals, equity={1: e0, 2: e0, 3: e0})
    assert res.equity_rejected == frozenset({loser})
    mine = [rj for rj in res.match.rejected if rj.member == loser]
    assert len(mine) == sum(loser in (d[1], d[2]) for d in deals)
    assert all(rj.reason is Reason.INSUFFICIENT_EQUITY for rj in mine)
    if len(deals) > 1:  # each loss alone is within the equity: R is on the slot's total
        one = rules(deals[:1], equity={1: e0, 2: e0, 3: e0})
        assert not one.match.rejected


def test_underwater_slot_may_only_gain():
    # e0 < 0 (variation margin already took it under): no trade loss at all is allowed
    res = rules([("gain", 1, 2, 0, 1, 999)], equity={1: -50, 2: 10})
    assert kept_ids(res) == ["gain"]
    res = rules([("lose", 1, 2, 0, 1, 1_001)], equity={1: -50, 2: 10})
    assert res.equity_rejected == frozenset({1}) and kept_ids(res) == []
    res = rules([("flat", 1, 2, 0, 1, 1_000)], equity={1: -50, 2: 10})
    assert kept_ids(res) == ["flat"]


def test_chain_reaction_rejects_the_counterparty_that_then_violates():
    # 1 (e0 100) loses 1000 to 2; 2 (e0 50) loses 900 to 3 and is fine only thanks to 1
    res = rules([("a", 1, 2, 0, 1, 2_000), ("b", 2, 3, 1, 1, 2_900), ("c", 3, 1, 0, 1, 1_000)],
                equity={1: 100, 2: 50, 3: 0})
    assert res.rounds == 3 and res.equity_rejected == frozenset({1, 2})
    assert kept_ids(res) == []
    assert reasons(res) == {
        (1, "a"): Reason.INSUFFICIENT_EQUITY, (2, "a"): Reason.COUNTERPARTY_REJECTED,
        (1, "c"): Reason.INSUFFICIENT_EQUITY, (3, "c"): Reason.COUNTERPARTY_REJECTED,
        (2, "b"): Reason.INSUFFICIENT_EQUITY, (3, "b"): Reason.COUNTERPARTY_REJECTED}
    # slot 3 satisfied R throughout: it is rejected only as a counterparty
    assert 3 not in res.equity_rejected


def test_band_first_then_rule_r():
    # the off-market trade goes to the band; slot 1's remaining loss is within its equity
    res = rules([("off", 1, 2, 0, 1, 5_000), ("t", 1, 2, 0, 1, 1_050)], band_bp=2_000,
                equity={1: 60, 2: 0})
    assert kept_ids(res) == ["t"] and res.band_rejected == 1 and not res.equity_rejected


def test_missing_or_bad_equity_is_refused():
    with pytest.raises(TradeError, match="slot 2"):
        rules([("t", 1, 2, 0, 1, 1_000)], equity={1: 0})
    with pytest.raises(TradeError, match="slot 1"):
        rules([("t", 1, 2, 0, 1, 1_000)], equity={1: 1.5, 2: 0})


def test_no_trades_and_plain_list_input():
    res = apply_rules([], PX, n_slots=N, n_instruments=M, band_bp=10, equity={})
    assert res.match.accepted == [] and res.rounds == 1
    t = MatchedTrade("t", 0, 1, 2, 1, 1_000)
    res = apply_rules([t], PX, n_slots=N, n_instruments=M, equity={1: 0, 2: 0})
    assert res.match.accepted == [t]
    with pytest.raises(TradeError, match="house"):
        apply_rules([MatchedTrade("h", 0, 0, 2, 1, 1_000)], PX, n_slots=N, n_instruments=M)


# --------------------------------------------------------------------------- property


def _violates(e0: int, tc: int) -> bool:
    return e0 + tc < min(e0, 0)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(3, 8), st.integers(1, 3), st.randoms(use_true_random=False),
       st.integers(0, 40), st.sampled_from([None, 0, 50, 2_000]))
def test_kept_trades_satisfy_rule_r_and_rejections_are_justified(n_slots, m, rnd, n_trades,
                                                                 band):
    prices = [rnd.randint(1, 5_000) for _ in range(m)]
    equity = {i: rnd.choice([0, rnd.randint(-3_000, 3_000), rnd.randint(0, 300_000)])
              for i in range(1, n_slots)}
    trades = []
    for k in range(n_trades):
        b = rnd.randint(1, n_slots - 1)
        s = rnd.choice([i for i in range(1, n_slots) if i != b])
        inst = rnd.randrange(m)
        # colluding pairs trade far off the price, others near it
        off = rnd.choice([0, rnd.randint(-50, 50), rnd.randint(-prices[inst] + 1, 100_000)])
        trades.append(MatchedTrade(k, inst, b, s, rnd.randint(1, 20),
                                   max(1, prices[inst] + off)))
    res = apply_rules(trades, prices, n_slots=n_slots, n_instruments=m, band_bp=band,
                      equity=equity)
    kept = res.match.accepted
    _, tc = net_reference(kept, n_slots, m, prices)
    assert (res.netting.delta, res.netting.notional_cash) == net_reference(kept, n_slots, m)
    assert res.netting.trade_cash(prices) == tc
    for i in range(1, n_slots):
        assert not _violates(equity[i], tc[i])
        # the house never absorbs more from slot i than it would have without trades
        assert max(0, -(equity[i] + tc[i])) <= max(0, -equity[i])
    # band: kept trades are within it, band-rejected ones outside it
    if band is not None:
        assert all(abs(t.price - prices[t.instrument]) * 10_000 <= band * prices[t.instrument]
                   for t in kept)
    in_band = [t for t in trades if band is None
               or abs(t.price - prices[t.instrument]) * 10_000 <= band * prices[t.instrument]]
    assert res.band_rejected == len(trades) - len(in_band)
    # exactly the in-band trades of slots not refused under R are kept
    bad = res.equity_rejected
    assert kept == [t for t in in_band if t.buyer not in bad and t.seller not in bad]
    # a refused slot violated R with all its in-band trades, or lost a counterparty first
    _, tc_all = net_reference(in_band, n_slots, m, prices)
    for i in bad:
        partners = {t.seller if t.buyer == i else t.buyer for t in in_band
                    if i in (t.buyer, t.seller)}
        assert _violates(equity[i], tc_all[i]) or partners & bad
    # every slot with a rejection has a reason; every rejection names a side of a trade
    assert len(res.match.rejected) == 2 * (len(trades) - len(kept))
    for rj in res.match.rejected:
        if rj.reason is Reason.INSUFFICIENT_EQUITY:
            assert rj.member in bad
        elif rj.reason is Reason.COUNTERPARTY_REJECTED:
            t = trades[rj.trade_id]
            assert ({t.buyer, t.seller} - {rj.member}) & bad
        else:
            assert rj.reason is Reason.OFF_MARKET
    assert res.rounds <= n_slots


# --------------------------------------------------------------------------- engine


CFG = PoolConfig(N, 1, 2)
PARAMS = RiskParams.symmetric(1, [1000], im_factor_bp=15_000, penalty_bp=1_000)


def _epoch1() -> PoolState:
    """Genesis at 1000, then epoch 1: the house funds 1,000,000, slots 1-3 deposit."""
    ev = [*registered([1, 2, 3]), Event(Kind.DEPOSIT, 0, 1_000_000),
          Event(Kind.DEPOSIT, 1, 40_000), Event(Kind.DEPOSIT, 2, 100_000),
          Event(Kind.DEPOSIT, 3, 40_000)]
    return run_epoch(PoolState.genesis(CFG, (1_000,)), PARAMS, (1_000,), ev, {}).new


@pytest.mark.parametrize("x, kept", [(640_000, False), (30_000, True), (40_500, True),
                                     (40_501, False)])
def test_drain_through_the_engine_leaves_the_house_whole(x, kept):
    """Epoch 2 at price 990 (slot 2, long, loses VM; the others are flat). Slot 1 deposits
    500 more and buys one lot from slot 3 at P + x; slot 3 asks to withdraw what it has.
    e0 of slot 1 = 40,000 + 500: at most that much can change hands."""
    state = _epoch1()
    p2 = (990,)
    ev2 = [Event(Kind.DEPOSIT, 1, 500)]
    e0 = equity_before_trades(state, p2, deposits_from_events(ev2))
    assert e0 == {0: 1_000_000, 1: 40_500, 2: 100_000, 3: 40_000}
    r = match_trades(subs_of(("drain", 1, 3, 0, 1, 990 + x)), n_slots=N, n_instruments=1,
                     members={1, 2, 3})
    res = apply_rules(r, p2, n_slots=N, n_instruments=1, band_bp=None, equity=e0)
    assert (kept_ids(res) == ["drain"]) is kept
    reports = reports_from_netting(res.netting, p2, {1: 1, 3: 3})
    # slot 3 asks for its collateral and gains, less a margin cushion
    ev2 += [*committed(reports, 2), Event(Kind.WITHDRAW, 3, 39_000 + x)]
    out = run_epoch(state, PARAMS, p2, ev2, reports, view_keys=keys_of(reports))
    house = out.slots[0]
    assert out.new.leaves[0].collateral == 1_000_000  # no shortfall, no penalty from trades
    assert sum(s.shortfall for s in out.slots) == 0
    if kept:
        assert out.slots[3].withdrawal_granted  # slot 3 is paid slot 1's money, not the house's
        assert out.new.leaves[1].collateral == max(0, 40_500 - x) or out.slots[1].liquidated
    else:
        assert not out.slots[3].withdrawal_granted and reports == {}
    assert house.collateral_pre == 1_000_000


def test_equity_before_trades_is_the_engines_cpre_without_trades():
    state = _epoch1()
    # epoch 2: slot 2 goes long 7 from slot 3 (positions to mark in epoch 3)
    r = match_trades(subs_of(("t", 2, 3, 0, 7, 1_000)), n_slots=N, n_instruments=1,
                     members={1, 2, 3})
    reports = reports_from_netting(apply_rules(r, (1_000,), n_slots=N, n_instruments=1,
                                               equity=equity_before_trades(state, (1_000,))
                                               ).netting, (1_000,), {2: 2, 3: 3})
    state = run_epoch(state, PARAMS, (1_000,), committed(reports, 2), reports,
                      view_keys=keys_of(reports)).new
    p3 = (1_013,)
    ev3 = [Event(Kind.DEPOSIT, 3, 82), Event(Kind.DEPOSIT, 2, 5)]
    e0 = equity_before_trades(state, p3, deposits_from_events(ev3))
    out = run_epoch(state, PARAMS, p3, ev3, {})
    assert e0 == {s.slot: s.collateral_pre for s in out.slots}
    assert e0[2] == 100_000 + 7 * 13 + 5 and e0[3] == 40_000 - 7 * 13 + 82


def test_property_random_colluders_never_cost_the_house():
    """Random colluding pairs trade at random prices over several epochs through the
    engine: the house's collateral never drops below what price moves on positions held
    before the epoch explain (here: nobody holds old positions, so never drops)."""
    rnd = random.Random(13)
    for _ in range(6):
        state = _epoch1()
        p = (rnd.randint(500, 1_500),)
        trades = []
        for k in range(rnd.randint(1, 8)):
            b, s = rnd.sample([1, 2, 3], 2)
            trades.append((f"t{k}", b, s, 0, rnd.randint(1, 30),
                           max(1, p[0] + rnd.randint(-20_000, 20_000))))
        r = match_trades(subs_of(*trades), n_slots=N, n_instruments=1, members={1, 2, 3})
        res = apply_rules(r, p, n_slots=N, n_instruments=1,
                          equity=equity_before_trades(state, p))
        reports = reports_from_netting(res.netting, p, dict.fromkeys(range(N), 9))
        ev = [*committed(reports, 2),
              *(Event(Kind.WITHDRAW, i, rnd.randint(1, 200_000)) for i in (1, 2, 3))]
        out = run_epoch(state, PARAMS, p, ev, reports, view_keys=keys_of(reports))
        assert out.new.leaves[0].collateral >= 1_000_000
        assert sum(s.shortfall for s in out.slots) == 0
