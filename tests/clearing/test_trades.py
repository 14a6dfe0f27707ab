"""Trade intake, matching and netting (clearing/trades.py).

Hand-computed example: pool N=4 (slot 0 = house), members 1, 2, 3, instruments A=0, B=1.
  T1: member 1 buys 10 A at 100 from member 2
  T2: member 2 buys  5 B at 2000 from member 3
  T3: member 3 buys  4 A at 105 from member 1
Netted (lots; minor units, one lot at one tick = 1), notional cash (buyer pays):
  slot 1: delta (+10 - 4, 0) = (6, 0),   notional -1000 + 420   =  -580
  slot 2: delta (-10, +5),               notional +1000 - 10000 = -9000
  slot 3: delta (+4, -5),                notional +10000 - 420  = +9580
Settlement prices P_e = (102, 1990); tradeCash = sum of +-size*(P_e - price), buyer +:
  slot 1: T1 +10*(102-100) = +20, T3 -4*(102-105) = +12           ->  32 = -580 + 6*102
  slot 2: T1 -10*(102-100) = -20, T2 +5*(1990-2000) = -50         -> -70 = -9000 - 1020 + 9950
  slot 3: T2 -5*(1990-2000) = +50, T3 +4*(102-105) = -12          ->  38 = 9580 + 408 - 9950
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zkclear import bounds
from zkclear.clearing.report import Report
from zkclear.clearing.trades import (
    BUY,
    SELL,
    MatchedTrade,
    NettingBoundError,
    Reason,
    TradeError,
    TradeReport,
    match_trades,
    net,
    net_columnar,
    net_reference,
    reports_from_netting,
)
from zkclear.errors import ZkclearError
from zkclear.field import BoundError, P, SignedRange

N, M = 4, 2
PE = (102, 1990)
MEMBERS = {1, 2, 3}
TOP = 2**48 - 1  # largest size and price


def example() -> dict[int, list[TradeReport]]:
    return {
        1: [TradeReport("T1", 0, BUY, 10, 100, 2), TradeReport("T3", 0, SELL, 4, 105, 3)],
        2: [TradeReport("T1", 0, SELL, 10, 100, 1), TradeReport("T2", 1, BUY, 5, 2000, 3)],
        3: [TradeReport("T2", 1, SELL, 5, 2000, 2), TradeReport("T3", 0, BUY, 4, 105, 1)],
    }


EXAMPLE_TRADES = {
    MatchedTrade("T1", 0, 1, 2, 10, 100),
    MatchedTrade("T2", 1, 2, 3, 5, 2000),
    MatchedTrade("T3", 0, 3, 1, 4, 105),
}


def match(subs, members=MEMBERS, n_slots=N, n_instruments=M):
    return match_trades(subs, n_slots=n_slots, n_instruments=n_instruments, members=members)


def pair(tid, buyer, seller, m=0, size=1, price=1):
    """Both sides' reports of one trade."""
    return (TradeReport(tid, m, BUY, size, price, seller),
            TradeReport(tid, m, SELL, size, price, buyer))


# --------------------------------------------------------------------------- hand-computed


def test_hand_computed_example():
    r = match(example())
    assert r.rejected == []
    assert set(r.accepted) == EXAMPLE_TRADES
    # accepted in order of the pair's lower slot, then that member's report order
    assert [t.trade_id for t in r.accepted] == ["T1", "T3", "T2"]
    n = net(r.accepted, N, M)
    assert n.delta == [[0, 0], [6, 0], [-10, 5], [4, -5]]
    assert n.notional_cash == [0, -580, -9000, 9580]
    assert n.trade_cash(PE) == [0, 32, -70, 38]
    assert n.traded == frozenset({1, 2, 3})
    assert n.n_trades == 3
    assert (n.delta, n.notional_cash) == net_reference(r.accepted, N, M)
    assert (n.delta, [0, 32, -70, 38]) == net_reference(r.accepted, N, M, PE)

    reports = reports_from_netting(n, PE, {1: 11, 2: 22, 3: 33})
    assert reports == {1: Report((6, 0), 32, 11), 2: Report((-10, 5), -70, 22),
                       3: Report((4, -5), 38, 33)}
    assert reports[1].commitment() == Report((6, 0), 32, 11).commitment()


def test_example_through_columnar_path():
    n = net_columnar([1, 2, 3], [2, 3, 1], [0, 1, 0], [10, 5, 4], [100, 2000, 105],
                     n_slots=N, n_instruments=M)
    assert n.delta == [[0, 0], [6, 0], [-10, 5], [4, -5]]
    assert n.notional_cash == [0, -580, -9000, 9580]
    assert n.trade_cash(PE) == [0, 32, -70, 38]


