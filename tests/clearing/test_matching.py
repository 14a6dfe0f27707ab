"""The vectorised matcher (clearing/matching.py) equals the reference
(intake.match_trades_reference): same accepted trades, same rejections, same order."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest

from zkclear.clearing.matching import match_columnar
from zkclear.clearing.trades import (
    BUY,
    SELL,
    MatchedTrade,
    Reason,
    TradeError,
    TradeReport,
    match_trades,
    match_trades_reference,
    net_columnar,
    net_reference,
)

#: The reasons matching itself gives (the others come from the rules, later).
MATCH_REASONS = {Reason.MALFORMED, Reason.NOT_A_MEMBER, Reason.DUPLICATE_ID,
                 Reason.UNKNOWN_INSTRUMENT, Reason.SIZE_OUT_OF_BOUNDS,
                 Reason.PRICE_OUT_OF_BOUNDS, Reason.SELF_TRADE, Reason.HOUSE_COUNTERPARTY,
                 Reason.UNKNOWN_COUNTERPARTY, Reason.UNMATCHED, Reason.CONTRADICTORY,
                 Reason.COUNTERPARTY_REJECTED}

BAD_VALUES = {  # field -> values that are rejected per report (not malformed)
    "instrument": [-1, 3, 2**80],
    "size": [0, -4, 2**48, 2**70],
    "price": [0, -1, 2**48, 2**90],
    "counterparty": [0, -5, 9, 2**70],
}
MALFORMED_VALUES = [1.0, None, True, "3", b"x", 2.5]
FIELDS = ("trade_id", "instrument", "side", "size", "price", "counterparty")


def both(a: Any, b: Any, **kw: Any) -> None:
    """match_trades and the reference agree on everything they return."""
    fast = match_trades(a, **kw)
    ref = match_trades_reference(b, **kw)
    assert fast.accepted == ref.accepted
    assert [type(t.trade_id) for t in fast.accepted] == [type(t.trade_id) for t in ref.accepted]
    assert fast.rejected == ref.rejected
    return fast


def random_case(rnd: random.Random) -> tuple[dict[Any, list[Any]], dict[str, Any]]:
    n_slots = rnd.randint(2, 7)
    n_inst = rnd.randint(1, 3)
    members = {s for s in range(n_slots) if rnd.random() < 0.8}
    ids: list[Any] = [0, 1, 2, 3, "0", "1", "a", 2**70, -(2**63), 2**63 - 1]
    subs: dict[Any, list[Any]] = {s: [] for s in range(n_slots) if rnd.random() < 0.9}
    traders = sorted(subs) or [1]
    for _ in range(rnd.randint(0, 14)):
        a, b = rnd.choice(traders), rnd.randint(0, n_slots - 1)
        tid = rnd.choice(ids[:rnd.choice((4, 7, 10))])
        m, q, p = rnd.randrange(n_inst), rnd.randint(1, 3), rnd.randint(1, 3)
        side = rnd.choice((BUY, SELL))
        ra = [tid, m, side, q, p, b]
        rb = [tid, m, -side, q, p, a]
        for r in (ra, rb):
            roll = rnd.random()
            if roll < 0.15:  # contradict one field
                f = rnd.randrange(1, 5)
                r[f] = -r[f] if f == 2 else r[f] + 1
            elif roll < 0.25:
                f = rnd.choice(list(BAD_VALUES))
                r[FIELDS.index(f)] = rnd.choice(BAD_VALUES[f])
            elif roll < 0.28:
                r[5] = a if r is ra else b  # self-trade
        subs.setdefault(a, []).append(TradeReport(*ra))
        if rnd.random() < 0.85:  # else one-sided
            subs.setdefault(b, []).append(TradeReport(*rb))
    for s in list(subs):
        roll = rnd.random()
        if roll < 0.06 and subs[s]:  # a malformed report
            k = rnd.randrange(len(subs[s]))
            f = rnd.randrange(6)
            vals = list(vars_of(subs[s][k]))
            vals[f] = rnd.choice(MALFORMED_VALUES if f else [1.5, None, True, b"7"])
            subs[s][k] = TradeReport(*vals)
        elif roll < 0.09 and subs[s]:  # a side other than +-1
            k = rnd.randrange(len(subs[s]))
            subs[s][k] = TradeReport(*[*vars_of(subs[s][k])[:2], rnd.choice((0, 2, -3)),
                                       *vars_of(subs[s][k])[3:]])
        elif roll < 0.15:  # other input forms: tuples, mappings, numpy ints
            subs[s] = [tuple(vars_of(r)) if rnd.random() < 0.5
                       else dict(zip(FIELDS, vars_of(r), strict=True))
                       for r in subs[s]]
        elif roll < 0.2:
            subs[s] = [TradeReport(*(np.int64(v) if type(v) is int and abs(v) < 2**62
                                     else v for v in vars_of(r))) for r in subs[s]]
    if rnd.random() < 0.1:
        subs[rnd.choice(["x", n_slots + 3, -1])] = []
    if rnd.random() < 0.1 and subs:
        subs[rnd.choice(list(subs))] = rnd.choice(["not reports", 7, {"a": 1}])  # type: ignore[assignment]
    return subs, {"n_slots": n_slots, "n_instruments": n_inst, "members": members}


def vars_of(r: Any) -> list[Any]:
    return [r.trade_id, r.instrument, r.side, r.size, r.price, r.counterparty]


def test_equal_to_the_reference_on_random_inputs_with_every_reason():
    rnd = random.Random(17)
    seen: set[Reason] = set()
    accepted = 0
    for _ in range(1500):
        subs, kw = random_case(rnd)
        r = both(subs, subs, **kw)
        seen |= {rj.reason for rj in r.rejected}
        accepted += len(r.accepted)
    assert seen == MATCH_REASONS
    assert accepted > 300  # and plenty of trades get through


def columnar_of(subs: dict[int, list[TradeReport]], rnd: random.Random) -> list[np.ndarray]:
    """Rows of every member, members interleaved but each in its own report order."""
    queue = [(s, r) for s in subs for r in subs[s]]
    rows, heads = [], {s: 0 for s in subs}
    while queue:
        s = rnd.choice(sorted({s for s, _ in queue}))
        rows.append((s, *vars_of(subs[s][heads[s]])))
        heads[s] += 1
        queue.remove(next(q for q in queue if q[0] == s))
    return [np.array([row[f] for row in rows], np.int64) for f in range(7)]


def test_columnar_matcher_equals_the_object_matcher():
    rnd = random.Random(5)
    for _ in range(400):
        n_slots = rnd.randint(2, 6)
        members = {s for s in range(n_slots) if rnd.random() < 0.8}
        subs: dict[int, list[TradeReport]] = {}
        for _ in range(rnd.randint(0, 12)):
            a, b = rnd.randint(0, n_slots), rnd.randint(0, n_slots)
            tid, m, q, p = rnd.randint(0, 4), rnd.randint(0, 2), rnd.randint(0, 2), 5
            side = rnd.choice((BUY, SELL, BUY, SELL, 2))
            subs.setdefault(a, []).append(TradeReport(tid, m, side, q, p, b))
            if rnd.random() < 0.8:
                subs.setdefault(b, []).append(
                    TradeReport(tid, m, -side if rnd.random() < 0.9 else side, q,
                                p + (rnd.random() < 0.1), a))
        kw = {"n_slots": n_slots, "n_instruments": 2, "members": members}
        ref = match_trades_reference(subs, **kw)
        cols = match_columnar(*columnar_of(subs, rnd), **kw)
        assert cols.trades() == ref.accepted
        assert cols.rejected == ref.rejected


# --------------------------------------------------------------------------- hand-written


def test_pairs_accepted_in_order_of_the_lower_slot_then_its_reports():
    subs = {3: [TradeReport("y", 0, SELL, 1, 9, 1), TradeReport(5, 1, BUY, 2, 3, 2)],
            1: [TradeReport(8, 0, BUY, 4, 4, 2), TradeReport("y", 0, BUY, 1, 9, 3)],
            2: [TradeReport(5, 1, SELL, 2, 3, 3), TradeReport(8, 0, SELL, 4, 4, 1)]}
    r = both(subs, subs, n_slots=4, n_instruments=2, members={1, 2, 3})
    assert r.accepted == [MatchedTrade(8, 0, 1, 2, 4, 4), MatchedTrade("y", 0, 1, 3, 1, 9),
                          MatchedTrade(5, 1, 3, 2, 2, 3)]
    assert r.rejected == []


def test_counterparty_rejected_names_the_first_rejected_report_naming_the_member():
    subs = {1: [TradeReport(7, 0, BUY, 1, 1, 2)],
            2: [TradeReport(7, 0, SELL, 1, 1, 3), TradeReport(7, 0, SELL, 0, 1, 1)],
            3: [TradeReport(4, 0, BUY, 1, 2**70, 1)],
            4: "nonsense"}
    subs[1].append(TradeReport(4, 0, SELL, 1, 2**70, 3))
    subs[1].append(TradeReport(6, 0, SELL, 1, 1, 4))
    r = both(subs, subs, n_slots=5, n_instruments=1, members={1, 2, 3, 4})
    assert [(rj.member, rj.trade_id, rj.reason) for rj in r.rejected] == [
        (1, 7, Reason.COUNTERPARTY_REJECTED), (1, 4, Reason.PRICE_OUT_OF_BOUNDS),
        (1, 6, Reason.COUNTERPARTY_REJECTED), (2, 7, Reason.DUPLICATE_ID),
        (2, 7, Reason.DUPLICATE_ID), (3, 4, Reason.PRICE_OUT_OF_BOUNDS), (4, None,
                                                                         Reason.MALFORMED)]
    assert "duplicate trade id" in r.rejected[0].message
    assert "whole submission was rejected (malformed submission)" in r.rejected[2].message
    assert "price 1180591620717411303424 is outside" in r.rejected[1].message


def test_partner_naming_someone_else_and_contradictions_reject_both_sides():
    subs = {1: [TradeReport("t", 0, BUY, 1, 1, 2), TradeReport("u", 0, BUY, 2, 5, 3)],
            2: [TradeReport("t", 0, SELL, 1, 1, 3)],
            3: [TradeReport("u", 1, BUY, 3, 5, 1)]}
    r = both(subs, subs, n_slots=4, n_instruments=2, members={1, 2, 3})
    assert r.accepted == []
    msgs = [rj.message for rj in r.rejected]
    assert msgs[0] == "member 1, trade 't': member 2's trade 't' names counterparty 3, not 1"
    assert msgs[1] == msgs[3] == ("trade 'u' between members 1 and 3: instrument 0 (member 1) "
                                  "vs 1 (member 3); size 2 (member 1) vs 3 (member 3); "
                                  "both report side buy")
    assert msgs[2] == "member 2, trade 't': member 3 did not report this trade"


def test_int_and_str_ids_and_ids_beyond_int64_stay_distinct():
    big = 2**64 + 7
    subs = {1: [TradeReport(7, 0, BUY, 1, 1, 2), TradeReport(big, 0, BUY, 1, 1, 2)],
            2: [TradeReport("7", 0, SELL, 1, 1, 1), TradeReport(big, 0, SELL, 1, 1, 1)]}
    r = both(subs, subs, n_slots=3, n_instruments=1, members={1, 2})
    assert r.accepted == [MatchedTrade(big, 0, 1, 2, 1, 1)]
    assert [rj.trade_id for rj in r.rejected] == [7, "7"]


def test_malformed_input_gives_the_references_clear_errors():
    subs = {1: [TradeReport(1, 0, BUY, 1.0, 1, 2)], 2: [(1, 0, SELL, 1, 1)],
            3: [{"trade_id": 1}], 4: [TradeReport(1, 0, 0, 1, 1, 3)], "x": [], 0: []}
    r = both(subs, subs, n_slots=5, n_instruments=1, members={1, 2, 3, 4})
    assert [rj.message for rj in r.rejected] == [
        "submission from 0 rejected: the house, which never trades",
        "member 1: whole submission rejected as malformed: report #0: size must be an "
        "int, got float 1.0",
        "member 2: whole submission rejected as malformed: report #0: expected 6 fields "
        "(trade_id, instrument, side, size, price, counterparty), got 5",
        "member 3: whole submission rejected as malformed: report #0: keys must be "
        "trade_id, instrument, side, size, price, counterparty; got trade_id",
        "member 4: whole submission rejected as malformed: report #0: side must be +1 "
        "(buy) or -1 (sell), got 0",
        "submission from 'x' rejected: not a member slot"]
    with pytest.raises(TradeError, match="n_slots must be at least 2"):
        match_trades({}, n_slots=1, n_instruments=1, members=())
    with pytest.raises(TradeError, match="member slots must be ints"):
        match_trades({}, n_slots=3, n_instruments=1, members={5})


def test_empty_and_all_rejected_inputs():
    kw = {"n_slots": 3, "n_instruments": 1, "members": {1, 2}}
    assert both({}, {}, **kw).accepted == []
    assert both({1: [], 2: ()}, {1: [], 2: ()}, **kw).rejected == []
    r = match_columnar(*([np.zeros(0, np.int64)] * 7), **kw)
    assert r.trades() == [] and r.rejected == [] and len(r.buyer) == 0


def test_columnar_refuses_bad_columns():
    one = np.ones(1, np.int64)
    kw = {"n_slots": 3, "n_instruments": 1, "members": {1, 2}}
    with pytest.raises(TradeError, match="differ in length"):
        match_columnar(one, one, one, one, one, one, np.ones(2, np.int64), **kw)
    with pytest.raises(TradeError, match="1-D integer array"):
        match_columnar(one, one * 1.0, one, one, one, one, one, **kw)


def test_columnar_match_then_net_equals_the_reference():
    rnd = np.random.default_rng(3)
    n, slots = 2000, 9
    buyer = rnd.integers(1, slots, n)
    seller = (buyer - 1 + rnd.integers(1, slots - 1, n)) % (slots - 1) + 1
    inst, size, price = rnd.integers(0, 3, n), rnd.integers(1, 2**40, n), rnd.integers(1, 2**48, n)
    tid = np.arange(n)
    cols = [np.concatenate(pair) for pair in ((buyer, seller), (tid, tid), (inst, inst),
                                              (np.ones(n, np.int64), -np.ones(n, np.int64)),
                                              (size, size), (price, price), (seller, buyer))]
    kw = {"n_slots": slots, "n_instruments": 3, "members": range(1, slots)}
    m = match_columnar(*cols, **kw)
    assert m.rejected == [] and len(m.buyer) == n
    netted = net_columnar(*m.columns(), n_slots=slots, n_instruments=3)
    assert (netted.delta, netted.notional_cash) == net_reference(m.trades(), slots, 3)