def test_settlement_prices_are_checked():
    n = net([], N, M)
    for prices, needle in [((1,), "expected 2 settlement prices, got 1"),
                           ((1, -1), "instrument 1 must be an int in 0 <= P < 2^48, got -1"),
                           ((2**48, 1), "got 281474976710656"),
                           ((1.0, 1), "got 1.0")]:
        with pytest.raises(TradeError) as e:
            n.trade_cash(prices)
        assert needle in str(e.value)
    assert n.trade_cash((TOP, 1)) == [0] * N
    assert n.trade_cash((1, 0)) == [0] * N  # an option's premium may be 0


def test_reports_fresh_salts_and_flat_slots():
    # slot 3 buys and sells the same lots at the same price: it traded but is flat
    trades = [MatchedTrade("a", 0, 3, 1, 7, 50), MatchedTrade("b", 0, 2, 3, 7, 50)]
    n = net(trades, N, M)
    assert n.delta[3] == [0, 0] and n.trade_cash(PE)[3] == 0 and 3 in n.traded
    reports = reports_from_netting(n, PE)
    assert set(reports) == {1, 2}
    assert reports[1] == Report((-7, 0), 7 * (50 - 102), reports[1].salt)
    assert all(0 <= r.salt < P for r in reports.values())
    assert reports[1].salt != reports[2].salt
    with_flat = reports_from_netting(n, PE, {3: 5}, include_flat=True)
    assert set(with_flat) == {1, 2, 3}
    assert with_flat[3] == Report((0, 0), 0, 5)
    assert reports_from_netting(net([], N, M), PE) == {}
    # flat positions but a price difference: a report with cash only
    n2 = net([MatchedTrade("a", 0, 3, 1, 7, 50), MatchedTrade("b", 0, 1, 3, 7, 51)], N, M)
    assert reports_from_netting(n2, PE, {1: 1, 3: 3}) == {1: Report((0, 0), -7, 1),
                                                           3: Report((0, 0), 7, 3)}


def test_input_forms_tuples_mappings_numpy_ints():
    subs = {
        1: [("T1", 0, BUY, 10, 100, 2), ("T3", 0, SELL, 4, 105, 3)],
        2: [dict(trade_id="T1", instrument=0, side=SELL, size=10, price=100, counterparty=1),
            TradeReport("T2", np.int64(1), BUY, np.int64(5), np.uint32(2000), 3)],
        np.int64(3): [["T2", 1, SELL, 5, 2000, 2], TradeReport("T3", 0, BUY, 4, 105, 1)],
    }
    r = match(subs, members=[1, 2, np.int64(3)])
    assert r.rejected == []
    assert set(r.accepted) == EXAMPLE_TRADES
    assert all(type(getattr(t, f)) is int for t in r.accepted
               for f in ("instrument", "buyer", "seller", "size", "price"))


def test_int_and_str_trade_ids_are_distinct():
    subs = {1: [TradeReport(7, 0, BUY, 1, 1, 2)], 2: [TradeReport("7", 0, SELL, 1, 1, 1)]}
    r = match(subs)
    assert r.accepted == []
    assert [rj.reason for rj in r.rejected] == [Reason.UNMATCHED, Reason.UNMATCHED]


def test_trade_ids_need_only_be_unique_per_pair():
    # members 1-2 and 2-3 both use id "X": two different trades
    subs = {1: [TradeReport("X", 0, BUY, 1, 9, 2)],
            2: [TradeReport("X", 0, SELL, 1, 9, 1)],
            3: []}
    assert len(match(subs).accepted) == 1
    # but member 2 may not use "X" twice
    subs[2].append(TradeReport("X", 1, BUY, 2, 9, 3))
    subs[3].append(TradeReport("X", 1, SELL, 2, 9, 2))
    r = match(subs)
    assert r.accepted == []
    assert sorted((rj.member, rj.reason) for rj in r.rejected) == [
        (1, Reason.COUNTERPARTY_REJECTED), (2, Reason.DUPLICATE_ID),
        (2, Reason.DUPLICATE_ID), (3, Reason.COUNTERPARTY_REJECTED)]


def test_edges_of_size_and_price_are_accepted():
    b, s = pair("edge", 1, 2, m=1, size=TOP, price=TOP)
    b1, s1 = pair("one", 3, 1, m=1, size=1, price=1)
    r = match({1: [b, s1], 2: [s], 3: [b1]})
    assert r.rejected == []
    n = net(r.accepted, N, M)
    assert n.delta == [[0, 0], [0, TOP - 1], [0, -TOP], [0, 1]]
    assert n.notional_cash == [0, -TOP * TOP + 1, TOP * TOP, -1]


# --------------------------------------------------------------------------- rejections


def with_extra(member: int, *reports) -> dict[int, list]:
    subs = example()
    subs.setdefault(member, []).extend(reports)
    return subs


def only_extra_rejected(r, expected: list[tuple[int, Reason]]):
    """The example's trades are all accepted and the rejections are exactly `expected`."""
    assert set(r.accepted) == EXAMPLE_TRADES
    assert [(rj.member, rj.reason) for rj in r.rejected] == expected
    n = net(r.accepted, N, M)
    assert n.notional_cash == [0, -580, -9000, 9580]
    for rj in r.rejected:
        assert str(rj) == rj.message
        assert f"{rj.member}" in rj.message
        if rj.trade_id is not None:
            assert repr(rj.trade_id) in rj.message


def test_unmatched():
    r = match(with_extra(1, TradeReport("U", 0, BUY, 1, 1, 2)))
    only_extra_rejected(r, [(1, Reason.UNMATCHED)])
    assert "member 2 did not report" in r.rejected[0].message
    assert r.rejected[0].report == TradeReport("U", 0, BUY, 1, 1, 2)


def test_unmatched_when_partner_names_someone_else():
    subs = with_extra(1, TradeReport("U", 0, BUY, 1, 1, 2))
    subs[2].append(TradeReport("U", 0, SELL, 1, 1, 3))
    r = match(subs)
    only_extra_rejected(r, [(1, Reason.UNMATCHED), (2, Reason.UNMATCHED)])
    assert "names counterparty 3, not 1" in r.rejected[0].message
    assert "member 3 did not report" in r.rejected[1].message


@pytest.mark.parametrize(("field", "value", "needle"), [
    ("price", 101, "price 100 (member 1) vs 101 (member 2)"),
    ("size", 11, "size 10 (member 1) vs 11 (member 2)"),
    ("instrument", 1, "instrument 0 (member 1) vs 1 (member 2)"),
    ("side", BUY, "both report side buy"),
])
def test_contradictory(field, value, needle):
    b, s = pair("C", 1, 2, size=10, price=100)
    fields = {f: getattr(s, f) for f in s.__slots__}
    fields[field] = value
    r = match(with_extra(1, b) | {2: [*example()[2], TradeReport(**fields)]})
    only_extra_rejected(r, [(1, Reason.CONTRADICTORY), (2, Reason.CONTRADICTORY)])
    assert needle in r.rejected[0].message
    assert "members 1 and 2" in r.rejected[0].message


def test_self_trade():
    r = match(with_extra(2, TradeReport("S", 0, BUY, 1, 1, 2)))
    only_extra_rejected(r, [(2, Reason.SELF_TRADE)])


def test_duplicate_ids_reject_every_copy_and_the_partner():
    b, s = pair("D", 1, 3)
    subs = with_extra(1, b, b)
    subs[3].append(s)
    r = match(subs)
    only_extra_rejected(r, [(1, Reason.DUPLICATE_ID), (1, Reason.DUPLICATE_ID),
                            (3, Reason.COUNTERPARTY_REJECTED)])
    assert "appears 2 times" in r.rejected[0].message
    assert "duplicate trade id" in r.rejected[2].message


def test_duplicate_id_of_an_otherwise_good_trade():
    subs = example()
    subs[2].append(TradeReport("T1", 1, BUY, 3, 3, 3))  # reuses T1
    r = match(subs)
    assert set(r.accepted) == EXAMPLE_TRADES - {MatchedTrade("T1", 0, 1, 2, 10, 100)}
    assert [(rj.member, rj.reason) for rj in r.rejected] == [
        (1, Reason.COUNTERPARTY_REJECTED), (2, Reason.DUPLICATE_ID), (2, Reason.DUPLICATE_ID)]


@pytest.mark.parametrize("m", [M, M + 5, -1])
def test_unknown_instrument(m):
    b, s = pair("I", 1, 2, m=m)
    subs = with_extra(1, b)
    subs[2].append(s)
    r = match(subs)
    only_extra_rejected(r, [(1, Reason.UNKNOWN_INSTRUMENT), (2, Reason.UNKNOWN_INSTRUMENT)])
    assert f"instrument {m} is unknown (instruments are 0..{M - 1})" in r.rejected[0].message


@pytest.mark.parametrize("size", [0, -5, 2**48, 2**200])
def test_size_out_of_bounds(size):
    b, _ = pair("Z", 1, 2, size=size)
    subs = with_extra(1, b)
    subs[2].append(TradeReport("Z", 0, SELL, 1, 1, 1))  # partner's side is itself fine
    r = match(subs)
    only_extra_rejected(r, [(1, Reason.SIZE_OUT_OF_BOUNDS), (2, Reason.COUNTERPARTY_REJECTED)])
    assert "1 <= size < 2^48" in r.rejected[0].message
    assert "size out of bounds" in r.rejected[1].message


@pytest.mark.parametrize("price", [0, -1, 2**48])
def test_price_out_of_bounds(price):
    b, s = pair("Px", 1, 2, price=price)
    r = match(with_extra(1, b) | {2: [*example()[2], s]})
    only_extra_rejected(r, [(1, Reason.PRICE_OUT_OF_BOUNDS), (2, Reason.PRICE_OUT_OF_BOUNDS)])
    assert "1 <= price < 2^48" in r.rejected[0].message


def test_house_never_trades():
    r = match(with_extra(1, TradeReport("H", 0, BUY, 1, 1, 0)) | {0: []},
              members={0, 1, 2, 3})  # house listed (its leaf is registered): still excluded
    only_extra_rejected(r, [(0, Reason.NOT_A_MEMBER), (1, Reason.HOUSE_COUNTERPARTY)])
    assert "house" in r.rejected[0].message and "house" in r.rejected[1].message


@pytest.mark.parametrize(("cp", "needle"), [(5, "outside slots 0..3"),
                                            (-1, "outside slots 0..3")])
def test_unknown_counterparty_slot(cp, needle):
    r = match(with_extra(1, TradeReport("K", 0, BUY, 1, 1, cp)))
    only_extra_rejected(r, [(1, Reason.UNKNOWN_COUNTERPARTY)])
    assert needle in r.rejected[0].message


def test_non_member_counterparty_and_submitter():
    # slot 4 exists but is not a member: its submission and reports naming it are rejected
    b, s = pair("NM", 1, 4)
    subs = with_extra(1, b) | {4: [s]}
    r = match(subs, n_slots=8)
    assert set(r.accepted) == EXAMPLE_TRADES
    assert [(rj.member, rj.reason) for rj in r.rejected] == [
        (1, Reason.UNKNOWN_COUNTERPARTY), (4, Reason.NOT_A_MEMBER)]
    assert "counterparty 4 is not a member slot" in r.rejected[0].message
    assert r.rejected[1].trade_id is None


@pytest.mark.parametrize(("bad", "needle"), [
    (None, "expected a sequence of trade reports, got NoneType"),
    ("T1,0,1,10,100,2", "got str"),
    ({"T1": 1}, "got dict"),
    ([TradeReport("T4", 0, BUY, 1.0, 1, 1)], "size must be an int, got float"),
    ([TradeReport("T4", 0, True, 1, 1, 1)], "side must be an int, got bool"),
    ([TradeReport("T4", 0, 0, 1, 1, 1)], "side must be +1 (buy) or -1 (sell), got 0"),
    ([TradeReport("T4", "0", BUY, 1, 1, 1)], "instrument must be an int, got str"),
    ([TradeReport(1.5, 0, BUY, 1, 1, 1)], "trade_id must be a str or an int"),
    ([TradeReport(None, 0, BUY, 1, 1, 1)], "trade_id must be a str or an int"),
    ([("T4", 0, BUY, 1, 1)], "expected 6 fields"),
    ([{"trade_id": "T4"}], "keys must be"),
    ([42], "report #1 is a int"),
])
def test_malformed_submission_rejected_whole(bad, needle):
    # member 4 trades with 1; its submission is malformed: 1's report names a rejected member
    subs = with_extra(1, TradeReport("T4", 0, SELL, 1, 1, 4))
    if isinstance(bad, list):
        bad = [TradeReport("ok", 0, BUY, 1, 1, 2), *bad]  # a good report is rejected too
        subs[2].append(TradeReport("ok", 0, SELL, 1, 1, 4))
    subs[4] = bad
    r = match(subs, members={1, 2, 3, 4}, n_slots=8)
    assert set(r.accepted) == EXAMPLE_TRADES
    reasons = [(rj.member, rj.reason) for rj in r.rejected]
    assert (4, Reason.MALFORMED) in reasons
    assert (1, Reason.COUNTERPARTY_REJECTED) in reasons
    mal = next(rj for rj in r.rejected if rj.reason is Reason.MALFORMED)
    assert mal.trade_id is None
    assert "member 4: whole submission rejected as malformed" in mal.message
    assert needle in mal.message
    assert len(r.rejected) == (3 if isinstance(bad, list) else 2)


@pytest.mark.parametrize("key", ["1", None, (1,), 2.5])
def test_submission_under_a_non_slot_key(key):
    subs = example() | {key: [TradeReport("Q", 0, BUY, 1, 1, 2)]}
    r = match(subs)
    assert set(r.accepted) == EXAMPLE_TRADES
    assert [(rj.member, rj.reason) for rj in r.rejected] == [(key, Reason.NOT_A_MEMBER)]


def test_bad_configuration_raises():
    with pytest.raises(TradeError, match="member slots must be ints in"):
        match(example(), members={1, 2, 9})
    with pytest.raises(TradeError, match="n_instruments must be a positive int"):
        match(example(), n_instruments=0)
    with pytest.raises(TradeError, match="n_slots must be at least 2"):
        match({}, n_slots=1, members=set())
    assert issubclass(TradeError, ZkclearError) and issubclass(TradeError, ValueError)


# --------------------------------------------------------------------------- columnar path


def test_columnar_refusals_name_the_row():
    ok = dict(buyer=[1, 2], seller=[2, 1], instrument=[0, 1], size=[1, 2], price=[3, 4])

    def run(**over):
        return net_columnar(**(ok | over), n_slots=N, n_instruments=M)

    assert run().notional_cash == [0, 5, -5, 0]
    for over, needle in [
        (dict(buyer=[1, 0]), "row 1: buyer 0 is not a trading slot 1..3"),
        (dict(seller=[4, 1]), "row 0: seller 4 is not a trading slot"),
        (dict(instrument=[0, 2]), "row 1: instrument 2 is not an instrument 0..1"),
        (dict(size=[0, 2]), "row 0: size 0 is outside 1 <= size < 2^48"),
        (dict(size=np.array([1, 2**48], np.uint64)), "row 1: size 281474976710656"),
        (dict(price=[3, 2**48]), "row 1: price 281474976710656 is outside"),
        (dict(price=np.array([3, 2**64 - 1], np.uint64)), "row 1: price 18446744073709551615"),
        (dict(seller=[1, 1]), "row 0: buyer and seller are both slot 1"),
        (dict(size=[1.0, 2.0]), "size must be an integer array, got dtype float64"),
        (dict(price=[3, 4, 5]), "differ in length"),
        (dict(buyer=[[1, 2]]), "buyer must be a 1-D array"),
    ]:
        with pytest.raises(TradeError) as e:
            run(**over)
        assert needle in str(e.value), (over, str(e.value))


def test_columnar_empty():
    n = net_columnar([], [], [], [], [], n_slots=N, n_instruments=M)
    assert n.delta == [[0, 0]] * N and n.notional_cash == [0] * N and n.traded == frozenset()


# --------------------------------------------------------------------------- exactness


def ring(rounds: int, lo: int = 1, hi: int = TOP, size: int = TOP):
    """Slots 1 -> 2 -> 3 -> 1 pass `size` lots around: deltas net to 0, cash piles up.

    Slot 1 buys from 2 at `lo`, 2 buys from 3 at `lo`, 3 buys from 1 at `hi`, per round.
    """
    buyer = np.tile(np.array([1, 2, 3]), rounds)
    seller = np.tile(np.array([2, 3, 1]), rounds)
    price = np.tile(np.array([lo, lo, hi]), rounds)
    return buyer, seller, np.zeros(3 * rounds, np.int64), np.full(3 * rounds, size), price


def test_exact_far_beyond_int64_and_float():
    rounds = 2**17  # slot 1 ends with cash ~ 2^17 * 2^96 = 2^113
    b, s, m, q, p = ring(rounds)
    n = net_columnar(b, s, m, q, p, n_slots=N, n_instruments=1)
    gain = rounds * TOP * (TOP - 1)
    assert n.notional_cash == [0, gain, 0, -gain]
    assert gain > 2**112
    assert n.delta == [[0]] * N
    assert n.trade_cash([12345]) == n.notional_cash  # flat positions: no settlement term


@pytest.mark.parametrize("chunk", [1, 7, 1000])
def test_chunking_does_not_change_the_result(chunk):
    rng = np.random.default_rng(chunk)
    t = 3000
    b = rng.integers(1, 8, t)
    s = (b + rng.integers(0, 6, t)) % 7 + 1  # != b
    m = rng.integers(0, 3, t)
    q = rng.integers(1, 2**40, t)
    p = rng.integers(2**47, 2**48, t)
    whole = net_columnar(b, s, m, q, p, n_slots=8, n_instruments=3)
    chunked = net_columnar(b, s, m, q, p, n_slots=8, n_instruments=3, chunk=chunk)
    assert whole == chunked
    ref = net_reference((MatchedTrade(k, *row) for k, row in enumerate(
        zip(m.tolist(), b.tolist(), s.tolist(), q.tolist(), p.tolist(), strict=True))), 8, 3)
    assert (whole.delta, whole.notional_cash) == ref
    prices = [2**48 - 3, 1, 2**40]
    m_ref = [MatchedTrade(k, *row) for k, row in enumerate(
        zip(m.tolist(), b.tolist(), s.tolist(), q.tolist(), p.tolist(), strict=True))]
    assert whole.trade_cash(prices) == net_reference(m_ref, 8, 3, prices)[1]


def test_netted_delta_bounds_edge_and_error_names_the_slot():
    # slot 1 sells 2^48 - 1 lots to slot 2 and 1 lot to slot 3: delta -2^48, the lowest legal
    b, s, m, q, p = [2, 3], [1, 1], [1, 1], [TOP, 1], [5, 5]
    n = net_columnar(b, s, m, q, p, n_slots=N, n_instruments=M)
    assert n.delta[1] == [0, -(2**48)] and n.delta[2] == [0, TOP]
    # one more lot from slot 1: -2^48 - 1
    with pytest.raises(NettingBoundError) as e:
        net_columnar([*b, 3], [*s, 1], [*m, 1], [*q, 1], [*p, 5], n_slots=N, n_instruments=M)
    err = e.value
    assert (err.slot, err.instrument, err.quantity, err.value) == (1, 1, "delta", -(2**48) - 1)
    assert "netted delta of slot 1 (instrument 1)" in str(err)
    assert isinstance(err, BoundError) and isinstance(err, ZkclearError)
    # slot 2 buys one more lot: +2^48
    with pytest.raises(NettingBoundError, match="slot 2 \\(instrument 1\\) = 281474976710656"):
        net_columnar([2, 2], [1, 3], [1, 1], [TOP, 1], [5, 5], n_slots=N, n_instruments=M)


def test_netted_delta_far_out_of_bounds_reports_the_exact_value():
    t = 2**17
    with pytest.raises(NettingBoundError) as e:
        net_columnar(np.full(t, 3), np.full(t, 2), np.zeros(t, np.int64), np.full(t, TOP),
                     np.full(t, 1), n_slots=N, n_instruments=1)
    assert (e.value.slot, e.value.value) == (2, -t * TOP)


def test_netted_cash_bound_names_the_slot(monkeypatch):
    # Reaching 2^120 needs > 2^24 maximal trades; check the same code path at 2^100.
    monkeypatch.setattr(bounds, "CASH", SignedRange(100))
    b, s, m, q, p = ring(2**5)  # slot 1: 2^5 * (2^48-1) * (2^48-2) >= 2^100
    with pytest.raises(NettingBoundError) as e:
        net_columnar(b, s, m, q, p, n_slots=N, n_instruments=1)
    assert (e.value.slot, e.value.instrument, e.value.quantity) == (1, None, "notional cash")
    assert e.value.value == 2**5 * TOP * (TOP - 1)
    assert "netted notional cash of slot 1 (all instruments)" in str(e.value)
    assert "2^100" in str(e.value)
    net_columnar(*ring(2**3), n_slots=N, n_instruments=1)  # 2^99.x: fine


def test_settlement_cash_bound_names_the_slot(monkeypatch):
    monkeypatch.setattr(bounds, "CASH", SignedRange(90))
    # slot 2 buys 2^48 - 1 lots at 1 tick: notional tiny, P&L at P_e = 2^48 - 1 is ~2^96
    n = net([MatchedTrade("t", 0, 2, 1, TOP, 1)], N, 1)
    assert n.notional_cash == [0, TOP, -TOP, 0]
    with pytest.raises(NettingBoundError) as e:
        n.trade_cash([TOP])
    assert (e.value.slot, e.value.quantity, e.value.value) == (1, "tradeCash", -TOP * (TOP - 1))
    with pytest.raises(NettingBoundError, match="netted tradeCash of slot 1"):
        reports_from_netting(n, [TOP])


# --------------------------------------------------------------------------- properties

big = st.one_of(st.integers(1, 1000), st.integers(TOP - 2**10, TOP), st.integers(1, TOP))


@st.composite
def trade_sets(draw, n_slots=6, n_instruments=3, max_size=40):
    rows = draw(st.lists(st.tuples(st.integers(1, n_slots - 1), st.integers(1, n_slots - 2),
                                   st.integers(0, n_instruments - 1), big, big),
                         max_size=max_size))
    # seller: any slot other than the buyer
    return [MatchedTrade(k, m, b, s if s < b else s + 1, q, p)
            for k, (b, s, m, q, p) in enumerate(rows)]


@st.composite
def round_trips(draw, n_slots=6, n_instruments=3, max_size=20):
    """Trades each followed by its reverse at another price: positions stay in bounds
    however large the sizes, cash piles up to ~2^96 per trade."""
    trades = draw(trade_sets(n_slots, n_instruments, max_size))
    out = []
    for t in trades:
        back = draw(big)
        out += [t, MatchedTrade(f"{t.trade_id}r", t.instrument, t.seller, t.buyer, t.size, back)]
    return out


def expected_error(delta, cash):
    for i, row in enumerate(delta):
        for m, d in enumerate(row):
            if not bounds.DELTA.contains(d):
                return (i, m, "delta", d)
    for i, c in enumerate(cash):
        if not bounds.CASH.contains(c):
            return (i, None, "notional cash", c)
    return None


@settings(max_examples=300, deadline=None)
@given(st.one_of(trade_sets(), round_trips()), st.lists(big, min_size=3, max_size=3))
def test_netting_equals_reference_and_conserves(trades, prices):
    delta, cash = net_reference(trades, 6, 3)
    for m in range(3):
        assert sum(row[m] for row in delta) == 0
    assert sum(cash) == 0
    err = expected_error(delta, cash)
    if err is not None:
        with pytest.raises(NettingBoundError) as e:
            net(trades, 6, 3)
        assert (e.value.slot, e.value.instrument, e.value.quantity, e.value.value) == err
        return
    n = net(trades, 6, 3)
    assert (n.delta, n.notional_cash) == (delta, cash)
    assert n.traded == {t.buyer for t in trades} | {t.seller for t in trades}
    for m in range(3):
        assert sum(row[m] for row in n.delta) == 0
    assert sum(n.notional_cash) == 0
    settle = net_reference(trades, 6, 3, prices)[1]
    assert n.trade_cash(prices) == settle
    assert sum(settle) == 0
    cols = [np.array([getattr(t, f) for t in trades], np.int64)
            for f in ("buyer", "seller", "instrument", "size", "price")]
    assert net_columnar(*cols, n_slots=6, n_instruments=3, chunk=5) == n
    reports = reports_from_netting(n, prices)
    for slot, rep in reports.items():
        assert rep.delta == tuple(delta[slot]) and rep.trade_cash == settle[slot]
    assert all(i in reports or (not any(delta[i]) and settle[i] == 0) for i in range(6))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 5), st.integers(1, 4), st.integers(0, 2),
                          st.integers(1, 2**30), st.integers(1, TOP)), max_size=25))
def test_in_bound_trade_sets_match_and_net_like_the_reference(rows):
    trades = [MatchedTrade(f"t{k}", m, b, s if s < b else s + 1, q, p)
              for k, (b, s, m, q, p) in enumerate(rows)]
    subs: dict[int, list[TradeReport]] = {i: [] for i in range(1, 6)}
    for t in trades:
        subs[t.buyer].append(TradeReport(t.trade_id, t.instrument, BUY, t.size, t.price,
                                         t.seller))
        subs[t.seller].append(TradeReport(t.trade_id, t.instrument, SELL, t.size, t.price,
                                          t.buyer))
    r = match(subs, members=range(1, 6), n_slots=6, n_instruments=3)
    assert r.rejected == []
    assert sorted(r.accepted, key=lambda t: t.trade_id) == sorted(trades,
                                                                   key=lambda t: t.trade_id)
    n = net(r.accepted, 6, 3)
    assert (n.delta, n.notional_cash) == net_reference(trades, 6, 3)


CORRUPTIONS = ["drop", "price", "size", "instrument", "same_side", "self", "house",
               "non_member", "unknown_instrument", "size_zero", "price_big", "duplicate",
               "wrong_counterparty", "malformed_submission"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(1, 4), st.integers(1, 3), st.integers(0, 1),
                          st.integers(1, 10**6), st.integers(1, 10**6)), max_size=15),
       st.lists(st.tuples(st.integers(1, 4), st.integers(1, 3), st.sampled_from(CORRUPTIONS),
                          st.booleans()), max_size=8),
       st.randoms(use_true_random=False))
def test_rejections_do_not_affect_other_trades(clean_rows, bad_rows, rnd):
    """Clean trades among slots 1..4 plus corrupted ones: exactly the clean ones clear.

    Slot 5 is a member without clean trades (its submission may be malformed), slot 6
    exists but is not a member.
    """
    members = range(1, 6)
    clean = [MatchedTrade(f"c{k}", m, b, s if s < b else s + 1, q, p)
             for k, (b, s, m, q, p) in enumerate(clean_rows)]
    subs: dict[int, list] = {i: [] for i in range(1, 6)}
    for t in clean:
        rb, rs = pair(t.trade_id, t.buyer, t.seller, t.instrument, t.size, t.price)
        subs[t.buyer].append(rb)
        subs[t.seller].append(rs)
    for k, (b, s, how, first) in enumerate(bad_rows):
        tid = f"x{k}"
        if how == "malformed_submission":
            # slot 5's whole submission is malformed; b's report of a trade with 5 fails
            subs[5].append(TradeReport(tid, 1, SELL, "3", 7, b))
            subs[b].append(TradeReport(tid, 1, BUY, 3, 7, 5))
            continue
        s = s if s < b else s + 1
        rb, rs = pair(tid, b, s, m=1, size=3, price=7)
        me, mine, other, theirs = (b, rb, s, rs) if first else (s, rs, b, rb)
        third = next(x for x in range(1, 5) if x not in (b, s))
        change = {"price": {"price": 8}, "size": {"size": 4}, "instrument": {"instrument": 0},
                  "same_side": {"side": -mine.side}, "self": {"counterparty": me},
                  "house": {"counterparty": 0}, "non_member": {"counterparty": 6},
                  "unknown_instrument": {"instrument": 2}, "size_zero": {"size": 0},
                  "price_big": {"price": 2**48},
                  "wrong_counterparty": {"counterparty": third}}.get(how, {})
        altered = replace(mine, **change)
        if how != "drop":
            subs[me].append(altered)
        if how == "duplicate":
            subs[me].append(altered)
        subs[other].append(theirs)
    for v in subs.values():
        rnd.shuffle(v)
    r = match(subs, members=members, n_slots=7, n_instruments=2)
    assert sorted(r.accepted, key=lambda t: t.trade_id) == sorted(clean,
                                                                   key=lambda t: t.trade_id)
    # every corrupted report is rejected (a rejected submission counts all its reports)
    assert all(rj.trade_id is None or str(rj.trade_id).startswith("x") for rj in r.rejected)
    whole = [rj for rj in r.rejected if rj.trade_id is None]
    assert all(rj.member == 5 and rj.reason is Reason.MALFORMED for rj in whole)
    n_bad = sum(len(v) for v in subs.values()) - 2 * len(clean)
    assert len(r.rejected) - len(whole) + sum(len(subs[rj.member]) for rj in whole) == n_bad
    n = net(r.accepted, 7, 2)
    assert (n.delta, n.notional_cash) == net_reference(clean, 7, 2)


def test_reports_clear_through_the_epoch_engine():
    """The example's reports in a real epoch: each member's collateral moves by exactly
    its trades' P&L against the settlement prices, and positions become the netted ones."""
    from zkclear.clearing.epoch import run_epoch
    from zkclear.clearing.events import Event, Kind
    from zkclear.clearing.params import PoolConfig, RiskParams
    from zkclear.clearing.state import PoolState

    cfg = PoolConfig(N, M, 2)
    params = RiskParams.symmetric(M, [1000], im_factor_bp=15_000, penalty_bp=1_000)
    r = match(example())
    reports = reports_from_netting(net(r.accepted, N, M), PE, {1: 11, 2: 22, 3: 33})
    from .helpers import committed, keys_of, registered

    events = registered(MEMBERS)
    events += [Event(Kind.DEPOSIT, i, 10**6) for i in MEMBERS]
    events += committed(reports, 1)
    res = run_epoch(PoolState.genesis(cfg, PE), params, PE, events, reports,
                    view_keys=keys_of(reports))
    assert [lf.collateral for lf in res.new.leaves] == [0, 10**6 + 32, 10**6 - 70, 10**6 + 38]
    assert [list(lf.positions) for lf in res.new.leaves] == [[0, 0], [6, 0], [-10, 5],
                                                             [4, -5]]
    assert res.total_collateral == 3 * 10**6
